"""Retention (texts of old closed cases purged, counts kept; stale drafts deleted), key
rotation, the local key file, the `bdg cases` commands and the migration."""

from __future__ import annotations

import logging
import stat
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url

from db import queries
from db.crypto import Keyring, new_key_spec
from db.engine import Database
from handlers.cases.stats import case_counts
from services.cases.config import CaseConfig, config, configure, keyring
from services.cases.retention import months_before, purge, rekey
from tests.cases_helpers import (
    CITIZEN_CALM,
    NOTE,
    all_cases,
    case_by_code,
    case_events,
    case_keys,  # noqa: F401  (autouse fixture)
    outbox_rows,
    report_case,
)
from tests.chat import Chat, Clock
from tests.conftest import local
from tests.schema import migration_diff


async def _closed_case(make_chat: Callable[..., Chat], db: Database) -> tuple[str, Chat]:
    officer = make_chat("lan")
    await officer.register(db, "28303")
    code = await report_case(make_chat("citizen"))
    await officer.send(f"/vuviec {code}")
    await officer.send("4")  # → đã chuyển tuyến
    await officer.send(NOTE)
    await officer.send(f"/vuviec {code}")
    await officer.send("5")  # → đã đóng
    await officer.send("-")
    return code, officer


async def _counts(db: Database) -> dict:
    async with db.session() as s:
        unit = await queries.unit_by_code(s, "28303")
        assert unit is not None and unit.id is not None
        return await case_counts(s, unit.id, date(2026, 1, 1), date(2026, 12, 31))


async def test_purge_removes_texts_of_old_closed_cases_and_keeps_counts(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    code, officer = await _closed_case(make_chat, demo_db)
    counts = await _counts(demo_db)
    clock.set(local("2028-11-24T09:00"))  # 24 months minus a day after closing
    async with demo_db.session() as s:
        assert await purge(s, clock.now) == type(await purge(s, clock.now))(0, 0)
    clock.set(local("2028-11-26T09:00"))
    async with demo_db.session() as s:
        result = await purge(s, clock.now)
    assert (result.cases, result.drafts) == (1, 0)
    case = await case_by_code(demo_db, code)
    assert case.description_enc is None and case.contact_enc is None
    assert case.purged_at is not None and case.forms == ["physical", "sexual"]
    assert all(e.note_enc is None for e in await case_events(demo_db, case.id or 0))
    assert await _counts(demo_db) == counts
    out = await officer.send(f"/vuviec {code}")
    assert "đã được xóa theo thời hạn lưu trữ" in out
    async with demo_db.session() as s:
        assert (await purge(s, clock.now)).cases == 0  # once only


async def test_open_cases_are_never_purged(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    code = await report_case(make_chat("citizen"))
    clock.advance(days=365 * 5)
    async with demo_db.session() as s:
        assert (await purge(s, clock.now, months=1)).cases == 0
    assert (await case_by_code(demo_db, code)).description_enc is not None


async def test_stale_drafts_are_deleted(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    # Drafts that name no place: nobody can be told, so after 3 days they go.
    for line in CITIZEN_CALM[:2]:
        await make_chat("old").send(line)
    # A draft that names a place is never purged: it becomes an incomplete notification
    # (tests/test_cases_safety.py).
    for line in CITIZEN_CALM[:5]:
        await make_chat("placed").send(line)
    clock.advance(days=2)
    for line in CITIZEN_CALM[:2]:
        await make_chat("recent").send(line)
    clock.advance(days=1, hours=1)
    async with demo_db.session() as s:
        assert (await purge(s, clock.now)).drafts == 1
    assert len(await all_cases(demo_db)) == 2


def test_months_before() -> None:
    assert months_before(local("2026-03-31T10:00"), 1).day == 28
    assert months_before(local("2026-01-15T10:00"), 24).year == 2024


async def test_rekey_moves_everything_to_the_new_key(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    await _closed_case(make_chat, demo_db)
    current = config()
    newest = new_key_spec("t3")
    configure(CaseConfig(keys=f"{newest},{current.keys}", key_file=current.key_file))
    async with demo_db.session() as s:
        assert await rekey(s) == 3  # description, contact, note
    async with demo_db.session() as s:
        assert await rekey(s) == 0
    only_new = Keyring.parse(newest)
    case = (await all_cases(demo_db))[0]
    assert case.description_enc and only_new.decrypt(
        case.description_enc, f"case:{case.id}:description"
    )
    assert keyring().tags("x")[0] == only_new.tags("x")[0]


def test_local_key_file_is_created_private_and_reused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "data" / "case.key"
    configure(CaseConfig(keys=None, key_file=path))
    with caplog.at_level(logging.WARNING):
        token = keyring().encrypt("bí mật", "a")
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "BDG_CASE_KEYS is not set" in caplog.text
    assert path.read_text().strip().split(":", 1)[1] not in caplog.text  # the key is not logged
    path.chmod(0o644)
    configure(CaseConfig(keys=None, key_file=path))
    assert keyring().decrypt(token, "a") == "bí mật"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


async def test_cli_commands(
    make_chat: Callable[..., Chat],
    demo_db: Database,
    db_config: dict[str, str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if db_config["backend"] != "sqlite":
        pytest.skip("the CLI is exercised once, on SQLite")
    current = config()
    from bot.cli import main
    from kernel.settings import get_settings

    await make_chat("agency").register(demo_db, "42", role="admin", name="Võ Thị Thường Trực")
    code = await report_case(make_chat("citizen"))
    before = len(await outbox_rows(demo_db))
    path = make_url(demo_db.url).database
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.setenv("BDG_FAKE_NOW", "2026-11-25T09:45")
    monkeypatch.setenv("BDG_CASE_KEYS", str(current.keys))
    monkeypatch.setenv("BDG_CASE_ESCALATE_MINUTES", "30")
    get_settings.cache_clear()
    configure(None)
    try:
        runner = CliRunner()
        result = await _invoke(runner, main, ["cases", "tick"])
        assert result.exit_code == 0, result.output
        assert "Đã xếp 1 cảnh báo vụ việc vào hàng gửi." in result.output
        rows = (await outbox_rows(demo_db))[before:]
        assert [r.key.split(":")[2] for r in rows] == ["esc1"] and code in rows[0].text
        result = await _invoke(runner, main, ["cases", "purge"])
        assert "Đã xóa nội dung của 0 vụ việc đã đóng; đã xóa 0 bản nháp bỏ dở." in result.output
        result = await _invoke(runner, main, ["cases", "keygen", "--id", "k9"])
        assert Keyring.parse(result.output.strip()).ids == ["k9"]
        result = await _invoke(
            runner, main, ["cases", "duty", "28303", "Trực ban: 0239 111\\nCông an: 113"]
        )
        assert result.output.strip() == "Trực ban: 0239 111\nCông an: 113"
        result = await _invoke(runner, main, ["cases", "duty", "NOPE"])
        assert result.exit_code == 1 and "NOPE (" in result.output
        result = await _invoke(runner, main, ["cases", "rekey"])
        assert "Đã mã hóa lại 0 giá trị." in result.output
    finally:
        get_settings.cache_clear()


async def _invoke(runner: CliRunner, main: object, args: list[str]):  # type: ignore[no-untyped-def]
    """Click commands run their own event loop: run them in a thread."""
    import asyncio

    return await asyncio.to_thread(runner.invoke, main, args)  # type: ignore[arg-type]


async def test_migration_matches_the_tables(db: Database) -> None:
    assert await migration_diff(db, lambda name: name.startswith("violence_case")) == []
