"""Logs never carry what users typed, even at BDG_LOG_LEVEL=DEBUG."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.app import open_app
from bot.logs import configure_logging
from db.units import seed_demo
from handlers.registration import new_invite
from kernel.settings import Settings
from tests.chat import Chat


async def test_typed_text_not_logged_at_debug(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'log.sqlite3'}",
        BDG_LOG_LEVEL="DEBUG",
        BDG_FAKE_NOW="2026-11-25T09:00",
    )
    app = await open_app(settings)
    caplog.set_level(logging.DEBUG)
    try:
        async with app.db.session() as s:
            await seed_demo(s)
        code = await new_invite(app.db, "28303", now=app.clock())
        chat = Chat(app.dispatcher)
        await chat.send(f"/start {code}")
        await chat.send("Tên Riêng Đánh Dấu Zq")
        out = await chat.send("Chức Vụ Đánh Dấu Zq")
        assert "Tên Riêng Đánh Dấu Zq" in out  # it was used...
    finally:
        await app.db.dispose()
    assert logging.getLogger("bdg.dispatch").isEnabledFor(logging.DEBUG)  # ...with DEBUG on
    assert "Đánh Dấu Zq" not in caplog.text  # ...but never logged
    assert code not in caplog.text


def test_libraries_that_flood_or_leak_are_kept_quiet_at_info_level() -> None:
    configure_logging("INFO")
    # APScheduler: two INFO lines per job run (the lease renewal runs every 5 s).
    assert not logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.INFO)
    assert logging.getLogger("apscheduler.scheduler").isEnabledFor(logging.WARNING)
    # httpx logs Bot API URLs, which contain the token.
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    # aiosqlite logs statements with their parameters (saved answers) at DEBUG.
    assert not logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)
