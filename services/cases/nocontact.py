"""No-contact orders (cấm tiếp xúc, Law 13/2022 art. 25) and their clocks.

A victim or their guardian asks for an order; an officer records the request time. The
commune chair decides within 12 hours: at 8 hours without a decision level 0 of the case
(the duty roster and the commune's officers) is reminded ("4 hours left"); at 12 hours the
alert also goes to the standing agency. A decision to grant records its end (at most 3 days)
and the commune police chief and the village heads on the duty roster get a notice with the
code and the dates only. When the order ends, level 0 and the same roster people are
reminded. All alerts go through the outbox with their own keys (idempotent).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from db.cases import Case, CaseEvent, DutyEntry, duty_roster, no_contact_open
from db.models import Officer, Unit
from services.cases.alerts import Recipient, chain, notify
from services.cases.config import config
from services.cases.texts import fmt_time

DECISION_CLOCK = timedelta(hours=12)
DECISION_WARN = timedelta(hours=8)
MAX_DAYS = 3
NOTICE_ROLES = ("police", "village_head")
GRANTED = "granted"
REFUSED = "refused"
# Values of Case.nc_alerts for the current request.
WARNED, OVERDUE, DONE = 1, 2, 3


def decision_due(case: Case) -> datetime | None:
    if case.nc_requested_at is None or case.nc_decided_at is not None:
        return None
    return case.nc_requested_at + DECISION_CLOCK


def request(s: AsyncSession, case: Case, *, at: datetime, officer_id: int | None) -> None:
    """Record a request for an order made at ``at``; a new request restarts the clock."""
    case.nc_requested_at = at
    case.nc_decided_at = None
    case.nc_decision = None
    case.nc_until = None
    case.nc_alerts = 0
    s.add(CaseEvent(case_id=case.id or 0, at=at, officer_id=officer_id, kind="nc_request"))


async def notice_recipients(s: AsyncSession, unit: Unit) -> tuple[list[Recipient], list[DutyEntry]]:
    """(roster people with a bot account to notify, roster entries reachable only by phone)
    among the commune police chief and the village heads."""
    assert unit.id is not None
    by_bot: list[Recipient] = []
    by_phone: list[DutyEntry] = []
    for entry in await duty_roster(s, unit.id):
        if entry.role not in NOTICE_ROLES:
            continue
        officer = await s.get(Officer, entry.officer_id) if entry.officer_id else None
        if officer is not None and officer.active:
            by_bot.append(Recipient(entry.role, officer))
        elif entry.phone:
            by_phone.append(entry)
    return by_bot, by_phone


def _dates(case: Case) -> dict[str, str]:
    tz = config().timezone
    out: dict[str, str] = {}
    if case.nc_requested_at is not None:
        out["requested"] = fmt_time(case.nc_requested_at, tz)
        out["due"] = fmt_time(case.nc_requested_at + DECISION_CLOCK, tz)
    if case.nc_decided_at is not None:
        out["decided"] = fmt_time(case.nc_decided_at, tz)
    if case.nc_until is not None:
        out["until"] = fmt_time(case.nc_until, tz)
    return out


async def decide(
    s: AsyncSession,
    case: Case,
    *,
    granted: bool,
    now: datetime,
    officer_id: int | None,
    days: int = MAX_DAYS,
) -> tuple[int, list[DutyEntry]]:
    """Record the chair's decision. A granted order lasts ``days`` (1 to 3) from now; the
    police chief and village heads on the roster are notified. Returns (notices queued,
    roster entries to tell by phone)."""
    if case.nc_requested_at is None:
        request(s, case, at=now, officer_id=officer_id)
    days = max(1, min(MAX_DAYS, days))
    case.nc_decided_at = now
    case.nc_decision = GRANTED if granted else REFUSED
    case.nc_until = now + timedelta(days=days) if granted else None
    case.nc_alerts = OVERDUE if granted else DONE
    s.add(
        CaseEvent(
            case_id=case.id or 0,
            at=now,
            officer_id=officer_id,
            kind="nc_decision",
            to_status=case.nc_decision,
        )
    )
    if not granted or case.unit_id is None:
        return 0, []
    unit = await s.get(Unit, case.unit_id)
    if unit is None:
        return 0, []
    by_bot, by_phone = await notice_recipients(s, unit)
    stamp = int(now.timestamp())
    written = await notify(
        s,
        case,
        unit,
        by_bot,
        event=f"nc{stamp}",
        key="case.nc_notice",
        now=now,
        params=_dates(case),
    )
    return written, by_phone


async def due(s: AsyncSession, now: datetime) -> int:
    """The no-contact clocks (called by ``routing.escalate_due``): 4 hours left, overdue, and
    the end of an order. Returns alerts queued."""
    written = 0
    for case in await no_contact_open(s):
        if case.unit_id is None or case.nc_requested_at is None or case.code is None:
            continue
        stamp = int(case.nc_requested_at.timestamp())
        unit = await s.get(Unit, case.unit_id)
        if unit is None:
            continue
        if case.nc_decided_at is None:
            elapsed = now - case.nc_requested_at
            if elapsed >= DECISION_CLOCK and case.nc_alerts < OVERDUE:
                levels = await chain(s, unit, now)
                recipients = levels[0] + (levels[1] if len(levels) > 1 else [])
                written += await notify(
                    s,
                    case,
                    unit,
                    recipients,
                    event=f"nc{stamp}over",
                    key="case.nc_overdue",
                    now=now,
                    params=_dates(case),
                )
                case.nc_alerts = OVERDUE
                s.add(CaseEvent(case_id=case.id or 0, at=now, kind="nc_clock", level=OVERDUE))
            elif elapsed >= DECISION_WARN and case.nc_alerts < WARNED:
                levels = await chain(s, unit, now)
                written += await notify(
                    s,
                    case,
                    unit,
                    levels[0],
                    event=f"nc{stamp}warn",
                    key="case.nc_warn",
                    now=now,
                    params=_dates(case),
                )
                case.nc_alerts = WARNED
                s.add(CaseEvent(case_id=case.id or 0, at=now, kind="nc_clock", level=WARNED))
        elif case.nc_until is not None and now >= case.nc_until and case.nc_alerts < DONE:
            levels = await chain(s, unit, now)
            by_bot, _ = await notice_recipients(s, unit)
            written += await notify(
                s,
                case,
                unit,
                by_bot + levels[0],
                event=f"nc{stamp}end",
                key="case.nc_expired",
                now=now,
                params=_dates(case),
            )
            case.nc_alerts = DONE
            s.add(CaseEvent(case_id=case.id or 0, at=now, kind="nc_clock", level=DONE))
    return written
