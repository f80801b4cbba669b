"""Test helpers about the database: a small province, and the check that a migration built
the tables exactly as the models declare them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

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


async def migration_diff(db: Database, table: Callable[[str], bool]) -> list[Any]:
    """What alembic's autogenerate finds between the migrated database and the models, for
    the tables ``table`` accepts (empty when the migrations match the models)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    def diff(conn: Any) -> list[Any]:
        ctx = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_object": lambda _o, name, kind, _r, _c: (
                    kind != "table" or table(str(name))
                ),
            },
        )
        return list(compare_metadata(ctx, SQLModel.metadata))

    async with db.engine.connect() as conn:
        return await conn.run_sync(diff)
