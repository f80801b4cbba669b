"""Who hears of a case, and when.

The chain of a case is a list of levels. Level 0 is the commune's duty roster (in its order,
the entries for the current shift; ``db.cases.DutyEntry``) followed by every active officer
who answers for the commune (``services.scope``). Then, going up the tree, the admins who
answer for each ancestor — the standing agency's admins answer for the province, so they are
reached even though their home unit is a sibling of the communes.

- ``alert_now``: as soon as the intake knows the place and that the case is urgent (danger
  now, a child, sexual violence, trafficking), the case gets its code and level 0 plus the
  nearest admins are alerted — the reporter does not have to reach "gửi". Later answers update
  the same case. ``on_answer`` is the one call the intake makes after each answer.
- ``submit``: "gửi"; alerts whoever was not alerted yet (outbox keys make it idempotent).
- ``escalate_due`` (the scheduler's urgent job; ``bdg cases tick``): an urgent case not
  acknowledged goes one level up every BDG_CASE_ESCALATE_MINUTES; children's 12-hour clocks;
  unfinished drafts that name a place become incomplete notifications after a quiet time;
  no-contact clocks (``services.cases.nocontact``).
- ``reach``: who was actually told (roles, never names), read back from the outbox, for
  truthful receipts.

Every alert is an outbox row whose key names the case, the event and the recipient account,
so planning twice writes nothing new. Texts carry the code, the commune, the urgency and the
age group only.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.cases import (
    DRAFT,
    NEW,
    Case,
    CaseEvent,
    child_cases_on_clock,
    quiet_drafts,
    unacknowledged_urgent,
)
from db.models import Unit
from kernel.clock import to_local
from services.cases import nocontact, texts
from services.cases.alerts import (
    AGENCY,
    KIND,
    OFFICER,
    Reach,
    Recipient,
    chain,
    is_urgent,
    notify,
    reach,
)
from services.cases.config import config
from services.cases.parsers import danger_kinds, format_code

__all__ = ["AGENCY", "KIND", "OFFICER", "Reach", "Recipient", "chain", "is_urgent", "notify"]

log = logging.getLogger("bdg.cases")


def _assign_code(case: Case, now: datetime) -> None:
    assert case.id is not None
    if case.code is None:
        case.code = format_code(to_local(now, config().timezone).year, case.id)


async def alert_now(
    s: AsyncSession,
    case: Case,
    *,
    now: datetime,
    officer_id: int | None = None,
    incomplete: bool = False,
) -> Reach:
    """Make the case a real one (code, status ``new``, alert time) and alert level 0 and the
    nearest admins. Safe to call again: an alert already queued is not repeated."""
    if case.unit_id is None:
        return Reach()
    unit = await s.get(Unit, case.unit_id)
    if unit is None:
        return Reach()
    if case.id is None:
        s.add(case)
        await s.flush()
    _assign_code(case, now)
    case.urgent = case.urgent or is_urgent(case)
    case.child = case.child or case.age_group == "u16"
    if case.status == DRAFT:
        case.status = NEW
        case.incomplete = incomplete
        s.add(
            CaseEvent(
                case_id=case.id or 0, at=now, officer_id=officer_id, kind="create", to_status=NEW
            )
        )
    if case.alerted_at is None:
        case.alerted_at = now
    levels = await chain(s, unit, now)
    first = levels[0] + (levels[1] if len(levels) > 1 else [])
    key = "case.alert_incomplete" if incomplete else "case.alert_new"
    written = await notify(
        s, case, unit, first, event="new", key=key, now=now, skip_officer=officer_id
    )
    if written:
        log.info("case %s: %d alerts queued", case.code, written)
    result = await reach(s, case)
    if result.nobody:
        log.warning("case %s: nobody to alert in its unit tree", case.code)
    return result


# Danger in any typed answer that makes a case urgent whatever the choices say.
URGENT_KINDS = frozenset({"threat", "sexual", "trafficking", "self_harm"})


async def on_answer(
    s: AsyncSession,
    case: Case,
    *,
    now: datetime,
    officer_id: int | None = None,
    text: str | None = None,
) -> Reach | None:
    """After each intake answer: alert at once when the case has become urgent and names a
    place (returns who was told), else None. ``text`` is what was typed: threats, sexual
    violence, trafficking or self-harm in it make the case urgent too. Once alerted, later
    answers only update the case (and make it urgent when they reveal urgency)."""
    if danger_kinds(text) & URGENT_KINDS:
        case.urgent = True
    if case.unit_id is None:
        return None
    if case.alerted_at is not None:
        if not case.urgent and is_urgent(case):
            case.urgent = True
        case.child = case.child or case.age_group == "u16"
        return None
    if not (case.urgent or is_urgent(case)):
        return None
    return await alert_now(s, case, now=now, officer_id=officer_id)


def still_in_intake(case: Case) -> bool:
    """A case the reporter is still filling in: a draft, or alerted but not sent yet."""
    return case.status == DRAFT or (case.alerted_at is not None and case.submitted_at is None)


async def reporter_erased(s: AsyncSession, tags: list[str], now: datetime) -> int:
    """/xoa on a case alerted during the intake: what the reporter typed (description,
    contact) is erased and the case is marked; what made it urgent and the place stay, so
    the people already told can still act. Returns the cases changed."""
    rows = (
        await s.exec(
            select(Case).where(
                col(Case.reporter_tag).in_(tags),
                col(Case.alerted_at).is_not(None),
                col(Case.submitted_at).is_(None),
            )
        )
    ).all()
    for case in rows:
        case.description_enc = None
        case.contact_enc = None
        case.updated_at = now
        s.add(CaseEvent(case_id=case.id or 0, at=now, kind="erased"))
    return len(rows)


async def submit(
    s: AsyncSession,
    case: Case,
    unit: Unit,
    *,
    now: datetime,
    tz: str | None = None,
    officer_id: int | None,
) -> Reach:
    """The reporter sent the case ("gửi"): record it and alert whoever was not alerted yet.
    Returns who was told (from the outbox)."""
    assert case.id is not None and unit.id is not None
    case.unit_id = unit.id
    case.submitted_at = now
    case.updated_at = now
    return await alert_now(s, case, now=now, officer_id=officer_id)


async def incomplete_due(s: AsyncSession, now: datetime) -> int:
    """Unfinished drafts that name a place, untouched for BDG_CASE_QUIET_MINUTES, reach the
    commune as incomplete notifications instead of vanishing. Returns alerts queued."""
    quiet = timedelta(minutes=config().quiet_minutes)
    written = 0
    for case in await quiet_drafts(s, now - quiet):
        result = await alert_now(s, case, now=now, officer_id=case.reported_by, incomplete=True)
        written += result.rows
    return written


async def escalate_due(s: AsyncSession, now: datetime, *, minutes: int | None = None) -> int:
    """The scheduler's urgent job. Escalate urgent cases not acknowledged in time (one level up
    per ``minutes``, default BDG_CASE_ESCALATE_MINUTES), remind of children's 12-hour clocks,
    turn quiet drafts into incomplete notifications, run the no-contact clocks. Returns the
    alerts queued; safe to call as often as wanted (each alert has its own outbox key)."""
    minutes = minutes or config().escalate_minutes
    step = timedelta(minutes=minutes)
    written = await incomplete_due(s, now)
    for case in await unacknowledged_urgent(s):
        if case.alerted_at is None or case.unit_id is None:
            continue
        due_level = int((now - case.alerted_at) / step)
        if due_level <= case.escalation_level:
            continue
        unit = await s.get(Unit, case.unit_id)
        if unit is None:
            continue
        levels = await chain(s, unit, now)
        target = min(due_level, len(levels) - 1)
        for level in range(case.escalation_level + 1, target + 1):
            written += await notify(
                s,
                case,
                unit,
                levels[level] + levels[0],
                event=f"esc{level}",
                key="case.alert_escalated",
                now=now,
                minutes=level * minutes,
            )
            s.add(CaseEvent(case_id=case.id or 0, at=now, kind="escalate", level=level))
            log.info("case %s escalated to level %s", case.code, level)
        if target > case.escalation_level:
            case.escalation_level = target
            case.escalated_at = now
    for case in await child_cases_on_clock(s):
        if case.alerted_at is None or case.unit_id is None:
            continue
        elapsed = now - case.alerted_at
        if elapsed >= texts.CHILD_CLOCK:
            alert, key, event = 2, "case.alert_child_over", "child12h"
        elif elapsed >= texts.CHILD_WARN and case.clock_alerts < 1:
            alert, key, event = 1, "case.alert_child_warn", "child8h"
        else:
            continue
        unit = await s.get(Unit, case.unit_id)
        if unit is None:
            continue
        levels = await chain(s, unit, now)
        recipients = levels[0] + (levels[1] if len(levels) > 1 else [])
        written += await notify(s, case, unit, recipients, event=event, key=key, now=now)
        s.add(CaseEvent(case_id=case.id or 0, at=now, kind="clock", level=alert))
        case.clock_alerts = alert
    written += await nocontact.due(s, now)
    return written


async def tell_acknowledged(s: AsyncSession, case: Case, unit: Unit, now: datetime) -> int:
    """After an escalation, tell the levels that were alerted that someone took the case."""
    if case.escalation_level <= 0:
        return 0
    levels = await chain(s, unit, now)
    recipients = [r for lv in levels[1 : case.escalation_level + 1] for r in lv]
    return await notify(
        s, case, unit, recipients, event="ack", key="case.alert_acknowledged", now=now
    )
