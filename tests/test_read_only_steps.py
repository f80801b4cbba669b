"""SQLite: a step that only reads (/trogiup, /lich) runs in a read transaction that takes no
write lock, so it is answered while another connection is writing; a step that writes after
all (a newcomer, an admin's /lich that opens a question) runs again as a writer."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from db.engine import Database
from db.models import ChannelAccount, Conversation, ProcessedUpdate
from tests.chat import Chat
from tests.test_admin_desk import admin_chat


@pytest.fixture
def sqlite_file(db_config: dict[str, str | None]) -> str:
    if db_config["backend"] != "sqlite":
        pytest.skip("SQLite only: PostgreSQL readers never wait for a writer")
    path = make_url(str(db_config["url"])).database
    assert path
    return path


@pytest.fixture
def write_lock(sqlite_file: str) -> Iterator[sqlite3.Connection]:
    """Another connection (an admin command, a backup) holding SQLite's write lock."""
    other = sqlite3.connect(sqlite_file, isolation_level=None, check_same_thread=False)
    yield other
    if other.in_transaction:
        other.execute("ROLLBACK")
    other.close()


async def _without_waiting(step: Coroutine[Any, Any, str], lock: sqlite3.Connection) -> str:
    task = asyncio.ensure_future(step)
    done, _ = await asyncio.wait({task}, timeout=5)
    if not done:  # release the lock first, so the stuck step ends before the test fails
        lock.execute("ROLLBACK")
        await task
    assert done, "the read-only step waited for the write lock"
    return task.result()


async def _keys(db: Database) -> int:
    async with db.session() as s:
        return len((await s.exec(select(ProcessedUpdate))).all())


async def test_a_read_only_step_is_answered_while_another_connection_writes(
    make_chat: Callable[..., Chat], demo_db: Database, write_lock: sqlite3.Connection
) -> None:
    chat = make_chat("lan")
    await chat.register(demo_db, "28303")
    keys = await _keys(demo_db)
    write_lock.execute("BEGIN IMMEDIATE")
    write_lock.execute("UPDATE unit SET name = name")
    # Both would wait up to the 15 s busy timeout for the lock if they took it.
    out = await _without_waiting(chat.send("/trogiup"), write_lock)
    assert "/baocao" in out and "/lich" in out
    out = await _without_waiting(chat.send("/lich"), write_lock)
    assert "Xã Thạch Lạc" in out and "07/12/2026" in out
    # A step that writes waits for the lock, and goes on once it is released.
    writing = asyncio.create_task(chat.send("/ngonngu en"))
    await asyncio.sleep(0.5)
    assert not writing.done()
    write_lock.execute("COMMIT")
    assert "English" in await asyncio.wait_for(writing, timeout=10)
    # The read-only steps' keys were kept in memory and stored with the next write.
    assert await _keys(demo_db) == keys + 3
    again = await chat.send("/trogiup", dedupe_key="terminal:help-1")
    assert "/baocao" in again
    await chat.send("/trogiup", dedupe_key="terminal:help-1")
    assert chat.last is not None and chat.last.duplicate
    assert await _keys(demo_db) == keys + 3  # not stored yet: no write since


async def test_read_only_commands_that_write_after_all_run_again_as_writers(
    make_chat: Callable[..., Chat], demo_db: Database, sqlite_file: str
) -> None:
    newcomer = make_chat("new")
    out = await newcomer.send("/trogiup")  # the first message creates the account
    assert "/start" in out
    admin = await admin_chat(make_chat, demo_db)
    out = await admin.send("/lich")  # an admin's /lich offers to set a deadline: a flow
    assert "Đặt hạn nộp riêng" in out
    async with demo_db.session() as s:
        accounts = {a.user_id: a for a in (await s.exec(select(ChannelAccount))).all()}
        convs = {c.account_id: c for c in (await s.exec(select(Conversation))).all()}
    assert "new" in accounts
    assert convs[accounts["admin-terminal"].id or 0].flow == "admin_deadline"
    assert "Hạn nộp mới" in await admin.send("1")
