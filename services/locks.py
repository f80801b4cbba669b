"""Opening one unit's report after its lock date, or closing it again (the chat's ``/mokhoa``
and ``/khoa``, the web desk's unit page). The callers check the scope, ask for the reason and
write the audit row (``desk.unlock`` with ``until …; reason``, ``desk.lock`` with the
reason); these functions change the report and queue the notices.

Reports lock by themselves on the calendar's lock date (``services.periods.is_locked``); an
unlock is the only exception to it. Locking therefore ends an unlock; before the lock date a
report stays open to its unit (the calendar decides), which the outcome says.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlmodel.ext.asyncio.session import AsyncSession

from db import queries
from db.models import Report, Unit
from db.outbox import enqueue
from kernel.calendar import ReportPeriod
from kernel.clock import to_local
from kernel.i18n import t
from kernel.settings import Services
from services import periods
from services.forms.engine import form_id_for_unit

UNLOCK_DAYS = 7
MAX_REASON = 300


@dataclass
class Done:
    """What happened: ``not_reporting``, ``not_locked_yet`` (the calendar keeps it open
    longer than an unlock would), ``unlocked``, ``unlocked_early``, ``locked``, or
    ``lock_by_calendar`` (still open until the lock date; ``had_unlock`` if one ended)."""

    outcome: str
    until: datetime | None = None
    had_unlock: bool = False


async def unlock(
    s: AsyncSession, services: Services, unit: Unit, period: ReportPeriod, now: datetime
) -> Done:
    """Open the unit's report for ``UNLOCK_DAYS`` days and tell its officers."""
    if not unit.reports or unit.id is None:
        return Done("not_reporting")
    today = to_local(now, services.timezone).date()
    until = now + timedelta(days=UNLOCK_DAYS)
    if to_local(until, services.timezone).date() <= period.lock:
        return Done("not_locked_yet")
    report = await queries.report_for(s, unit.id, period.period)
    if report is None:  # nothing started yet: create the working copy to open it
        report = Report(
            unit_id=unit.id,
            period=period.period,
            form_id=form_id_for_unit(period.form_id, unit.kind, unit.code, services.form_dir),
            created_at=now,
            updated_at=now,
        )
        s.add(report)
    report.unlocked_until = until
    report.updated_at = now
    await s.flush()
    await _tell_unit(s, services.timezone, unit, report, period, now)
    return Done("unlocked" if today > period.lock else "unlocked_early", until=until)


async def lock(
    s: AsyncSession, services: Services, unit: Unit, period: ReportPeriod, now: datetime
) -> Done:
    """End an unlock of the unit's report."""
    if not unit.reports or unit.id is None:
        return Done("not_reporting")
    today: date = to_local(now, services.timezone).date()
    report = await queries.report_for(s, unit.id, period.period)
    had_unlock = report is not None and report.unlocked_until is not None
    if report is not None and report.unlocked_until is not None:
        report.unlocked_until = None
        report.updated_at = now
    if periods.is_locked(report, period, today, now):
        return Done("locked")
    return Done("lock_by_calendar", had_unlock=had_unlock)


async def _tell_unit(
    s: AsyncSession, tz: str, unit: Unit, report: Report, period: ReportPeriod, now: datetime
) -> None:
    """A message to each active officer of the unit that the report is open again."""
    assert unit.id is not None
    stamp = int(now.timestamp())
    until = (
        to_local(report.unlocked_until, tz).strftime("%H:%M %d/%m/%Y")
        if report.unlocked_until
        else ""
    )
    for officer in await queries.unit_officers(s, unit.id):
        assert officer.id is not None
        for acc in await queries.officer_accounts(s, officer.id):
            if acc.unreachable:
                continue
            text = t(
                acc.lang,
                "admin.unlock_notice",
                report=f"{period.text(acc.lang)} {period.year}",
                until=until,
            )
            await enqueue(
                s,
                key=f"unlock:{report.id}:{stamp}:acc:{acc.id}",
                account=acc,
                text=text,
                kind="alert",
                now=now,
                unit_id=unit.id,
            )
