"""The chain of people who hear of a case and the alerts queued for them (used by
``services.cases.routing`` and ``services.cases.nocontact``; see routing's docstring)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db import queries
from db.cases import Case, DutyEntry, duty_roster
from db.models import Officer, Outbox, Unit
from db.outbox import enqueue
from kernel.clock import to_local
from services.cases import texts
from services.cases.config import config
from services.cases.hotlines import in_office_hours
from services.cases.parsers import COMMUNE_KINDS
from services.scope import answering_for

KIND = "case"
OFFICER = "officer"  # an officer who answers for the commune (not on the roster)
AGENCY = "agency"  # admins above the commune: the standing agency first
URGENT_FORMS = ("sexual", "trafficking")


@dataclass(frozen=True)
class Recipient:
    role: str  # a DutyEntry role, OFFICER or AGENCY
    officer: Officer


@dataclass
class Reach:
    """Who was told of a case: the roles in the order they were alerted, and the rows."""

    roles: list[str] = field(default_factory=list)
    rows: int = 0

    @property
    def nobody(self) -> bool:
        return self.rows == 0


def is_urgent(case: Case) -> bool:
    """Danger now, a child victim, sexual violence or trafficking."""
    return (
        bool(case.danger_now)
        or case.age_group == "u16"
        or any(f in case.forms for f in URGENT_FORMS)
    )


def shift_now(now: datetime) -> str:
    """``day`` within office hours, else ``night``."""
    local = to_local(now, config().timezone)
    return "day" if in_office_hours(local.replace(tzinfo=None), config().office_hours) else "night"


async def roster_now(s: AsyncSession, unit: Unit, now: datetime) -> list[DutyEntry]:
    """The commune's roster entries for the current shift, in order."""
    assert unit.id is not None
    shift = shift_now(now)
    return [e for e in await duty_roster(s, unit.id) if e.shift in ("any", shift)]


async def level0(s: AsyncSession, unit: Unit, now: datetime) -> list[Recipient]:
    """The roster's people on duty now, in order, then the other officers answering for the
    unit. Someone on the roster is alerted only in their shift."""
    assert unit.id is not None
    out: list[Recipient] = []
    on_roster = {e.officer_id for e in await duty_roster(s, unit.id) if e.officer_id}
    for entry in await roster_now(s, unit, now):
        if entry.officer_id is None:
            continue
        officer = await s.get(Officer, entry.officer_id)
        if officer is not None and officer.active:
            out.append(Recipient(entry.role, officer))
    for officer in await answering_for(s, unit):
        if officer.id in on_roster:
            continue
        # Above the communes (a place not known: the top of the tree) admins are the agency.
        above = officer.role == "admin" and unit.kind not in COMMUNE_KINDS
        out.append(Recipient(AGENCY if above else OFFICER, officer))
    return out


async def chain(s: AsyncSession, unit: Unit, now: datetime) -> list[list[Recipient]]:
    """Level 0 (roster, then the commune's officers); then the admins answering for each
    ancestor that has some, nearest first."""
    levels = [await level0(s, unit, now)]
    for anc in await queries.ancestors(s, unit):
        admins = [Recipient(AGENCY, o) for o in await answering_for(s, anc, admins_only=True)]
        if admins:
            levels.append(admins)
    return levels


async def notify(
    s: AsyncSession,
    case: Case,
    unit: Unit,
    recipients: list[Recipient],
    *,
    event: str,
    key: str,
    now: datetime,
    skip_officer: int | None = None,
    params: dict[str, str] | None = None,
    **extra: str | int,
) -> int:
    """Queue the alert ``key`` for every messenger account of the recipients (each officer
    once, under the first role they appear with); returns the rows written."""
    written = 0
    seen: set[int] = set()
    for rcp in recipients:
        officer = rcp.officer
        if officer.id is None or officer.id in seen or officer.id == skip_officer:
            continue
        seen.add(officer.id)
        for acc in await queries.officer_accounts(s, officer.id):
            if acc.unreachable:
                continue
            text = texts.alert(acc.lang, key, case, unit, **(params or {}), **extra)
            if await enqueue(
                s,
                key=f"case:{case.code}:{event}:acc:{acc.id}",
                account=acc,
                text=text,
                kind=KIND,
                now=now,
                unit_id=unit.id,
                batch=f"case:{case.code}:{rcp.role}"[:64],
            ):
                written += 1
    return written


async def reach(s: AsyncSession, case: Case) -> Reach:
    """Who was told of the case, from the outbox rows actually queued (not cancelled)."""
    if case.code is None:
        return Reach()
    rows = (
        await s.exec(
            select(Outbox.batch)
            .where(
                Outbox.kind == KIND,
                col(Outbox.key).startswith(f"case:{case.code}:"),
                Outbox.status != "cancelled",
            )
            .order_by(col(Outbox.id))
        )
    ).all()
    roles: list[str] = []
    for batch in rows:
        role = (batch or "").rsplit(":", 1)[-1]
        if role and role not in roles:
            roles.append(role)
    return Reach(roles=roles, rows=len(rows))
