"""Loading the unit tree: from a province's CSV file or the demo data."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Unit
from db.queries import child_path

DEMO_CSV = Path(__file__).parent / "data" / "demo_units.csv"
DEMO_DUTY = "Trực ban Công an xã: 0239 3855 113\nĐịa chỉ tin cậy: Nhà văn hóa thôn (gặp chị Hoa, Chi hội Phụ nữ)"


class UnitFileError(ValueError):
    pass


@dataclass
class ImportResult:
    created: int
    updated: int


def read_units_csv(path: Path) -> list[dict[str, str]]:
    """Rows with code, name, parent_code, kind and optional reports (1/0)."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        reader = csv.DictReader(fh)
        need = {"code", "name", "parent_code", "kind"}
        if not reader.fieldnames or not need <= set(reader.fieldnames):
            raise UnitFileError(f"the header must have the columns {sorted(need)}")
        rows = []
        for i, row in enumerate(reader, start=2):
            code = (row.get("code") or "").strip()
            name = (row.get("name") or "").strip()
            if not code or not name:
                raise UnitFileError(f"line {i}: code and name are required")
            rows.append({k: (v or "").strip() for k, v in row.items() if k})
    codes = [r["code"] for r in rows]
    if len(codes) != len(set(codes)):
        raise UnitFileError("a code appears twice")
    return rows


async def import_units(s: AsyncSession, rows: list[dict[str, str]]) -> ImportResult:
    """Insert or update units by code; parents may come after children in the file."""
    existing = {u.code: u for u in (await s.exec(select(Unit))).all()}
    pending = list(rows)
    created = updated = 0
    while pending:
        progressed = False
        for row in list(pending):
            parent_code = row.get("parent_code") or None
            if parent_code and parent_code not in existing:
                continue
            parent = existing[parent_code] if parent_code else None
            reports = row.get("reports", "1").lower() not in ("0", "false", "no", "")
            unit = existing.get(row["code"])
            if unit is None:
                unit = Unit(
                    code=row["code"],
                    name=row["name"],
                    kind=row["kind"],
                    parent_id=parent.id if parent else None,
                    reports=reports,
                )
                s.add(unit)
                await s.flush()
                created += 1
            else:
                unit.name, unit.kind, unit.reports = row["name"], row["kind"], reports
                unit.parent_id = parent.id if parent else None
                updated += 1
            assert unit.id is not None
            unit.path = child_path(parent, unit.id)
            existing[unit.code] = unit
            pending.remove(row)
            progressed = True
        if not progressed:
            missing = sorted({r["parent_code"] for r in pending})
            raise UnitFileError(f"unknown parent codes (or a cycle): {missing[:5]}")
    await s.flush()
    return ImportResult(created, updated)


async def seed_demo(s: AsyncSession) -> ImportResult:
    result = await import_units(s, read_units_csv(DEMO_CSV))
    for unit in (await s.exec(select(Unit).where(Unit.kind.in_(["commune", "ward"])))).all():  # type: ignore[attr-defined]
        unit.duty_contacts = unit.duty_contacts or DEMO_DUTY
    return result
