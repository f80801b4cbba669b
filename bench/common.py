"""Shared set-up for the benchmarks."""

from __future__ import annotations

from db.engine import Database
from db.units import import_units


def commune_code(i: int) -> str:
    return f"C{i:04d}"


async def flat_province(db: Database, communes: int) -> None:
    """A province "P" with ``communes`` reporting communes C0000, C0001 … directly below it."""
    rows = [{"code": "P", "name": "Tỉnh", "parent_code": "", "kind": "province", "reports": "0"}]
    rows += [
        {
            "code": commune_code(i),
            "name": f"Xã {i}",
            "parent_code": "P",
            "kind": "commune",
            "reports": "1",
        }
        for i in range(communes)
    ]
    async with db.session() as s:
        await import_units(s, rows)
