"""What an officer does with a case, whether from the chat (``/vuviec``) or the web desk's
cases board: who may touch it, reading its protected fields, acknowledging, changing the
status, adding a note, assigning it. Both front ends call these functions, so the checks, the
history rows, the audit rows and the messages queued in the outbox are the same.

Every function here checks nothing about *how* the officer asked; the caller has checked the
scope with ``authorised`` first (the functions re-check it where a mistake would leak).
Audit rows carry the officer and the account the request came through (the messenger account
in the chat, the account the web session was opened from on the desk); never a case detail.

The reporter is not messaged when the status changes: a case stores only an HMAC tag of the
reporter's account (docs/cases.md, "who can see what"), so nobody — the bot included — can
find the account from the case. The reporter sees the new status when they ask
(``/vuviec VV-…``), and the answer is read from the same row these functions update.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.cases import (
    ACKNOWLEDGED,
    CLOSED,
    DRAFT,
    INTERVENED_STATUSES,
    NEW,
    STATUSES,
    Case,
    CaseEvent,
)
from db.crypto import CryptoError
from db.models import AuditLog, Officer, Unit
from services.cases import routing
from services.cases.alerts import OFFICER, Recipient, notify
from services.cases.config import keyring
from services.forms.parsers import fold
from services.scope import scope_of

log = logging.getLogger("bdg.cases")

NOTE_MAX = 1000
UNDECRYPTABLE = object()  # a stored text no key of this process opens


@dataclass(frozen=True)
class Actor:
    """The officer acting, their unit, the account the request came through, and when."""

    officer: Officer
    unit: Unit
    account_id: int | None
    now: datetime


class ActionRefused(Exception):
    """A move the case cannot make; ``key`` is the catalog key of the reason."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def audit(
    s: AsyncSession,
    actor: Actor,
    action: str,
    target: str | None = None,
    *,
    outcome: str = "ok",
    detail: str | None = None,
) -> None:
    s.add(
        AuditLog(
            at=actor.now,
            officer_id=actor.officer.id,
            account_id=actor.account_id,
            action=action,
            target=target,
            outcome=outcome,
            detail=detail,
        )
    )


async def authorised(s: AsyncSession, actor: Actor, case: Case | None) -> tuple[Case, Unit] | None:
    """The case and its unit when the actor's scope (``services.scope``) holds the case's
    unit; None for a draft, an unknown case or one outside the scope (callers answer the same
    for all three, so a code's existence is not revealed)."""
    if case is None or case.status == DRAFT or case.unit_id is None or case.code is None:
        return None
    unit = await s.get(Unit, case.unit_id)
    if unit is None:
        return None
    if not (await scope_of(s, actor.officer, actor.unit)).holds(unit):
        return None
    return case, unit


def decrypt(case: Case, token: str | None, field: str) -> str | object | None:
    """A protected text of the case (description, contact, note), ``UNDECRYPTABLE`` when no
    key opens it (another process may hold other keys: said so, never shown as absent). The
    caller audits the read."""
    if token is None:
        return None
    try:
        return keyring().decrypt(token, f"case:{case.id}:{field}")
    except CryptoError:
        log.warning("case %s: a stored %s does not decrypt", case.code, field)
        return UNDECRYPTABLE


def clean_note(text: str | None, *, required: bool) -> str | None:
    """The note as it will be stored, or ActionRefused (empty when required, too long)."""
    note = (text or "").strip()
    if not note or fold(note) == "":
        if required:
            raise ActionRefused("case.err.empty")
        return None
    if len(note) > NOTE_MAX:
        raise ActionRefused("case.err.too_long", length=len(note), max=NOTE_MAX)
    return note


def apply_status(case: Case, to: str, officer_id: int | None, now: datetime) -> None:
    """Set the status and the milestones it implies (acknowledged, intervened, closed)."""
    case.status = to
    if to != NEW and case.acknowledged_at is None:
        case.acknowledged_at = now
        case.acknowledged_by = officer_id
    if to in INTERVENED_STATUSES and case.intervened_at is None:
        case.intervened_at = now
    case.closed_at = now if to == CLOSED else None


