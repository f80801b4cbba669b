"""What a reporter types never reaches the disk or a log in clear: the raw database (SQLite
file bytes, PostgreSQL dump) and the captured logs at DEBUG hold no description, contact or
note typed in a test, also when a step fails with an exception quoting it."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from db.crypto import Keyring
from db.engine import Database
from handlers.cases import intake
from services.cases.routing import escalate_due
from tests.cases_helpers import (
    CITIZEN_URGENT,
    MARKERS,
    NOTE,
    SECRETS,
    case_keys,  # noqa: F401  (autouse fixture)
    report_case,
)
from tests.chat import Chat, Clock
from tests.conftest import PG_URL


async def _everything(make_chat: Callable[..., Chat], db: Database) -> str:
    """A sent case with a description and a contact, an officer's note, and a draft typed
    then erased. Returns the case code."""
    officer = make_chat("lan")
    await officer.register(db, "28303")
    await make_chat("agency").register(db, "42", role="admin", name="Võ Thị Thường Trực")
    code = await report_case(make_chat("citizen"))
    clock = officer.dispatcher.clock
    assert isinstance(clock, Clock)
    clock.advance(minutes=31)
    async with db.session() as s:
        assert await escalate_due(s, clock.now) == 2  # logs the escalation (code only)
    await officer.send(f"/vuviec {code}")
    await officer.send("2")
    await officer.send(NOTE)
    second = make_chat("second")
    for line in CITIZEN_URGENT[:11]:
        await second.send(line)
    await second.send("/xoa")
    return code


def _raw_database(db: Database, backend: str) -> bytes:
    if backend == "sqlite":
        path = Path(make_url(db.url).database or "")
        parts = [path, Path(f"{path}-wal")]
        return b"".join(p.read_bytes() for p in parts if p.exists())
    assert PG_URL and db.schema
    url = make_url(PG_URL)
    env = {**os.environ, "PGPASSWORD": url.password or ""}
    out = subprocess.run(
        [
            "pg_dump",
            "-h",
            url.host or "127.0.0.1",
            "-p",
            str(url.port or 5432),
            "-U",
            url.username or "postgres",
            "-d",
            url.database or "test",
            "-n",
            db.schema,
        ],
        capture_output=True,
        env=env,
        check=True,
        timeout=60,
    )
    return out.stdout


async def test_raw_database_holds_no_typed_text(
    make_chat: Callable[..., Chat], demo_db: Database, db_config: dict[str, str | None]
) -> None:
    backend = str(db_config["backend"])
    if backend == "postgresql" and shutil.which("pg_dump") is None:
        pytest.skip("pg_dump is not installed")
    code = await _everything(make_chat, demo_db)
    raw = _raw_database(demo_db, backend)
    assert code.encode() in raw  # the data really is in what was read
    assert "Xã Thạch Lạc".encode() in raw
    for text in (*SECRETS, *MARKERS):
        assert text.encode("utf-8") not in raw, text
        assert text.encode("utf-16-le") not in raw, text


async def test_logs_hold_no_typed_text(
    make_chat: Callable[..., Chat], demo_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    await _everything(make_chat, demo_db)
    assert any("escalated" in r.getMessage() for r in caplog.records)  # logs were captured
    for text in (*SECRETS, *MARKERS):
        assert text not in caplog.text, text
        for record in caplog.records:
            assert text not in repr(record.args), text


class _Exploding(Keyring):
    def encrypt(self, plaintext: str, aad: str) -> str:
        raise ValueError(f"cannot store {plaintext!r}")


async def test_an_exception_quoting_the_text_is_logged_by_type_only(
    make_chat: Callable[..., Chat],
    demo_db: Database,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    real = intake.keyring()
    broken = _Exploding.parse("x1:" + "A" * 43)
    chat = make_chat("c")
    for line in CITIZEN_URGENT[:10]:
        await chat.send(line)
    monkeypatch.setattr(intake, "keyring", lambda: broken)
    out = await chat.send(CITIZEN_URGENT[10])  # the description
    assert "bot vừa gặp lỗi" in out
    assert "ValueError" in caplog.text
    for text in (*SECRETS, *MARKERS):
        assert text not in caplog.text, text
        assert text not in out
    # Nothing was lost: with the key back the same description goes through.
    monkeypatch.setattr(intake, "keyring", lambda: real)
    for line in CITIZEN_URGENT[10:]:
        out = await chat.send(line)
    assert "VV-2026-000001" in out
