"""What a compilation reads: for a subtree of units and a report period, every reporting unit
with the latest *submitted* version of its report (drafts never count), when it was first
submitted, its due date (deadline overrides included) and its active officers.

Rates follow DHIS2's definitions:
- reporting rate = units that submitted / units expected to report;
- on-time rate = units whose first submission came by their due date / units expected.
A unit is expected when it is a reporting unit (``Unit.reports``) of the subtree. A report
that is being revised still counts with its latest submitted version.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import and_, case, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Officer, Report, ReportVersion, Unit
from kernel.calendar import Calendar, ReportPeriod
from kernel.clock import to_local
from kernel.settings import Services
from services import local_calendar, overrides, periods
from services.forms.engine import Form, load_form, merge_forms
from services.scope import AGENCY_KIND, admin_scope, in_subtree

__all__ = ["AGENCY_KIND", "admin_scope", "in_subtree"]


@dataclass(frozen=True)
class Contact:
    """An active officer of a unit, whom the standing agency can call."""

    name: str
    position: str
    role: str


@dataclass
class UnitStatus:
    id: int
    code: str
    name: str
    kind: str
    path: str
    due: date
    form_id: str = ""  # the form the unit's report is (or would be) on
    officers: list[Contact] = field(default_factory=list)
    reference: str | None = None
    version: int = 0
    values: dict[str, Any] | None = None  # of the latest submitted version
    submitted_at: datetime | None = None  # of the latest submitted version
    first_submitted_on: date | None = None  # local date of version 1

    @property
    def submitted(self) -> bool:
        # A version exists (``values`` stays None when the caller did not ask for them).
        return self.version > 0

    @property
    def on_time(self) -> bool:
        return self.first_submitted_on is not None and self.first_submitted_on <= self.due

    def days_late(self, today: date) -> int:
        """Days past the due date for a unit that has not submitted (0 before it)."""
        return max(0, (today - self.due).days)


@dataclass
class Compilation:
    root: Unit
    agency: Unit | None
    period: ReportPeriod  # of the subtree's root (its due date heads the documents)
    # Every question of the forms the units answer (communes' and departments'), merged:
    # ``form.members`` are those forms, ``UnitStatus.form_id`` says which one a unit is on.
    form: Form
    units: list[UnitStatus]
    generated_at: datetime  # aware UTC
    timezone: str
    # Names of the root's direct children by id (charts group units by them).
    children: dict[int, str] = field(default_factory=dict)
    # Every unit of the subtree (reporting or not) by id: (code, name), for tree order and
    # the subtotals of each level in the workbook.
    tree: dict[int, tuple[str, str]] = field(default_factory=dict)
    # The issuing body's document symbol ("BC-SNV"; BDG_DOC_SYMBOL, else derived).
    doc_symbol: str | None = None

    @property
    def expected(self) -> int:
        return len(self.units)

    @property
    def submitted(self) -> list[UnitStatus]:
        return [u for u in self.units if u.submitted]

    @property
    def missing(self) -> list[UnitStatus]:
        return [u for u in self.units if not u.submitted]

    @property
    def on_time_count(self) -> int:
        return sum(1 for u in self.units if u.on_time)

    @property
    def reporting_rate(self) -> float | None:
        return len(self.submitted) / self.expected if self.expected else None

    @property
    def on_time_rate(self) -> float | None:
        return self.on_time_count / self.expected if self.expected else None

    def in_tree_order(self) -> list[UnitStatus]:
        """The units in tree order, each level sorted by unit code (numbers as numbers): a
        district's communes follow it, "28276" before "28303", "9" before "10"."""

        def key(u: UnitStatus) -> list[tuple[tuple[int, int, str], ...]]:
            ids = [int(x) for x in u.path.strip("/").split("/") if x]
            return [_natural(self.tree.get(i, ("", ""))[0] or u.code) for i in ids]

        return sorted(self.units, key=key)

    @property
    def local_generated(self) -> datetime:
        return to_local(self.generated_at, self.timezone)

    @property
    def today(self) -> date:
        return self.local_generated.date()


