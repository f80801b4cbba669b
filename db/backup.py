"""``bdg db backup`` and ``bdg db restore``: copies of the database that restore.

- SQLite: the online backup API of the ``sqlite3`` module (a consistent copy while the bot
  runs, WAL included), checked with ``PRAGMA integrity_check``; restore copies it back the
  same way.
- PostgreSQL: ``pg_dump`` in the custom format (``-Fc``; only ``BDG_DB_SCHEMA`` when it is
  set) and ``pg_restore``. The password goes through ``PGPASSWORD``, never the command line.

A restore goes into an empty database (no table holds a row); a database with data is
refused unless ``force``. Case texts stay encrypted in a backup: the keys (``BDG_CASE_KEYS``)
are not in it and must be kept apart (docs/deploy.md).

Errors are :class:`BackupError` with a catalog key (``db.*``) and its parameters; they never
hold data from the database.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from db.engine import Database, is_sqlite, normalise_url
from kernel.errors import UserError

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
# Tables that hold no data of their own: a freshly migrated database has rows only here.
BOOKKEEPING = frozenset({"alembic_version", "schedulerlease", "changecounter"})
PG_TIMEOUT_SECONDS = 3600


class BackupError(UserError):
    """A backup or restore that cannot be done (catalog keys ``db.*``)."""


@dataclass
class BackupResult:
    path: Path
    backend: str  # sqlite | postgresql
    size: int


@dataclass
class RestoreResult:
    backend: str
    tables: int  # tables that hold rows after the restore


def backup_format(path: Path) -> str:
    """``sqlite`` or ``postgresql`` from the file's first bytes."""
    try:
        with path.open("rb") as fh:
            head = fh.read(16)
    except FileNotFoundError:
        raise BackupError("db.backup_missing", path=str(path)) from None
    except IsADirectoryError:
        raise BackupError("db.backup_not_file", path=str(path)) from None
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    raise BackupError("db.backup_unknown", path=str(path))


def _sqlite_file(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("db.sqlite_memory")
    return Path(database)


# -- SQLite ------------------------------------------------------------------------------------
def _sqlite_copy(src: Path, dst: Path) -> None:
    """Copy one SQLite database into another with the online backup API."""
    source = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    target = sqlite3.connect(dst)
    try:
        source.backup(target)
    finally:
        target.close()
        source.close()


def _sqlite_check(path: Path) -> None:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        result = conn.execute("PRAGMA integrity_check").fetchone()
        has_version = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='alembic_version'"
        ).fetchone()
    except sqlite3.DatabaseError:
        raise BackupError("db.backup_corrupt", path=str(path)) from None
    finally:
        conn.close()
    if not result or result[0] != "ok":
        raise BackupError("db.backup_corrupt", path=str(path))
    if not has_version:
        raise BackupError("db.backup_not_bdg", path=str(path))


def _sqlite_tables_with_rows(path: Path) -> list[str]:
    if not path.exists():
        return []
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        return [
            n
            for n in names
            if n not in BOOKKEEPING
            and conn.execute(f'SELECT 1 FROM "{n}" LIMIT 1').fetchone() is not None
        ]
    finally:
        conn.close()


# -- PostgreSQL ------------------------------------------------------------------------------
def _pg_args(url: str) -> tuple[list[str], dict[str, str]]:
    """libpq options (host, port, user, database) and the environment with the password."""
    u: URL = make_url(url)
    args = []
    if u.host:
        args += ["-h", u.host]
    if u.port:
        args += ["-p", str(u.port)]
    if u.username:
        args += ["-U", u.username]
    env = dict(os.environ)
    if u.password is not None:
        env["PGPASSWORD"] = str(u.password)
    sslmode = u.query.get("sslmode") or u.query.get("ssl")
    if isinstance(sslmode, str) and sslmode:
        env["PGSSLMODE"] = sslmode
    return args + ["-d", u.database or "postgres"], env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError("db.tool_missing", tool=name)
    return found


def _run_tool(cmd: list[str], env: dict[str, str]) -> str:
    try:
        done = subprocess.run(
            cmd, env=env, capture_output=True, text=True, timeout=PG_TIMEOUT_SECONDS, check=False
        )
    except subprocess.TimeoutExpired:
        raise BackupError("db.tool_failed", tool=Path(cmd[0]).name, error="timeout") from None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        error = lines[-1] if lines else f"exit {done.returncode}"
        raise BackupError("db.tool_failed", tool=Path(cmd[0]).name, error=error[:300])
    return done.stdout


def _dump_schemas(path: Path, env: dict[str, str]) -> set[str]:
    """The schemas a custom-format dump creates (from ``pg_restore --list``)."""
    listing = _run_tool([_tool("pg_restore"), "--list", str(path)], env)
    schemas = set()
    for line in listing.splitlines():
        if line.startswith(";") or " SCHEMA " not in line:
            continue
        # "215; 2615 16390 SCHEMA - t_abc postgres"
        parts = line.split()
        i = parts.index("SCHEMA")
        if len(parts) > i + 2:
            schemas.add(parts[i + 2])
    return schemas


