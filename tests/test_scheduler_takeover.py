"""After a crash the scheduler is taken over at once (issue 12, defect 4): on SQLite the
lease names its holder's host and process, and a holder that is dead on this host is stale;
on PostgreSQL the advisory lock dies with its connection. Urgent case alerts go out before
the reminders of a fan-out already waiting."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from db.engine import Database
from db.models import ChannelAccount
from db.outbox import enqueue
from db.schedule import SchedulerLease
from kernel.clock import utcnow
from scheduler.dispatcher import DispatchStats, OutboxDispatcher
from scheduler.lock import LeaseLock, holder_id, holder_is_stale, make_lock
from scheduler.service import planner_trigger


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


HOST = socket.gethostname()[:40]


def test_which_holders_are_stale() -> None:
    assert holder_is_stale(f"{HOST}:{dead_pid()}:abcd1234")
    assert not holder_is_stale(f"{HOST}:{os.getppid()}:abcd1234")  # alive
    assert not holder_is_stale(f"elsewhere:{dead_pid()}:abcd1234")  # cannot tell: wait
    # This very process restarted (pid 1 in a container): an earlier incarnation's lease.
    assert holder_is_stale(f"{HOST}:{os.getpid()}:00000000.abcd1234")
    assert not holder_is_stale(holder_id())  # another lock of this very process
    assert not holder_is_stale("garbage")


async def write_lease(db: Database, holder: str) -> None:
    async with db.session() as s:
        s.add(
            SchedulerLease(
                name="scheduler", holder=holder, expires_at=utcnow() + timedelta(minutes=2)
            )
        )


async def test_sqlite_restart_takes_the_lease_of_a_dead_holder_at_once(
    db: Database, db_config: dict[str, str | None]
) -> None:
    if db_config["backend"] != "sqlite":
        pytest.skip("the lease is SQLite's")
    await write_lease(db, f"{HOST}:{dead_pid()}:deadbeef")
    lock = LeaseLock(db)
    assert await lock.acquire()  # not two minutes later


async def test_sqlite_lease_of_a_live_holder_is_respected(
    db: Database, db_config: dict[str, str | None]
) -> None:
    if db_config["backend"] != "sqlite":
        pytest.skip("the lease is SQLite's")
    await write_lease(db, f"{HOST}:{os.getppid()}:cafe0001")
    assert not await LeaseLock(db).acquire()
    await db.dispose()


async def test_postgresql_lock_is_free_once_its_holder_is_gone(
    db: Database, db_config: dict[str, str | None]
) -> None:
    if db_config["backend"] != "postgresql":
        pytest.skip("the advisory lock is PostgreSQL's")
    first, second = make_lock(db), make_lock(db)
    assert await first.acquire()
    assert not await second.acquire()
    await first._drop()  # type: ignore[attr-defined]  # the connection dies with its process
    assert await second.acquire()
    await second.release()


async def test_an_urgent_case_alert_goes_before_a_waiting_fan_out(demo_db: Database) -> None:
    now = utcnow()
    async with demo_db.session() as s:
        account = ChannelAccount(channel="telegram", user_id="1", chat_id="1")
        s.add(account)
        await s.flush()
        for i in range(30):
            await enqueue(
                s,
                key=f"r{i}",
                account=account,
                text="nhắc",
                kind="reminder",
                now=now - timedelta(minutes=5),
            )
        await enqueue(s, key="c1", account=account, text="khẩn", kind="case", now=now)
    dispatcher = OutboxDispatcher(demo_db, {}, page=10)
    rows = await dispatcher._fetch("telegram", set(), DispatchStats())
    assert rows[0].kind == "case" and len(rows) == 10


@pytest.mark.parametrize("minutes", [1, 7, 15, 30, 59, 60])
def test_every_allowed_planner_tick_makes_a_trigger(minutes: int) -> None:
    """BDG_PLANNER_MINUTES accepts 1..60; each gives a trigger (60 used to crash the start)."""
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    trigger = planner_trigger(minutes, tz)
    start = datetime(2026, 12, 1, 8, 0, tzinfo=tz)
    fire = trigger.get_next_fire_time(None, start)
    assert fire == start
    after = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    assert after is not None
    expected = 60 if minutes == 60 else minutes
    assert (after - fire) == timedelta(minutes=expected)
