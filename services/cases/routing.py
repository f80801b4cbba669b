"""Who hears of a case, and when: the officers of the commune and the standing agency at
once, the next levels up when an urgent case is not acknowledged in time, and reminders of
a child's 12-hour clock.

The chain of a case is a list of levels: level 0 is every active officer of the case's unit;
then, going up the tree, the admins (``Officer.role == "admin"``) of each ancestor that has
some — the nearest of them is the standing agency. Every alert is an outbox row whose key
names the case, the event and the recipient account, so planning twice writes nothing new.

``escalate_due(s, now)`` is what the scheduler calls on each tick (``bdg cases tick`` runs
it once).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from db import queries
from db.cases import NEW, Case, CaseEvent, child_cases_on_clock, unacknowledged_urgent
from db.models import Officer, Unit
from db.outbox import enqueue
from kernel.clock import to_local
from services.cases import texts
from services.cases.config import config
from services.cases.parsers import format_code

log = logging.getLogger("bdg.cases")

KIND = "case"


async def chain(s: AsyncSession, unit: Unit) -> list[list[Officer]]:
    """Level 0: the unit's officers; then the admins of each ancestor that has admins."""
    assert unit.id is not None
    levels = [list(await queries.unit_officers(s, unit.id))]
    for anc in await queries.ancestors(s, unit):
        assert anc.id is not None
        admins = list(await queries.unit_officers(s, anc.id, role="admin"))
        if admins:
            levels.append(admins)
    return levels


def is_urgent(case: Case) -> bool:
    """Danger now, a child victim, or sexual violence."""
    return bool(case.danger_now) or case.age_group == "u16" or "sexual" in case.forms


async def notify(
    s: AsyncSession,
    case: Case,
    unit: Unit,
    officers: list[Officer],
    *,
    event: str,
    key: str,
    now: datetime,
    skip_officer: int | None = None,
    **extra: object,
) -> int:
    """Queue the alert ``key`` for every messenger account of ``officers``; returns the rows
    written."""
    written = 0
    seen: set[int] = set()
    for officer in officers:
        if officer.id is None or officer.id in seen or officer.id == skip_officer:
            continue
        seen.add(officer.id)
        for acc in await queries.officer_accounts(s, officer.id):
            if acc.unreachable:
                continue
            text = texts.alert(acc.lang, key, case, unit, **extra)
            if await enqueue(
                s,
                key=f"case:{case.code}:{event}:acc:{acc.id}",
                account=acc,
                text=text,
                kind=KIND,
                now=now,
                unit_id=unit.id,
            ):
                written += 1
    return written


async def submit(
    s: AsyncSession, case: Case, unit: Unit, *, now: datetime, tz: str, officer_id: int | None
) -> int:
    """Turn a finished draft into a new case with a code and tell the commune and the
    standing agency. Returns the number of alerts queued."""
    assert case.id is not None and unit.id is not None
    case.unit_id = unit.id
    case.urgent = is_urgent(case)
    case.child = case.age_group == "u16"
    case.status = NEW
    case.submitted_at = now
    case.updated_at = now
    case.code = format_code(to_local(now, tz).year, case.id)
    s.add(CaseEvent(case_id=case.id, at=now, officer_id=officer_id, kind="create", to_status=NEW))
    levels = await chain(s, unit)
    first = levels[0] + (levels[1] if len(levels) > 1 else [])
    written = await notify(
        s, case, unit, first, event="new", key="case.alert_new", now=now, skip_officer=officer_id
    )
    if not written:
        log.warning("case %s: no officer or admin to notify in its unit tree", case.code)
    return written


async def escalate_due(s: AsyncSession, now: datetime, *, minutes: int | None = None) -> int:
    """Escalate urgent cases not acknowledged in time (one level up per ``minutes``, default
    BDG_CASE_ESCALATE_MINUTES) and remind of children's 12-hour clocks. Returns the number of
    alerts queued. Safe to call as often as wanted: each alert has its own outbox key."""
    minutes = minutes or config().escalate_minutes
    step = timedelta(minutes=minutes)
    written = 0
    for case in await unacknowledged_urgent(s):
        if case.submitted_at is None or case.unit_id is None:
            continue
        due_level = int((now - case.submitted_at) / step)
        if due_level <= case.escalation_level:
            continue
        unit = await s.get(Unit, case.unit_id)
        if unit is None:
            continue
        levels = await chain(s, unit)
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
        if case.submitted_at is None or case.unit_id is None:
            continue
        elapsed = now - case.submitted_at
        if elapsed >= texts.CHILD_CLOCK:
            alert, key, event = 2, "case.alert_child_over", "child12h"
        elif elapsed >= texts.CHILD_WARN and case.clock_alerts < 1:
            alert, key, event = 1, "case.alert_child_warn", "child8h"
        else:
            continue
        unit = await s.get(Unit, case.unit_id)
        if unit is None:
            continue
        levels = await chain(s, unit)
        officers = levels[0] + (levels[1] if len(levels) > 1 else [])
        written += await notify(s, case, unit, officers, event=event, key=key, now=now)
        s.add(CaseEvent(case_id=case.id or 0, at=now, kind="clock", level=alert))
        case.clock_alerts = alert
    return written


async def tell_acknowledged(s: AsyncSession, case: Case, unit: Unit, now: datetime) -> int:
    """After an escalation, tell the levels that were alerted that someone took the case."""
    if case.escalation_level <= 0:
        return 0
    levels = await chain(s, unit)
    officers = [o for lv in levels[1 : case.escalation_level + 1] for o in lv]
    return await notify(
        s, case, unit, officers, event="ack", key="case.alert_acknowledged", now=now
    )
