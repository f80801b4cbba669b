"""Only one process plans and dispatches at a time, even when several share a database.

- PostgreSQL: a session-level advisory lock (``pg_try_advisory_lock``) held on a dedicated
  connection for as long as the process runs; if that connection drops, the lock is gone and
  another process may take over. The lock id is derived from the schema, so deployments (and
  test schemas) sharing one database do not exclude each other.
- SQLite: a lease row (``schedulerlease``) with an expiry, renewed while held, naming its
  holder (``host:pid:start``). A holder that is dead on this host (a crash, a SIGKILL, a
  restarted container) is stale: the restarted process takes over at once. A holder on another
  host stops renewing and is taken over when the lease expires.

The planner is harmless without the lock (its unique keys make a second planner write
nothing), but two dispatchers could both send one pending row: the dispatcher runs only while
the lock is held.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import socket
import uuid
from datetime import timedelta
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.engine import Database, is_sqlite
from db.schedule import SchedulerLease
from kernel.clock import utcnow

log = logging.getLogger("bdg.scheduler")

LEASE_NAME = "scheduler"


class SchedulerLock(Protocol):
    held: bool

    async def acquire(self) -> bool:
        """Take the lock, or keep it (renew); False when another process holds it."""

    async def release(self) -> None: ...


_INCARNATION = uuid.uuid4().hex[:8]


def holder_id() -> str:
    """``host:pid:start.lock`` — which process holds the lease, which start of that process
    (a restarted container reuses its pid), and which lock object in it."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{_INCARNATION}.{uuid.uuid4().hex[:8]}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def holder_is_stale(holder: str) -> bool:
    """Whether ``holder`` (see ``holder_id``) is a process of this host that is gone: its pid
    is dead, or it is this pid in an earlier start (pid 1 of a restarted container). A holder
    on another host cannot be checked: its lease runs out instead."""
    host, _, rest = holder.partition(":")
    pid_text, _, incarnation = rest.partition(":")
    if host != socket.gethostname()[:40] or not pid_text.isdigit() or len(pid_text) > 9:
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return incarnation.partition(".")[0] != _INCARNATION
    return pid > 0 and not _pid_alive(pid)


class LeaseLock:
    """SQLite: a row with the holder and an expiry (the write lock makes the check atomic)."""

    def __init__(self, db: Database, ttl: float = 120.0, name: str = LEASE_NAME) -> None:
        self.db = db
        self.ttl = timedelta(seconds=ttl)
        self.name = name
        self.holder = holder_id()
        self.held = False
        self._guard = asyncio.Lock()  # the planner, the renewal and urgent jobs share it

    async def acquire(self) -> bool:
        async with self._guard:
            return await self._acquire()

    async def _acquire(self) -> bool:
        now = utcnow()  # wall time, whatever clock the planner is given
        async with self.db.session() as s:
            row = await s.get(SchedulerLease, self.name)
            if row is None:
                s.add(SchedulerLease(name=self.name, holder=self.holder, expires_at=now + self.ttl))
            elif row.holder == self.holder or row.expires_at <= now or holder_is_stale(row.holder):
                if row.holder != self.holder:
                    log.info("scheduler lease taken over from %s", row.holder)
                row.holder = self.holder
                row.expires_at = now + self.ttl
            else:
                self.held = False
                return False
        self.held = True
        return True

    async def release(self) -> None:
        async with self._guard:
            if not self.held:
                return
            async with self.db.session() as s:
                row = await s.get(SchedulerLease, self.name)
                if row is not None and row.holder == self.holder:
                    await s.delete(row)
            self.held = False


class AdvisoryLock:
    """PostgreSQL: ``pg_try_advisory_lock`` on a connection kept open while held."""

    def __init__(self, db: Database, name: str = LEASE_NAME) -> None:
        self.db = db
        digest = hashlib.blake2b(f"bdg:{name}:{db.schema or ''}".encode(), digest_size=8)
        self.key = int.from_bytes(digest.digest(), "big", signed=True)
        self._conn: AsyncConnection | None = None
        self.held = False
        self._guard = asyncio.Lock()  # the planner, the renewal and urgent jobs share it

    async def acquire(self) -> bool:
        async with self._guard:
            return await self._acquire()

    async def _acquire(self) -> bool:
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT 1"))
                return True
            except Exception as exc:  # noqa: BLE001 - the connection died: lock lost
                log.warning("scheduler lock connection lost: %s", type(exc).__name__)
                await self._drop()
        conn = await self.db.engine.connect()
        try:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            got = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})
            ).scalar()
        except Exception:
            await conn.close()
            raise
        if not got:
            await conn.close()
            self.held = False
            return False
        self._conn = conn
        self.held = True
        return True

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self.held = False
        if conn is not None:
            try:
                await conn.invalidate()
            except Exception:  # noqa: BLE001
                pass

    async def release(self) -> None:
        async with self._guard:
            conn, self._conn = self._conn, None
            self.held = False
            if conn is None:
                return
            try:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
            finally:
                await conn.close()


def make_lock(db: Database) -> SchedulerLock:
    return LeaseLock(db) if is_sqlite(db.url) else AdvisoryLock(db)