def _encrypt_note(case: Case, note: str | None) -> str | None:
    return keyring().encrypt(note, f"case:{case.id}:note") if note else None


async def change_status(
    s: AsyncSession, actor: Actor, case: Case, unit: Unit, to: str, note: str | None = None
) -> str:
    """Move the case to ``to`` with an optional note; the first move off "new" acknowledges
    it and tells the escalation levels that were alerted. Returns the former status."""
    if to not in STATUSES or to == NEW:
        raise ActionRefused("case.err.action")
    before = case.status
    if to == before:
        raise ActionRefused("case.err.same_status", status=to)
    first_ack = case.acknowledged_at is None
    apply_status(case, to, actor.officer.id, actor.now)
    s.add(
        CaseEvent(
            case_id=case.id or 0,
            at=actor.now,
            officer_id=actor.officer.id,
            kind="status",
            from_status=before,
            to_status=to,
            note_enc=_encrypt_note(case, note),
        )
    )
    case.updated_at = actor.now
    audit(s, actor, "cases.status", case.code, detail=f"{before}->{to}")
    if first_ack and case.acknowledged_at is not None:
        await routing.tell_acknowledged(s, case, unit, actor.now)
    return before


async def acknowledge(s: AsyncSession, actor: Actor, case: Case, unit: Unit) -> str:
    """ "Đã tiếp nhận": the status ``acknowledged`` (the same move as choosing it in the chat)."""
    if case.acknowledged_at is not None:
        raise ActionRefused("case.err.already_acknowledged")
    return await change_status(s, actor, case, unit, ACKNOWLEDGED)


def add_note(s: AsyncSession, actor: Actor, case: Case, note: str) -> None:
    """A note in the case's history (encrypted; the audit row says only that one was added)."""
    s.add(
        CaseEvent(
            case_id=case.id or 0,
            at=actor.now,
            officer_id=actor.officer.id,
            kind="note",
            note_enc=_encrypt_note(case, note),
        )
    )
    case.updated_at = actor.now
    audit(s, actor, "cases.note", case.code)


async def assignable(s: AsyncSession, unit: Unit) -> list[Officer]:
    """Who a case of ``unit`` may be assigned to: active officers of the unit or of a unit
    above it whose scope holds it (the people who could read it anyway)."""
    ids = [p for p in unit.path.split("/") if p]  # the path is "/1/4/9/": root first
    prefixes = ["/" + "/".join(ids[: i + 1]) + "/" for i in range(len(ids))]
    rows = (
        await s.exec(
            select(Officer, Unit)
            .join(Unit, col(Unit.id) == col(Officer.unit_id))
            .where(col(Officer.active).is_(True), col(Unit.path).in_(prefixes))
            .order_by(col(Unit.path).desc(), col(Officer.full_name))
        )
    ).all()
    out = []
    for officer, home in rows:
        if (await scope_of(s, officer, home)).holds(unit):
            out.append(officer)
    return out


async def assign(s: AsyncSession, actor: Actor, case: Case, unit: Unit, officer_id: int) -> Officer:
    """Give the case to an officer who may read it; they get an alert through the outbox
    (the code, the commune and the urgency only, as every case alert)."""
    target = next((o for o in await assignable(s, unit) if o.id == officer_id), None)
    if target is None:
        raise ActionRefused("case.err.assignee")
    if case.assigned_to == officer_id:
        raise ActionRefused("case.err.same_assignee")
    case.assigned_to = officer_id
    s.add(
        CaseEvent(
            case_id=case.id or 0,
            at=actor.now,
            officer_id=actor.officer.id,
            kind="assign",
            assignee_id=officer_id,
        )
    )
    case.updated_at = actor.now
    audit(s, actor, "cases.assign", case.code, detail=f"officer:{officer_id}")
    if officer_id != actor.officer.id:
        await notify(
            s,
            case,
            unit,
            [Recipient(OFFICER, target)],
            # One alert per assignment (assigning A, B, then A again alerts A twice).
            event=f"assign{int(actor.now.timestamp())}",
            key="case.alert_assigned",
            now=actor.now,
        )
    return target
