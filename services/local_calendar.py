"""Local calendars that carry over: recurring deadline rules of a unit's subtree, the agency's
compilation step, and which rule applied.

A province or a subtree sets its rules once (seed 003: "every year, communes report by 27/11;
the standing agency compiles for the province by 10/12"):

- a ``submit`` rule moves the units' deadline of a report kind, every year from
  ``since_year`` on, for the unit and every unit below it;
- a ``compile`` rule gives the unit's own agency a deadline to compile the subtree's reports
  for the level above: reminders go to the admins who answer for that unit, until the
  compilation is marked (``/tonghop`` or ``bdg export`` of that unit and period, or
  ``bdg calendar compiled``).

Which date applies to a unit, nearest first up the tree: at each unit, a one-year override
(``services.overrides``) wins over a recurring rule; the nearest unit that has either wins.
The pure functions here (:func:`rule_dues`, :func:`compile_steps`) serve the planner
(``scheduler/decide.py``); the others read and write the tables.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import AuditLog, Unit
from db.schedule import CalendarRule, CompilationMark, DeadlineOverride
from kernel.calendar import Calendar, ReportPeriod, load_calendar
from kernel.clock import utcnow

STEPS = ("submit", "compile")
MAX_REASON = 300
YEARS = range(2000, 2101)


class RuleError(ValueError):
    """Invalid rule input; ``key`` is a catalog key (``deadline.*``), ``params`` its
    placeholders."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


@dataclass(frozen=True)
class Due:
    """A due date for a unit's subtree, one year and one report kind: from a one-year
    override (``origin="override"``) or a recurring rule (``"rule"``)."""

    unit_id: int
    year: int
    kind: str
    due: date
    origin: str = "override"
    since_year: int | None = None


@dataclass(frozen=True)
class CompileStep:
    """The agency of ``unit_id`` compiles ``period`` for the level above by ``period.due``."""

    unit_id: int
    period: ReportPeriod  # step == "compile"


def _ids(path: str) -> list[int]:
    """Unit ids of a materialised path, nearest (the unit itself) first."""
    return [int(x) for x in path.strip("/").split("/") if x][::-1]


def rule_date(cal: Calendar, kind: str, day: int, month: int, year: int) -> date:
    """The date of a rule in ``year``. A day early in the year for a report due late in the
    year (a January compilation of the annual report) belongs to the next January."""
    nominal = next((p.nominal_due for p in cal.periods(year) if p.kind == kind), None)
    if nominal is not None and month < nominal.month - 6:
        return date(year + 1, month, day)
    return date(year, month, day)


def _in_force(rules: Iterable[CalendarRule], year: int, step: str) -> list[CalendarRule]:
    """Per (unit, kind): the rule with the latest ``since_year`` not after ``year``."""
    best: dict[tuple[int, str], CalendarRule] = {}
    for r in rules:
        if r.step != step or r.since_year > year:
            continue
        k = (r.unit_id, r.kind)
        if k not in best or r.since_year > best[k].since_year:
            best[k] = r
    return list(best.values())


def rule_dues(cal: Calendar, rules: Sequence[CalendarRule], years: Iterable[int]) -> list[Due]:
    """The ``submit`` rules as due dates for ``years``."""
    kinds = set(cal.report_kinds)
    return [
        Due(r.unit_id, y, r.kind, rule_date(cal, r.kind, r.day, r.month, y), "rule", r.since_year)
        for y in years
        for r in _in_force(rules, y, "submit")
        if r.kind in kinds
    ]


def effective(
    cal: Calendar,
    overrides: Sequence[DeadlineOverride | Due],
    rules: Sequence[CalendarRule],
    years: Iterable[int],
) -> list[Due]:
    """Overrides and rules of ``years`` as one list for ``services.overrides.resolve``:
    rules first, so that a one-year override on the same unit replaces them."""
    ys = list(years)
    out = rule_dues(cal, rules, ys)
    out += [
        o if isinstance(o, Due) else Due(o.unit_id, o.year, o.kind, o.due)
        for o in overrides
        if o.year in ys
    ]
    return out


def compile_steps(
    cal: Calendar, rules: Sequence[CalendarRule], years: Iterable[int]
) -> list[CompileStep]:
    """The compilation steps of ``years`` set by ``compile`` rules."""
    out = []
    for y in years:
        periods = {p.kind: p for p in cal.periods(y)}
        for r in _in_force(rules, y, "compile"):
            p = periods.get(r.kind)
            if p is not None:
                nominal = rule_date(cal, r.kind, r.day, r.month, y)
                out.append(CompileStep(r.unit_id, cal.compile_step(p, nominal)))
    return out


