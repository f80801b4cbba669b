"""Which report period applies to a unit, with the calendar and any deadline overrides."""

from __future__ import annotations

from datetime import date, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Report, Unit
from kernel.calendar import Calendar, ReportPeriod, load_calendar
from kernel.settings import Services
from services import overrides


def calendar(services: Services) -> Calendar:
    return load_calendar(services.calendar_file)


async def overrides_for(
    s: AsyncSession, unit: Unit, year: int, cal: Calendar | None = None
) -> dict[str, date]:
    """Deadline overrides that apply to ``unit`` in ``year`` (report kind → due date).

    The nearest override or recurring rule up the tree wins (``services.overrides``,
    ``services.local_calendar``); until a deployment sets one, the calendar file decides.
    """

    return await overrides.for_unit(s, unit, year, cal)


async def current_period(
    s: AsyncSession, services: Services, unit: Unit, today: date
) -> ReportPeriod:
    cal = calendar(services)
    years = (today.year - 1, today.year, today.year + 1)
    by_year = {y: await overrides_for(s, unit, y, cal) for y in years}
    return cal.current_period(today, by_year=by_year)


async def period_by_id(
    s: AsyncSession, services: Services, unit: Unit, period_id: str
) -> ReportPeriod:
    cal = calendar(services)
    year = int(period_id[:4])
    return cal.period(period_id, await overrides_for(s, unit, year, cal))


def is_locked(report: Report | None, period: ReportPeriod, today: date, now: datetime) -> bool:
    """Past the lock date, unless the standing agency unlocked this report until later."""
    if today <= period.lock:
        return False
    return not (
        report is not None and report.unlocked_until is not None and report.unlocked_until > now
    )
