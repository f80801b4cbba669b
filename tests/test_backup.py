"""`bdg db backup` / `bdg db restore`: a database with reports and cases comes back whole
(row counts of every table, case texts that still decrypt), on SQLite and PostgreSQL; a
restore over data is refused unless forced."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlmodel import SQLModel

import db.all_models  # noqa: F401  (every table on the metadata)
from db.backup import BackupError, backup, backup_format, restore
from db.cases import Case
from db.engine import Database
from services.cases.config import keyring
from tests.cases_helpers import CITIZEN_CALM, DESCRIPTION, case_keys, report_case  # noqa: F401
from tests.chat import Chat
from tests.test_compile_data import submit, unit

needs_pg_tools = pytest.mark.skipif(
    shutil.which("pg_dump") is None or shutil.which("pg_restore") is None,
    reason="pg_dump / pg_restore not installed",
)


async def _fill(db: Database, make_chat: Callable[..., Chat]) -> None:
    """Two submitted reports, an officer, an urgent case with texts and a calm one."""
    officer = make_chat("lan")
    await officer.register(db, "28303")
    await report_case(make_chat("citizen"))
    await report_case(make_chat("other"), CITIZEN_CALM)
    async with db.session() as s:
        await submit(s, await unit(s, "28303"), [("2026-11-30T09:00", {"comm_sessions": 5})])
        await submit(s, await unit(s, "28318"), [("2026-12-01T10:00", {"comm_sessions": 7})])


async def _snapshot(db: Database) -> tuple[dict[str, int], list[tuple[str, str | None]]]:
    counts = {}
    async with db.engine.connect() as conn:
        for table in SQLModel.metadata.sorted_tables:
            counts[table.name] = (
                await conn.execute(select(func.count()).select_from(table))
            ).scalar_one()
    texts = []
    async with db.session() as s:
        for case in (await s.exec(select(Case).order_by(Case.id))).scalars():  # type: ignore[call-overload]
            plain = (
                keyring().decrypt(case.description_enc, f"case:{case.id}:description")
                if case.description_enc
                else None
            )
            texts.append((case.code, plain))
    return counts, texts


async def test_backup_restores_reports_and_cases(
    demo_db: Database,
    db_config: dict[str, str | None],
    make_chat: Callable[..., Chat],
    tmp_path: Path,
) -> None:
    if db_config["backend"] == "postgresql" and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump not installed")
    await _fill(demo_db, make_chat)
    before = await _snapshot(demo_db)
    assert before[0]["report"] == 2 and before[0]["violence_case"] == 2
    assert (before[1][0][1] or "") == DESCRIPTION

    url, schema = str(db_config["url"]), db_config["schema"]
    dump = tmp_path / "bdg.dump"
    result = backup(url, schema, dump)
    assert result.size > 0 and dump.exists()
    assert backup_format(dump) == db_config["backend"]
    # Nothing is overwritten by accident.
    with pytest.raises(BackupError) as exists:
        backup(url, schema, dump)
    assert exists.value.key == "db.backup_exists"

    # The source has data: a restore into it is refused.
    with pytest.raises(BackupError) as busy:
        await restore(url, schema, dump)
    assert busy.value.key == "db.restore_not_empty"

    if db_config["backend"] == "sqlite":
        target_url, target_schema = f"sqlite+aiosqlite:///{tmp_path / 'restored.sqlite3'}", None
    else:
        # The disaster: the schema is gone. Restore under another name.
        await demo_db.dispose()
        async with demo_db.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        target_url, target_schema = url, f"r_{uuid.uuid4().hex[:12]}"
    try:
        restored = await restore(target_url, target_schema, dump)
        assert restored.tables > 5
        target = Database(target_url, target_schema)
        try:
            after = await _snapshot(target)
        finally:
            await target.dispose()
        assert after == before
    finally:
        if target_schema:
            async with demo_db.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{target_schema}" CASCADE'))


async def test_restore_into_migrated_empty_database_and_force(
    demo_db: Database, db_config: dict[str, str | None], tmp_path: Path
) -> None:
    """A database the bot already created (tables, no rows) counts as empty; `force`
    replaces one with data."""
    if db_config["backend"] == "postgresql" and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump not installed")
    url, schema = str(db_config["url"]), db_config["schema"]
    dump = tmp_path / "demo.dump"
    backup(url, schema, dump)
    units_before = (await _snapshot(demo_db))[0]["unit"]

    empty_schema = f"e_{uuid.uuid4().hex[:12]}" if schema else None
    empty_url = url if schema else f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
    empty = Database(empty_url, empty_schema)
    await empty.upgrade()
    await empty.dispose()
    try:
        if schema:
            # The dump's own schema still exists: it would be overwritten, so refused.
            with pytest.raises(BackupError) as taken:
                await restore(empty_url, empty_schema, dump)
            assert taken.value.key == "db.restore_schema_taken"
            await restore(url, schema, dump, force=True)
            check = Database(url, schema)
        else:
            await restore(empty_url, empty_schema, dump)
            check = Database(empty_url, None)
        try:
            assert (await _snapshot(check))[0]["unit"] == units_before
        finally:
            await check.dispose()
    finally:
        if empty_schema:
            async with demo_db.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{empty_schema}" CASCADE'))


def test_backup_format_refuses_other_files(tmp_path: Path) -> None:
    junk = tmp_path / "notes.txt"
    junk.write_text("hello", encoding="utf-8")
    with pytest.raises(BackupError) as e:
        backup_format(junk)
    assert e.value.key == "db.backup_unknown"
    with pytest.raises(BackupError) as missing:
        backup_format(tmp_path / "nope.dump")
    assert missing.value.key == "db.backup_missing"