# -- reading -------------------------------------------------------------------------------------


async def rules_for_units(s: AsyncSession, unit_ids: Sequence[int]) -> list[CalendarRule]:
    if not unit_ids:
        return []
    q = select(CalendarRule).where(col(CalendarRule.unit_id).in_(list(unit_ids)))
    return list((await s.exec(q)).all())


async def all_rules(s: AsyncSession) -> list[CalendarRule]:
    return list((await s.exec(select(CalendarRule))).all())


@dataclass(frozen=True)
class Applied:
    """Which date applies to a unit for one report kind and year, and why."""

    kind: str
    year: int
    nominal: date | None  # None: the calendar file's
    origin: str  # calendar | override | rule
    unit: Unit | None = None  # the unit that set it
    since_year: int | None = None
    reason: str | None = None


async def explain(s: AsyncSession, cal: Calendar, unit: Unit, year: int) -> dict[str, Applied]:
    """Report kind → the date in force for ``unit`` in ``year`` and where it comes from."""
    ids = _ids(unit.path)
    rows = (
        await s.exec(
            select(DeadlineOverride).where(
                col(DeadlineOverride.unit_id).in_(ids), DeadlineOverride.year == year
            )
        )
    ).all()
    rules = await rules_for_units(s, ids)
    units = {u.id: u for u in (await s.exec(select(Unit).where(col(Unit.id).in_(ids)))).all()}
    out: dict[str, Applied] = {}
    for kind in cal.report_kinds:
        out[kind] = Applied(kind, year, None, "calendar")
        for uid in ids:  # nearest first
            ov = next((o for o in rows if o.unit_id == uid and o.kind == kind), None)
            if ov is not None:
                out[kind] = Applied(
                    kind, year, ov.due, "override", units.get(uid), reason=ov.reason
                )
                break
            r = next(
                (
                    x
                    for x in _in_force(rules, year, "submit")
                    if x.unit_id == uid and x.kind == kind
                ),
                None,
            )
            if r is not None:
                d = rule_date(cal, kind, r.day, r.month, year)
                out[kind] = Applied(kind, year, d, "rule", units.get(uid), r.since_year, r.reason)
                break
    return out


async def steps_of(s: AsyncSession, cal: Calendar, unit: Unit, year: int) -> list[CompileStep]:
    """The compilation steps of ``unit``'s own agency for ``year``."""
    assert unit.id is not None
    return compile_steps(cal, await rules_for_units(s, [unit.id]), [year])


