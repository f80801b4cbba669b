"""Loading the unit tree: from a province's CSV file (checked by ``db.unit_file``) or the
demo data."""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as dc_field
from pathlib import Path

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Unit
from db.queries import child_path
from db.unit_file import LineError, UnitFileError, read_file

DEMO_CSV = Path(__file__).parent / "data" / "demo_units.csv"
DEMO_DUTY = "Trực ban Công an xã: 0239 3855 113\nĐịa chỉ tin cậy: Nhà văn hóa thôn (gặp chị Hoa, Chi hội Phụ nữ)"


@dataclass
class ImportResult:
    created: int
    updated: int
    unchanged: int = 0


@dataclass
class Change:
    """What an import does to one unit: ``fields`` maps a changed field to (old, new)."""

    code: str
    name: str
    created: bool
    fields: dict[str, tuple[object, object]] = dc_field(default_factory=dict)


@dataclass
class ImportPlan:
    changes: list[Change]
    unchanged: int
    kept: int  # units in the database that the file does not mention (left as they are)

    @property
    def created(self) -> int:
        return sum(1 for c in self.changes if c.created)

    @property
    def updated(self) -> int:
        return sum(1 for c in self.changes if not c.created)


def read_units_csv(path: Path) -> list[dict[str, str]]:
    """Rows with code, name, parent_code, kind and reports (1/0), checked (``db.unit_file``)."""
    return read_file(path).rows


def _reports(row: dict[str, str]) -> bool:
    return row.get("reports", "1").lower() not in ("0", "false", "no", "")


async def plan_import(
    s: AsyncSession, rows: list[dict[str, str]], lines: dict[str, int] | None = None
) -> ImportPlan:
    """What importing ``rows`` would change, without writing; refuses unknown parents and
    cycles (also through units already in the database)."""
    existing = {u.code: u for u in (await s.exec(select(Unit))).all()}
    by_id = {u.id: u for u in existing.values()}
    in_file = {r["code"]: r for r in rows}
    lines = lines or {}
    errors: list[LineError] = []
    parent_of: dict[str, str | None] = {
        u.code: (by_id[u.parent_id].code if u.parent_id in by_id else None)
        for u in existing.values()
    }
    for row in rows:
        parent = row.get("parent_code") or None
        if parent and parent not in in_file and parent not in existing:
            errors.append(
                LineError(lines.get(row["code"], 0), "units.err_unknown_parent", {"code": parent})
            )
        parent_of[row["code"]] = parent
    for code in in_file:
        seen = {code}
        up = parent_of.get(code)
        while up is not None:
            if up in seen:
                errors.append(LineError(lines.get(code, 0), "units.err_cycle", {"code": code}))
                break
            seen.add(up)
            up = parent_of.get(up)
    if errors:
        raise UnitFileError(errors)
    changes: list[Change] = []
    unchanged = 0
    for row in rows:
        unit = existing.get(row["code"])
        if unit is None:
            changes.append(Change(row["code"], row["name"], True))
            continue
        old_parent = by_id[unit.parent_id].code if unit.parent_id in by_id else None
        diff: dict[str, tuple[object, object]] = {}
        for name, old, new in (
            ("name", unit.name, row["name"]),
            ("kind", unit.kind, row["kind"]),
            ("parent_code", old_parent, row.get("parent_code") or None),
            ("reports", unit.reports, _reports(row)),
        ):
            if old != new:
                diff[name] = (old, new)
        if diff:
            changes.append(Change(row["code"], row["name"], False, diff))
        else:
            unchanged += 1
    return ImportPlan(changes, unchanged, len(set(existing) - set(in_file)))


async def import_units(
    s: AsyncSession, rows: list[dict[str, str]], lines: dict[str, int] | None = None
) -> ImportResult:
    """Insert or update units by code; parents may come after children in the file.

    An existing unit keeps its id, so its officers, reports and cases stay with it when its
    name or parent changes; the materialised paths of the whole tree are recomputed, so a
    moved unit's subtree moves with it."""
    plan = await plan_import(s, rows, lines)
    existing = {u.code: u for u in (await s.exec(select(Unit))).all()}
    for row in rows:
        unit = existing.get(row["code"])
        if unit is None:
            unit = Unit(code=row["code"], name=row["name"], kind=row["kind"], path="/")
            s.add(unit)
            existing[unit.code] = unit
        unit.name, unit.kind, unit.reports = row["name"], row["kind"], _reports(row)
    await s.flush()
    for row in rows:
        parent_code = row.get("parent_code") or None
        existing[row["code"]].parent_id = existing[parent_code].id if parent_code else None
    _recompute_paths(list(existing.values()))
    await s.flush()
    return ImportResult(plan.created, plan.updated, plan.unchanged)


def _recompute_paths(units: list[Unit]) -> None:
    children: dict[int | None, list[Unit]] = {}
    for u in units:
        children.setdefault(u.parent_id, []).append(u)
    stack: list[tuple[Unit | None, Unit]] = [(None, u) for u in children.get(None, [])]
    while stack:
        parent, unit = stack.pop()
        assert unit.id is not None
        unit.path = child_path(parent, unit.id)
        stack.extend((unit, c) for c in children.get(unit.id, []))


async def seed_demo(s: AsyncSession) -> ImportResult:
    result = await import_units(s, read_units_csv(DEMO_CSV))
    for unit in (await s.exec(select(Unit).where(Unit.kind.in_(["commune", "ward"])))).all():  # type: ignore[attr-defined]
        unit.duty_contacts = unit.duty_contacts or DEMO_DUTY
    return result
