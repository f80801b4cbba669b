"""SQLite serves one bot process: a second `bdg run` on the same file is refused with one
clear line; a crashed process leaves nothing behind that blocks a restart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.single import AlreadyServed, lock_path, only_process
from tests.processes import bot_env, free_port


def test_a_second_holder_is_refused_and_the_lock_is_free_again_afterwards(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'bdg.sqlite3'}"
    with only_process(url):
        with pytest.raises(AlreadyServed) as refused, only_process(url):
            pass
        assert refused.value.path == tmp_path / "bdg.sqlite3"
    with only_process(url):  # released on exit: a restart takes over at once
        pass


def test_postgresql_and_memory_databases_take_no_lock() -> None:
    assert lock_path("postgresql://postgres@127.0.0.1:5432/test") is None
    assert lock_path("sqlite+aiosqlite:///:memory:") is None


def test_a_second_bot_process_on_the_same_sqlite_file_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    db = tmp_path / "bdg.sqlite3"
    env = bot_env(
        {"url": f"sqlite+aiosqlite:///{db}", "schema": None},
        TELEGRAM_BOT_TOKEN="123456:TEST",
        TELEGRAM_API_URL=f"http://127.0.0.1:{free_port()}",
        BDG_SCHEDULER="0",
    )
    with only_process(str(db.as_uri()).replace("file://", "sqlite:///")):
        done = subprocess.run(
            [sys.executable, "-m", "bot", "run"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "Một tiến trình bdg khác đang phục vụ" in done.stderr
    assert str(db) in done.stderr