async def compiled(s: AsyncSession, pairs: Iterable[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which (unit id, period) pairs are marked compiled."""
    wanted = set(pairs)
    if not wanted:
        return set()
    q = select(CompilationMark.unit_id, CompilationMark.period).where(
        col(CompilationMark.unit_id).in_({u for u, _ in wanted}),
        col(CompilationMark.period).in_({p for _, p in wanted}),
    )
    return {(int(u), str(p)) for u, p in (await s.exec(q)).all()} & wanted


async def compilation_of(s: AsyncSession, unit_id: int, period: str) -> CompilationMark | None:
    q = select(CompilationMark).where(
        CompilationMark.unit_id == unit_id, CompilationMark.period == period
    )
    return (await s.exec(q)).first()


# -- writing -------------------------------------------------------------------------------------


def validate_rule(
    cal: Calendar, kind: object, step: object, day_month: str, since_year: object
) -> tuple[str, str, int, int, int]:
    kinds = cal.report_kinds
    if kind not in kinds:
        raise RuleError("deadline.bad_kind", kinds=", ".join(kinds))
    if step not in STEPS:
        raise RuleError("deadline.bad_step", steps=", ".join(STEPS))
    if not isinstance(since_year, int) or isinstance(since_year, bool) or since_year not in YEARS:
        raise RuleError("deadline.bad_year")
    parts = day_month.strip().replace("-", "/").replace(".", "/").split("/")
    try:
        d, m = int(parts[0]), int(parts[1])
        if len(parts) != 2:
            raise ValueError
        date(2023, m, d)  # a day of every year (no 29/02)
    except (ValueError, IndexError):
        raise RuleError("deadline.bad_day_month") from None
    return str(kind), str(step), d, m, since_year


async def set_rule(
    s: AsyncSession,
    unit: Unit,
    kind: str,
    step: str,
    day_month: str,
    since_year: int,
    officer_id: int | None,
    reason: str | None,
    *,
    cal: Calendar | None = None,
    source: str = "cli",
    now: datetime | None = None,
) -> CalendarRule:
    """Set "every year from ``since_year``: ``kind`` ``step`` by dd/mm" on ``unit``'s
    subtree; replaces a rule of the same unit, kind, step and first year. Audited."""
    if unit is None or unit.id is None:
        raise RuleError("deadline.bad_unit")
    kind, step, d, m, since_year = validate_rule(
        cal or load_calendar(), kind, step, day_month, since_year
    )
    if reason is not None and len(reason) > MAX_REASON:
        raise RuleError("deadline.reason_too_long", n=MAX_REASON)
    now = now or utcnow()
    q = select(CalendarRule).where(
        CalendarRule.unit_id == unit.id,
        CalendarRule.kind == kind,
        CalendarRule.step == step,
        CalendarRule.since_year == since_year,
    )
    row = (await s.exec(q)).first()
    if row is None:
        row = CalendarRule(unit_id=unit.id, kind=kind, step=step, day=d, month=m, since_year=0)
        s.add(row)
    row.day, row.month, row.since_year = d, m, since_year
    row.set_by, row.source, row.reason, row.created_at = officer_id, source, reason, now
    s.add(
        AuditLog(
            at=now,
            officer_id=officer_id,
            action="calendar.rule_set",
            target=f"{unit.code}:{kind}:{step}",
            detail=f"{d:02d}/{m:02d} since {since_year}",
        )
    )
    await s.flush()
    return row


async def clear_rules(
    s: AsyncSession,
    unit: Unit,
    kind: str | None = None,
    step: str | None = None,
    officer_id: int | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """Remove the rules set on ``unit`` itself (one kind and/or step, or all)."""
    q = select(CalendarRule).where(CalendarRule.unit_id == unit.id)
    if kind:
        q = q.where(CalendarRule.kind == kind)
    if step:
        q = q.where(CalendarRule.step == step)
    rows = (await s.exec(q)).all()
    targets = [f"{unit.code}:{r.kind}:{r.step}" for r in rows]
    return await delete_audited(s, rows, targets, "calendar.rule_clear", officer_id, now)


async def delete_audited(
    s: AsyncSession,
    rows: Sequence[object],
    targets: Sequence[str],
    action: str,
    officer_id: int | None,
    now: datetime | None,
) -> int:
    """Delete ``rows``, one audit row each (``action`` on its target); returns how many."""
    for row, target in zip(rows, targets, strict=True):
        await s.delete(row)
        s.add(AuditLog(at=now or utcnow(), officer_id=officer_id, action=action, target=target))
    await s.flush()
    return len(rows)


async def list_rules(
    s: AsyncSession, *, unit: Unit | None = None
) -> list[tuple[CalendarRule, Unit]]:
    """Rules with their unit; with ``unit``: those set in its subtree or above it."""
    q = select(CalendarRule, Unit).where(CalendarRule.unit_id == Unit.id)
    rows = [(r, u) for r, u in (await s.exec(q)).all()]
    if unit is not None:
        above = set(_ids(unit.path))
        rows = [(r, u) for r, u in rows if u.path.startswith(unit.path) or u.id in above]
    return sorted(rows, key=lambda x: (x[1].path, x[0].kind, x[0].step, x[0].since_year))


async def mark_compiled(
    s: AsyncSession,
    unit: Unit,
    period: str,
    officer_id: int | None,
    source: str,
    *,
    now: datetime | None = None,
) -> CompilationMark:
    """Record that ``unit``'s agency compiled ``period`` (the first time counts; later
    compilations keep the first mark). Audited once."""
    assert unit.id is not None
    row = await compilation_of(s, unit.id, period)
    if row is not None:
        return row
    now = now or utcnow()
    row = CompilationMark(
        unit_id=unit.id, period=period, at=now, officer_id=officer_id, source=source
    )
    s.add(row)
    s.add(
        AuditLog(
            at=now,
            officer_id=officer_id,
            action="calendar.compiled",
            target=f"{unit.code}:{period}",
            detail=source,
        )
    )
    await s.flush()
    return row