def fmt_pct(rate: float | None) -> str:
    """70,6% (Vietnamese decimal comma); an empty subtree has no rate: "—"."""
    if rate is None:
        return "—"
    return f"{rate * 100:.1f}%".replace(".", ",")


def display_name(unit: Unit) -> str:
    """A unit's name as a document or a message header shows it: without a remark in
    parentheses ("Sở Nội vụ tỉnh Hà Tĩnh (cơ quan thường trực)" → "Sở Nội vụ tỉnh Hà Tĩnh")."""
    return re.sub(r"\s*\([^)]*\)", "", unit.name).strip() or unit.name


def fmt_int(n: int) -> str:
    return f"{n:,}".replace(",", ".")


def default_period(services: Services, today: date) -> str:
    """The period an agency looks at today: the report that opened last (the one being
    collected now, or the one just closed), never one that has not opened yet."""
    cal = periods.calendar(services)
    opened = [p for y in (today.year - 1, today.year) for p in cal.periods(y) if p.opens <= today]
    return max(opened, key=lambda p: p.opens).period


async def reporting_units(s: AsyncSession, root: Unit) -> Sequence[Unit]:
    """The reporting units of the subtree, read as plain rows with the columns a compilation
    uses (id, code, name, kind, path, parent_id): building 3,321 ORM objects was a quarter
    of the overview's time. Read-only: never add them to a session."""
    rows = (
        await s.exec(
            select(  # type: ignore[call-overload]
                Unit.id, Unit.code, Unit.name, Unit.kind, Unit.path, Unit.parent_id
            )
            .where(col(Unit.path).startswith(root.path), col(Unit.reports).is_(True))
            .order_by(Unit.path)
        )
    ).all()
    return cast(Sequence[Unit], rows)


async def _overrides_of_subtree(
    s: AsyncSession, root: Unit, units: Sequence[Unit], year: int, cal: Calendar
) -> dict[int, dict[str, date]] | None:
    """Report kind → due date for every unit of the subtree that an override reaches, read
    in one query through the reminders feature's ``list_overrides`` and ``resolve`` (nearest
    override up the tree wins, as ``overrides.for_unit`` decides for one unit). None when
    that module offers no bulk lookup: the caller then asks unit by unit."""

    if not (hasattr(overrides, "list_overrides") and hasattr(overrides, "resolve")):
        return None
    rows = [o for o, _ in await overrides.list_overrides(s, unit=root, year=year)]
    rules = [r for r, _ in await local_calendar.list_rules(s, unit=root)]
    dues = local_calendar.effective(cal, rows, rules, [year])
    reached = overrides.resolve(((u.id, u.path) for u in units if u.id is not None), dues)
    return {
        uid: {kind: due for (y, kind), due in found.items() if y == year}
        for uid, found in reached.items()
    }


