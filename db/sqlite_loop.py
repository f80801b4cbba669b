"""SQLite on the event loop's own thread, shaped like an ``aiosqlite`` connection.

SQLAlchemy's aiosqlite dialect hands every statement, fetch, commit and rollback to
aiosqlite's worker thread and waits for the answer: about a dozen thread hops per
conversation step, each a wake-up of the event loop through its self-pipe, which cost more
than the statements themselves (a step's statements take tens of microseconds on a local file
in WAL mode). This module gives the dialect (through its ``async_creator_fn`` hook) a
connection whose coroutines run the ``sqlite3`` call at once and never suspend.

The one wait that can be long is another *process* holding SQLite's write lock (a CLI command
writing while the bot runs): the in-loop connection has no busy timeout, and a statement that
finds the database locked is run again in a worker thread with the configured timeout, so the
event loop never sleeps in SQLite's busy handler. A statement that returned SQLITE_BUSY did
nothing, so running it again is safe. Within this process, transactions already queue on
``Database``'s asyncio lock and never meet a locked database.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterable
from typing import Any


def _busy(exc: sqlite3.OperationalError) -> bool:
    return "locked" in str(exc) or "busy" in str(exc)


class _Cursor:
    """The subset of ``aiosqlite.Cursor`` that SQLAlchemy's adapter uses."""

    __slots__ = ("_owner", "_cur")

    def __init__(self, owner: LoopConnection) -> None:
        self._owner = owner
        self._cur = owner._conn.cursor()

    async def __aenter__(self) -> _Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._cur.close()

    async def execute(self, sql: str, parameters: Any = ()) -> _Cursor:
        await self._owner._run(self._cur.execute, sql, parameters)
        return self

    async def executemany(self, sql: str, seq: Iterable[Any]) -> _Cursor:
        await self._owner._run(self._cur.executemany, sql, list(seq))
        return self

    async def fetchone(self) -> Any:
        return self._cur.fetchone()

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        return self._cur.fetchmany(size if size is not None else self._cur.arraysize)

    async def fetchall(self) -> list[Any]:
        return self._cur.fetchall()

    async def close(self) -> None:
        self._cur.close()

    async def setinputsizes(self, *sizes: Any) -> None:
        return None

    async def nextset(self) -> None:
        return None

    @property
    def description(self) -> Any:
        return self._cur.description

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def lastrowid(self) -> int | None:
        return self._cur.lastrowid

    @property
    def arraysize(self) -> int:
        return self._cur.arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._cur.arraysize = value


class _NowQueue:
    """Stands in for aiosqlite's request queue, which SQLAlchemy's isolation-level setter uses
    directly: the request runs at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any], Callable[[], Any]]) -> None:
        future, function = item
        try:
            future.set_result(function())
        except Exception as exc:  # noqa: BLE001 - handed to the waiting caller
            future.set_exception(exc)


class LoopConnection:
    """The subset of ``aiosqlite.Connection`` that SQLAlchemy's aiosqlite dialect uses."""

    def __init__(self, conn: sqlite3.Connection, busy_timeout: float) -> None:
        self._conn = conn
        self._connection: sqlite3.Connection | None = conn  # truthy while open (dialect checks)
        self._tx = _NowQueue()
        self._busy_timeout_ms = int(busy_timeout * 1000)

    async def _run(self, call: Callable[..., Any], *args: Any) -> Any:
        try:
            return call(*args)
        except sqlite3.OperationalError as exc:
            if not _busy(exc):
                raise
        return await asyncio.to_thread(self._run_waiting, call, *args)

    def _run_waiting(self, call: Callable[..., Any], *args: Any) -> Any:
        """In a worker thread: wait up to the busy timeout for another process's lock."""
        self._conn.execute(f"PRAGMA busy_timeout={self._busy_timeout_ms}")
        try:
            return call(*args)
        finally:
            self._conn.execute("PRAGMA busy_timeout=0")

    def cursor(self) -> _Cursor:
        return _Cursor(self)

    async def commit(self) -> None:
        await self._run(self._conn.commit)

    async def rollback(self) -> None:
        self._conn.rollback()

    async def close(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    def stop(self) -> None:
        if self._connection is not None:
            self._connection = None
            self._conn.close()

    async def create_function(self, *args: Any, **kw: Any) -> None:
        self._conn.create_function(*args, **kw)

    @property
    def isolation_level(self) -> str | None:
        return self._conn.isolation_level

    @isolation_level.setter
    def isolation_level(self, value: str | None) -> None:
        self._conn.isolation_level = value  # type: ignore[assignment]


async def connect(database: str, *, timeout: float = 5.0, **kw: Any) -> LoopConnection:  # noqa: ASYNC109 - sqlite3.connect's argument
    """``async_creator_fn`` for SQLAlchemy's aiosqlite dialect."""
    kw["check_same_thread"] = False  # a locked database is waited for in a worker thread
    conn = sqlite3.connect(database, timeout=0, **kw)
    conn.execute("PRAGMA busy_timeout=0")
    return LoopConnection(conn, timeout)