async def _pg_tables_with_rows(db: Database) -> list[str]:
    async with db.engine.connect() as conn:
        names = (
            await conn.execute(
                text(
                    "SELECT table_name FROM information_schema.tables "
                    "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
                )
            )
        ).scalars()
        out = []
        for name in list(names):
            if name in BOOKKEEPING:
                continue
            row = (await conn.execute(text(f'SELECT 1 FROM "{name}" LIMIT 1'))).first()
            if row is not None:
                out.append(name)
        return out


async def _pg_schema_exists(db: Database, schema: str) -> bool:
    async with db.engine.connect() as conn:
        found = await conn.execute(
            text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :s"),
            {"s": schema},
        )
        return found.first() is not None


# -- the two commands ----------------------------------------------------------------------
def backup(url: str, schema: str | None, path: Path, *, force: bool = False) -> BackupResult:
    """Write a backup of the database at ``url`` to ``path`` (atomically: a ``.part`` file
    renamed when complete)."""
    url = normalise_url(url)
    if path.exists() and (path.is_dir() or not force):
        raise BackupError("db.backup_exists", path=str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.unlink(missing_ok=True)
    try:
        if is_sqlite(url):
            src = _sqlite_file(url)
            if not src.exists():
                raise BackupError("db.sqlite_missing", path=str(src))
            _sqlite_copy(src, part)
            _sqlite_check(part)
            backend = "sqlite"
        else:
            args, env = _pg_args(url)
            cmd = [_tool("pg_dump"), "-Fc", "--no-owner", "--no-privileges", "-f", str(part)]
            if schema:
                cmd += ["-n", schema]
            _run_tool(cmd + args, env)
            backend = "postgresql"
        part.replace(path)
    finally:
        part.unlink(missing_ok=True)
    os.chmod(path, 0o600)
    return BackupResult(path, backend, path.stat().st_size)


async def restore(
    url: str, schema: str | None, path: Path, *, force: bool = False
) -> RestoreResult:
    """Restore ``path`` into the database at ``url`` (refused when it has data, unless
    ``force``), then apply the migrations a newer version added."""
    url = normalise_url(url)
    kind = backup_format(path)
    backend = "sqlite" if is_sqlite(url) else "postgresql"
    if kind != backend:
        raise BackupError("db.backup_wrong_backend", path=str(path), kind=kind, backend=backend)
    if backend == "sqlite":
        await asyncio.to_thread(_sqlite_restore, path, _sqlite_file(url), force)
        db = Database(url, None)
    else:
        db = Database(url, schema)
        try:
            await _pg_restore(db, url, schema, path, force=force)
        except BaseException:
            await db.dispose()
            raise
    try:
        await db.upgrade()
        tables = (
            len(await asyncio.to_thread(_sqlite_tables_with_rows, _sqlite_file(url)))
            if backend == "sqlite"
            else len(await _pg_tables_with_rows(db))
        )
    finally:
        await db.dispose()
    return RestoreResult(backend, tables)


def _sqlite_restore(path: Path, target: Path, force: bool) -> None:
    _sqlite_check(path)
    busy = _sqlite_tables_with_rows(target)
    if busy and not force:
        raise BackupError("db.restore_not_empty", tables=", ".join(sorted(busy)[:5]))
    target.parent.mkdir(parents=True, exist_ok=True)
    for suffix in ("-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    _sqlite_copy(path, target)


async def _pg_restore(
    db: Database, url: str, schema: str | None, path: Path, *, force: bool
) -> None:
    args, env = _pg_args(url)
    dumped = await asyncio.to_thread(_dump_schemas, path, env)
    if schema:
        if len(dumped) != 1:
            raise BackupError("db.backup_schemas", path=str(path), found=len(dumped))
        source = next(iter(dumped))
        if await _pg_schema_exists(db, schema):
            busy = await _pg_tables_with_rows(db)
            if busy and not force:
                raise BackupError("db.restore_not_empty", tables=", ".join(sorted(busy)[:5]))
        if source != schema and await _pg_schema_exists(db, source):
            # The dump recreates its own schema; it must not land on someone else's.
            raise BackupError("db.restore_schema_taken", source=source, schema=schema)
        async with db.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await db.engine.dispose()
        await asyncio.to_thread(
            _run_tool,
            [_tool("pg_restore"), "--no-owner", "--no-privileges", "--exit-on-error"]
            + ["--single-transaction", *args, str(path)],
            env,
        )
        if source != schema:
            async with db.engine.begin() as conn:
                await conn.execute(text(f'ALTER SCHEMA "{source}" RENAME TO "{schema}"'))
        return
    busy = await _pg_tables_with_rows(db)
    if busy and not force:
        raise BackupError("db.restore_not_empty", tables=", ".join(sorted(busy)[:5]))
    await db.engine.dispose()
    await asyncio.to_thread(
        _run_tool,
        [_tool("pg_restore"), "--no-owner", "--no-privileges", "--clean", "--if-exists"]
        + ["--exit-on-error", "--single-transaction", *args, str(path)],
        env,
    )