async def gather(
    s: AsyncSession,
    root: Unit,
    period_id: str,
    *,
    services: Services,
    now: datetime,
    agency: Unit | None = None,
    progress: Callable[[int, int], None] | None = None,
    values: bool = True,
) -> Compilation:
    """Everything the XLSX, DOCX and charts need, read in a handful of queries.

    ``values=False`` (``/tinhhinh``, the web desk's overview): who submitted, when, which
    version, but not the submitted values, read in one aggregate query (a province's values
    are most of the bytes; the rates and the units' table do not need them).

    Raises ValueError for a period id the calendar does not know."""
    cal = periods.calendar(services)
    year = int(period_id[:4]) if period_id[:4].isdigit() else 0
    root_period = cal.period(period_id, await periods.overrides_for(s, root, year, cal))
    base = load_form(root_period.form_id, services.form_dir)
    units = await reporting_units(s, root)
    in_root = col(Unit.path).startswith(root.path)
    by_unit, first_on = await _submissions(s, in_root, period_id, services.timezone, values)
    form_ids, form = await _forms(s, in_root, period_id, base, units, services.form_dir)
    contacts = await _contacts(s, in_root)
    # Each unit's own due date: a deadline override may apply to part of the subtree.
    bulk = await _overrides_of_subtree(s, root, units, year, cal)
    period_cache: dict[frozenset[tuple[str, date]], ReportPeriod] = {}
    statuses: list[UnitStatus] = []
    for i, u in enumerate(units, 1):
        assert u.id is not None
        due = await _due(s, cal, u, period_id, year, bulk, period_cache)
        status = _status(u, due, contacts, by_unit.get(u.id), first_on.get(u.id))
        status.form_id = form_ids[u.id]
        statuses.append(status)
        if progress is not None:
            progress(i, len(units))
    if agency is None:
        _, agency = await admin_scope(s, root)
    children = (await s.exec(select(Unit).where(Unit.parent_id == root.id))).all()
    return Compilation(
        root=root,
        agency=agency,
        period=root_period,
        form=form,
        units=statuses,
        generated_at=now,
        timezone=services.timezone,
        children={u.id: u.name for u in children if u.id is not None},
        tree=await _tree(s, root),
        doc_symbol=services.doc_symbol,
    )


async def _due(
    s: AsyncSession,
    cal: Calendar,
    u: Unit,
    period_id: str,
    year: int,
    bulk: dict[int, dict[str, date]] | None,
    cache: dict[frozenset[tuple[str, date]], ReportPeriod],
) -> date:
    """The unit's own due date (its overrides and rules applied), one period per variant."""
    assert u.id is not None
    ov = bulk.get(u.id, {}) if bulk is not None else await periods.overrides_for(s, u, year, cal)
    key = frozenset(ov.items())
    if key not in cache:
        cache[key] = cal.period(period_id, ov)
    return cache[key].due


async def _tree(s: AsyncSession, root: Unit) -> dict[int, tuple[str, str]]:
    """Every unit of the subtree: id → (code, name)."""
    q = select(Unit.id, Unit.code, Unit.name).where(col(Unit.path).startswith(root.path))
    return {int(i or 0): (str(code), str(name)) for i, code, name in (await s.exec(q)).all()}


