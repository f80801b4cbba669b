"""Deadline overrides for a subtree of units and a year, stored in the database.

An administrator says, for example, "the communes of this province report the 2026 annual
report before 27/11/2026" (seed 003): one row for the province, year 2026, kind ``annual``.
For any unit the nearest override up the unit tree wins (the unit's own, then its parent's …),
and ``Calendar.periods`` moves it to a working day like any deadline.

Set from the command line (``bdg deadline set``) or from the chat by the admin feature through
:func:`set_override`, which validates its input and raises :class:`OverrideError` (a
``ValueError`` whose ``key`` is a message-catalog key) when something is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Protocol

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import AuditLog, Unit
from db.schedule import DeadlineOverride
from kernel.calendar import Calendar, load_calendar, override_fits
from kernel.clock import utcnow
from services import local_calendar
from services.forms.parsers import ParseError, parse_date

MAX_REASON = 300
YEARS = range(2000, 2101)


class OverrideError(ValueError):
    """Invalid override input; ``key`` is a catalog key (``deadline.*``), ``params`` its
    placeholders. ``str(err)`` is the key."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def path_ids(unit: Unit) -> list[int]:
    """The unit's own id, then its parent's … up to the root."""
    return [int(x) for x in unit.path.strip("/").split("/") if x][::-1]


async def for_unit(
    s: AsyncSession, unit: Unit, year: int, cal: Calendar | None = None
) -> dict[str, date]:
    """Report kind → due date set for ``unit`` or the nearest unit above it, for ``year``:
    a one-year override or a recurring rule (``services.local_calendar``); at one unit the
    override wins over the rule."""
    ids = path_ids(unit)
    if not ids:
        return {}
    rows = (
        await s.exec(
            select(DeadlineOverride).where(
                col(DeadlineOverride.unit_id).in_(ids), DeadlineOverride.year == year
            )
        )
    ).all()
    rules = await local_calendar.rules_for_units(s, ids)
    dues = local_calendar.effective(cal or load_calendar(), list(rows), rules, [year])
    found = resolve([(ids[0], unit.path)], dues).get(ids[0], {})
    return {kind: due for (y, kind), due in found.items() if y == year}


class _Dated(Protocol):
    @property
    def unit_id(self) -> int: ...
    @property
    def year(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def due(self) -> date: ...


def resolve(
    units: Iterable[tuple[int, str]], rows: Sequence[_Dated]
) -> dict[int, dict[tuple[int, str], date]]:
    """For many units at once (``(id, path)`` pairs): unit id → {(year, kind): due}, only for
    units that some override or rule reaches. At one unit, a later row replaces an earlier
    one (``local_calendar.effective`` puts the rules first)."""
    by_unit: dict[int, dict[tuple[int, str], date]] = {}
    for r in rows:
        by_unit.setdefault(r.unit_id, {})[(r.year, r.kind)] = r.due
    if not by_unit:
        return {}
    out: dict[int, dict[tuple[int, str], date]] = {}
    for uid, path in units:
        found: dict[tuple[int, str], date] = {}
        for anc in [int(x) for x in path.strip("/").split("/") if x][::-1]:
            for k, v in by_unit.get(anc, {}).items():
                found.setdefault(k, v)  # nearest first
        if found:
            out[uid] = found
    return out


def validate(
    cal: Calendar, year: object, kind: object, due: date | str, reason: str | None
) -> tuple[int, str, date]:
    if not isinstance(year, int) or isinstance(year, bool) or year not in YEARS:
        raise OverrideError("deadline.bad_year")
    kinds = cal.report_kinds
    if kind not in kinds:
        raise OverrideError("deadline.bad_kind", kinds=", ".join(kinds))
    if isinstance(due, str):
        try:
            due = date.fromisoformat(parse_date(due))
        except ParseError:
            raise OverrideError("deadline.bad_date", year=year, next=year + 1) from None
    if not isinstance(due, date) or isinstance(due, datetime) or not override_fits(year, due):
        raise OverrideError("deadline.bad_date", year=year, next=year + 1)
    if reason is not None and len(reason) > MAX_REASON:
        raise OverrideError("deadline.reason_too_long", n=MAX_REASON)
    return year, str(kind), due


async def set_override(
    s: AsyncSession,
    unit: Unit,
    year: int,
    kind: str,
    due: date | str,
    officer_id: int | None,
    reason: str | None,
    *,
    cal: Calendar | None = None,
    source: str = "chat",
    now: datetime | None = None,
) -> DeadlineOverride:
    """Set (or replace) the due date of report ``kind`` of ``year`` for ``unit`` and every
    unit below it. ``due`` is a date or ``dd/mm/yyyy``; it must be a real date in ``year`` or
    in the next January. Raises :class:`OverrideError` (a ``ValueError``) with a catalog key.
    Writes an audit entry; the caller's transaction commits it. Pass the deployment's
    calendar (``services.periods.calendar(ctx.services)``) when it is not the built-in one.
    """
    if unit is None or unit.id is None:
        raise OverrideError("deadline.bad_unit")
    year, kind, due_date = validate(cal or load_calendar(), year, kind, due, reason)
    now = now or utcnow()
    row = (
        await s.exec(
            select(DeadlineOverride).where(
                DeadlineOverride.unit_id == unit.id,
                DeadlineOverride.year == year,
                DeadlineOverride.kind == kind,
            )
        )
    ).first()
    if row is None:
        row = DeadlineOverride(unit_id=unit.id, year=year, kind=kind, due=due_date)
        s.add(row)
    row.due = due_date
    row.set_by = officer_id
    row.source = source
    row.reason = reason
    row.created_at = now
    s.add(
        AuditLog(
            at=now,
            officer_id=officer_id,
            action="override.set",
            target=f"{unit.code}:{year}:{kind}",
            detail=due_date.isoformat(),
        )
    )
    await s.flush()
    return row


async def clear_override(
    s: AsyncSession,
    unit: Unit,
    year: int,
    kind: str | None = None,
    officer_id: int | None = None,
    *,
    now: datetime | None = None,
) -> int:
    """Remove the overrides set on ``unit`` itself for ``year`` (one kind, or all); returns
    how many were removed. Units below keep their own overrides."""
    q = select(DeadlineOverride).where(
        DeadlineOverride.unit_id == unit.id, DeadlineOverride.year == year
    )
    if kind:
        q = q.where(DeadlineOverride.kind == kind)
    rows = (await s.exec(q)).all()
    targets = [f"{unit.code}:{year}:{r.kind}" for r in rows]
    return await local_calendar.delete_audited(s, rows, targets, "override.clear", officer_id, now)


async def list_overrides(
    s: AsyncSession, *, unit: Unit | None = None, year: int | None = None
) -> list[tuple[DeadlineOverride, Unit]]:
    """Overrides (with their unit), optionally only those set in ``unit``'s subtree or on its
    ancestors (everything that can affect it), and only for ``year``."""
    q = select(DeadlineOverride, Unit).where(DeadlineOverride.unit_id == Unit.id)
    if year is not None:
        q = q.where(DeadlineOverride.year == year)
    rows = [(o, u) for o, u in (await s.exec(q)).all()]
    if unit is not None:
        above = set(path_ids(unit))
        rows = [(o, u) for o, u in rows if u.path.startswith(unit.path) or u.id in above]
    return sorted(rows, key=lambda r: (r[0].year, r[1].path, r[0].kind))
