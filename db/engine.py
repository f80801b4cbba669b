"""Database engine and sessions: the same code on SQLite (aiosqlite) and PostgreSQL (asyncpg)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from db import sqlite_loop
from db.migrate import upgrade

SQLITE_BUSY_TIMEOUT_MS = 15000
READ_ONLY = "bdg_read_only"  # execution option of a SQLite read transaction


def normalise_url(url: str) -> str:
    """Accept plain ``sqlite:///`` and ``postgresql://`` URLs and pick the async drivers."""
    u = make_url(url)
    if u.drivername in ("sqlite", "sqlite+pysqlite"):
        u = u.set(drivername="sqlite+aiosqlite")
    elif u.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        u = u.set(drivername="postgresql+asyncpg")
    return u.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def make_engine(url: str, schema: str | None = None, **kw: Any) -> AsyncEngine:
    """An async engine; ``schema`` (PostgreSQL only) sets the search_path, so tests and
    several deployments can share one database."""
    url = normalise_url(url)
    if is_sqlite(url):
        db = make_url(url).database
        if db and db != ":memory:":
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        # Statements run on the event loop's thread (db/sqlite_loop.py): no thread hop per
        # statement; a lock held by another process is waited for off the loop.
        connect_args = {
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
            "async_creator_fn": sqlite_loop.connect,
        }
        engine = create_async_engine(url, connect_args=connect_args, **kw)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            if conn.get_execution_options().get(READ_ONLY):
                # A read transaction (Database.read_session): a consistent snapshot, no write
                # lock, and SQLite itself refuses any write in it.
                conn.exec_driver_sql("BEGIN")
                conn.exec_driver_sql("PRAGMA query_only = 1")
                return
            # Take the write lock at BEGIN so two writers queue on busy_timeout instead of
            # failing with "database is locked" when a read transaction upgrades.
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    connect_args = {"server_settings": {"search_path": schema}} if schema else {}
    # No pool_pre_ping: it costs a round trip before every transaction. A connection that died
    # while idle fails its first statement with ``connection_invalidated``; the dispatcher
    # runs that update's transaction again on a fresh connection.
    return create_async_engine(url, pool_size=10, max_overflow=10, connect_args=connect_args, **kw)


class Database:
    """Owns the engine and hands out sessions; one per process."""

    def __init__(self, url: str, schema: str | None = None) -> None:
        self.url = normalise_url(url)
        self.schema = schema
        self.engine = make_engine(self.url, schema)
        self._write_lock = asyncio.Lock() if is_sqlite(self.url) else None
        self._file_backed = make_url(self.url).database not in (None, "", ":memory:")
        self._sessions = async_sessionmaker(
            self.engine, class_=AsyncSession, expire_on_commit=False
        )

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction commits on normal exit and rolls back on error.

        SQLite has one writer at a time; every transaction here starts with BEGIN IMMEDIATE,
        so in-process transactions queue on an asyncio lock instead of spinning in SQLite's
        busy handler (which sleeps in growing steps and made the p99 latency ten times
        worse). Other processes still wait through busy_timeout."""
        if self._write_lock is None:
            async with self._sessions() as s, s.begin():
                yield s
            return
        async with self._write_lock, self._sessions() as s, s.begin():
            yield s

    @property
    def reads_apart(self) -> bool:
        """True on a SQLite file, where a read-only step is worth running without the write
        lock (PostgreSQL readers never wait for writers; an in-memory SQLite database is one
        shared connection, which a reader must not use while a writer has it)."""
        return self._write_lock is not None and self._file_backed

    @asynccontextmanager
    async def read_session(self) -> AsyncIterator[AsyncSession]:
        """SQLite: a session in a read transaction that takes neither the in-process write
        lock nor SQLite's (``BEGIN``, not ``BEGIN IMMEDIATE``), so it proceeds while another
        connection writes. ``PRAGMA query_only`` makes any write in it fail with
        ``OperationalError`` (the caller runs the step again as a writer). Always rolled back;
        ``query_only`` is switched off again before the connection goes back to the pool."""
        assert self._write_lock is not None, "read sessions are for SQLite"
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(**{READ_ONLY: True})
            try:
                async with AsyncSession(bind=conn, expire_on_commit=False) as s:
                    yield s
            finally:
                await conn.rollback()
                await conn.exec_driver_sql("PRAGMA query_only = 0")
                await conn.rollback()

    async def upgrade(self) -> None:

        if self.schema and not is_sqlite(self.url):
            async with self.engine.begin() as conn:
                await conn.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"'))
        await upgrade(self.engine)

    async def dispose(self) -> None:
        await self.engine.dispose()