def _natural(code: str) -> tuple[tuple[int, int, str], ...]:
    return tuple(
        (0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", code) if p
    )


@dataclass
class Latest:
    """The latest submitted version's number and time, without its values."""

    version: int
    submitted_at: datetime
    reference: str | None = None
    values: None = None


def _status(
    u: Unit,
    due: date,
    contacts: dict[int, list[Contact]],
    version: ReportVersion | Latest | None,
    first_on: date | None,
) -> UnitStatus:
    assert u.id is not None
    return UnitStatus(
        id=u.id,
        code=u.code,
        name=u.name,
        kind=u.kind,
        path=u.path,
        due=due,
        officers=contacts.get(u.id, []),
        reference=version.reference if version else None,
        version=version.version if version else 0,
        values=dict(version.values) if version and version.values is not None else None,
        submitted_at=version.submitted_at if version else None,
        first_submitted_on=first_on,
    )


async def _latest_versions(
    s: AsyncSession, in_root: Any, period_id: str
) -> dict[int, ReportVersion]:
    """The latest submitted version of each report in the subtree, by unit."""
    latest = (
        select(
            col(Report.id).label("report_id"),
            col(Report.unit_id).label("unit_id"),
            func.max(ReportVersion.version).label("version"),
        )
        .join(ReportVersion, col(ReportVersion.report_id) == col(Report.id))
        .join(Unit, col(Unit.id) == col(Report.unit_id))
        .where(in_root, Report.period == period_id)
        .group_by(col(Report.id), col(Report.unit_id))
        .subquery()
    )
    rows = (
        await s.exec(
            select(ReportVersion, latest.c.unit_id).join(
                latest,
                and_(
                    col(ReportVersion.report_id) == latest.c.report_id,
                    col(ReportVersion.version) == latest.c.version,
                ),
            )
        )
    ).all()
    return {int(uid): v for v, uid in rows}


async def _submissions(
    s: AsyncSession, in_root: Any, period_id: str, tz: str, values: bool
) -> tuple[dict[int, ReportVersion] | dict[int, Latest], dict[int, date]]:
    """The latest submitted version of each unit (with its values, or only its number and
    time) and when version 1 came."""
    if values:
        latest = await _latest_versions(s, in_root, period_id)
        return latest, await _first_submissions(s, in_root, period_id, tz)
    return await _submission_summary(s, in_root, period_id, tz)


async def _submission_summary(
    s: AsyncSession, in_root: Any, period_id: str, tz: str
) -> tuple[dict[int, Latest], dict[int, date]]:
    """Per unit of the subtree, in one aggregate query: the latest version's number and
    time, and when version 1 came (a local date, for the on-time rate)."""
    first = func.min(case((col(ReportVersion.version) == 1, col(ReportVersion.submitted_at))))
    rows = (
        await s.exec(
            select(
                Report.unit_id,
                func.max(ReportVersion.version),
                func.max(ReportVersion.submitted_at),
                first,
            )
            .join(ReportVersion, col(ReportVersion.report_id) == col(Report.id))
            .join(Unit, col(Unit.id) == col(Report.unit_id))
            .where(in_root, Report.period == period_id)
            .group_by(col(Report.unit_id))
        )
    ).all()
    latest = {int(uid): Latest(int(v), last) for uid, v, last, _ in rows}
    firsts = {int(uid): to_local(f, tz).date() for uid, _, _, f in rows if f is not None}
    return latest, firsts


async def _forms(
    s: AsyncSession,
    in_root: Any,
    period_id: str,
    base: Form,
    units: Sequence[Unit],
    form_dir: str | None,
) -> tuple[dict[int, str], Form]:
    """The form of each unit (its report's, or the one it would start on) and the compiled
    form: the calendar's merged with every other form a report was started on (a unit with
    no report has no values to show; the calendar's form gives an empty subtree columns)."""
    rows = (
        await s.exec(
            select(Report.unit_id, Report.form_id)
            .join(Unit, col(Unit.id) == col(Report.unit_id))
            .where(in_root, Report.period == period_id)
        )
    ).all()
    started = {int(uid): fid for uid, fid in rows}
    form_ids = {
        u.id: started.get(u.id) or base.form_id_for(u.kind, u.code)
        for u in units
        if u.id is not None
    }
    used = sorted(set(started.values()) - {base.id})
    return form_ids, merge_forms([base, *(load_form(f, form_dir) for f in used)])


async def _first_submissions(
    s: AsyncSession, in_root: Any, period_id: str, tz: str
) -> dict[int, date]:
    """When each unit's version 1 came (for the on-time rate), as a local date."""
    firsts = (
        await s.exec(
            select(Report.unit_id, ReportVersion.submitted_at)
            .join(ReportVersion, col(ReportVersion.report_id) == col(Report.id))
            .join(Unit, col(Unit.id) == col(Report.unit_id))
            .where(in_root, Report.period == period_id, ReportVersion.version == 1)
        )
    ).all()
    return {int(uid): to_local(at, tz).date() for uid, at in firsts}


async def _contacts(s: AsyncSession, in_root: Any) -> dict[int, list[Contact]]:
    """The active officers of each unit of the subtree."""
    contacts: dict[int, list[Contact]] = {}
    officers = (
        await s.exec(
            select(Officer)
            .join(Unit, col(Unit.id) == col(Officer.unit_id))
            .where(in_root, col(Officer.active).is_(True))
            .order_by(col(Officer.id))
        )
    ).all()
    for o in officers:
        contacts.setdefault(o.unit_id, []).append(Contact(o.full_name, o.position, o.role))
    return contacts
