"""Case counts for the periodic report: the violence section is pre-filled from the cases
received in the period, and the officer confirms or corrects each number.

Only choice answers are counted (no free text is decrypted). A case is counted in the period
it was sent in; drafts are not counted.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from db.cases import submitted_between
from handlers.context import Ctx
from handlers.hooks import Suggester
from kernel.calendar import ReportPeriod
from kernel.clock import to_utc

# Form of violence (intake option) → question of the report form.
FORM_QUESTIONS = {
    "physical": "vio_physical",
    "psychological": "vio_psychological",
    "economic": "vio_economic",
    "sexual": "vio_sexual",
    "trafficking": "vio_trafficking",
    "child_marriage": "vio_child_marriage",
    "forced_marriage": "vio_forced_marriage",
    "harassment": "vio_harassment",
}


async def case_counts(
    s: AsyncSession, unit_id: int, start: date, end: date, *, tz: str = "Asia/Ho_Chi_Minh"
) -> dict[str, Any]:
    """Counts of the cases of ``unit_id`` sent from ``start`` to ``end`` (local dates, both
    included), by report question id: ``vio_cases``, one ``vio_*`` per form, ``victims``
    (``{"m", "f"}``; victims of unknown sex are left out), ``victims_u16``, ``victims_60``."""
    lo = to_utc(datetime.combine(start, time()), tz)
    hi = to_utc(datetime.combine(end + timedelta(days=1), time()), tz)
    rows = await submitted_between(s, unit_id, lo, hi)
    out: dict[str, Any] = {"vio_cases": len(rows)}
    for form, qid in FORM_QUESTIONS.items():
        out[qid] = sum(1 for c in rows if form in c.forms)
    out["victims"] = {
        "m": sum(1 for c in rows if c.victim_sex == "m"),
        "f": sum(1 for c in rows if c.victim_sex == "f"),
    }
    out["victims_u16"] = sum(1 for c in rows if c.age_group == "u16")
    out["victims_60"] = sum(1 for c in rows if c.age_group == "60p")
    return out


def period_dates(period: ReportPeriod) -> tuple[date, date]:
    """The months a report covers: January–June for the 6-month report, the year for the
    annual one."""
    if period.kind == "semiannual":
        return date(period.year, 1, 1), date(period.year, 6, 30)
    return date(period.year, 1, 1), date(period.year, 12, 31)


async def report_suggestions(ctx: Ctx, period: ReportPeriod) -> dict[str, Any]:
    """Suggested answers for the unit's report; nothing when no case came in the period."""
    if ctx.unit is None or ctx.unit.id is None:
        return {}
    start, end = period_dates(period)
    counts = await case_counts(ctx.s, ctx.unit.id, start, end, tz=ctx.services.timezone)
    return counts if counts["vio_cases"] else {}


SUGGESTER = Suggester(
    values=report_suggestions,
    note="case.report_suggested",
    use="case.report_use",
    alias="case.report_use_alias",
)
