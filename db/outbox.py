"""Writing to the outbox. Sending is the dispatcher's job (see the reminders feature)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import ChannelAccount, Outbox
from db.queries import insert_for
from kernel.messages import Choice

WRITTEN = "bdg.outbox_written"


def new_row(
    *,
    key: str,
    kind: str,
    channel: str,
    chat_id: str,
    text: str,
    now: datetime,
    account_id: int | None = None,
    unit_id: int | None = None,
    batch: str | None = None,
    choices: list[Any] | None = None,
    numbered: bool = True,
    not_before: datetime | None = None,
) -> dict[str, object]:
    """Every column of a new pending outbox row but the claim (what ``enqueue`` writes and
    ``enqueue_many`` takes); ``choices`` in their stored form, ``[key, label, alias]``."""
    return dict(
        key=key,
        kind=kind,
        channel=channel,
        chat_id=chat_id,
        account_id=account_id,
        unit_id=unit_id,
        batch=batch,
        text=text,
        choices=[] if choices is None else choices,
        numbered=numbered,
        status="pending",
        attempts=0,
        last_error=None,
        not_before=not_before or now,
        created_at=now,
        sent_at=None,
    )


async def enqueue(
    s: AsyncSession,
    *,
    key: str,
    account: ChannelAccount,
    text: str,
    kind: str,
    now: datetime,
    choices: Sequence[Choice] = (),
    numbered: bool = True,
    not_before: datetime | None = None,
    unit_id: int | None = None,
    batch: str | None = None,
) -> bool:
    """Add one message unless a row with ``key`` exists; True when a row was written.
    Runs inside the caller's transaction, so it commits with the decision that caused it."""
    values = new_row(
        key=key,
        kind=kind,
        channel=account.channel,
        chat_id=account.chat_id,
        text=text,
        now=now,
        account_id=account.id,
        unit_id=unit_id,
        batch=batch,
        choices=[[c.key, c.label, c.alias] for c in choices],
        numbered=numbered,
        not_before=not_before,
    )
    stmt = insert_for(s)(Outbox).values(**values).on_conflict_do_nothing(index_elements=["key"])
    result = await s.exec(stmt)  # type: ignore[call-overload]
    written = bool(result.rowcount)
    if written:
        s.info[WRITTEN] = True
    return written


def wrote_outbox(s: AsyncSession) -> bool:
    """Whether this session's transaction wrote an outbox row (the caller wakes the outbox
    dispatcher after the commit, so an urgent alert leaves at once, not at the next poll)."""
    return bool(s.info.get(WRITTEN))


@dataclass(frozen=True)
class _Positional:
    """The outbox INSERT compiled once for a dialect with positional parameters (SQLite's
    ``?``, asyncpg's ``$1``), with each parameter's bind processor (JSON, booleans, dates)."""

    sql: str
    names: tuple[str, ...]
    processors: tuple[Callable[[Any], Any] | None, ...]
    columnar: bool = False  # one execution with an array per column (PostgreSQL's unnest)


_COMPILED: dict[tuple[type, str], _Positional | None] = {}
# Columns a new row may leave out (a worker's claim starts empty).
OPTIONAL = frozenset({"claimed_by", "claimed_until"})


def _positional(dialect: Dialect) -> _Positional | None:
    k = (type(dialect), dialect.paramstyle)
    if k not in _COMPILED:
        table = Outbox.__table__  # type: ignore[attr-defined]
        names = [c.name for c in table.columns if c.name != "id"]
        insert = postgresql.insert if dialect.name == "postgresql" else sqlite.insert
        stmt = (
            insert(Outbox)
            .values({n: bindparam(n) for n in names})
            .on_conflict_do_nothing(index_elements=["key"])
        )
        compiled = stmt.compile(dialect=dialect, for_executemany=True)
        order = compiled.positiontup  # type: ignore[attr-defined]
        if not order or sorted(order) != sorted(names):
            _COMPILED[k] = None  # a named paramstyle: the general path
            return None
        procs = tuple(table.c[n].type.dialect_impl(dialect).bind_processor(dialect) for n in order)
        if dialect.name == "postgresql" and dialect.paramstyle == "numeric_dollar":
            _COMPILED[k] = _Positional(_unnest_sql(dialect, order), tuple(order), procs, True)
        else:
            _COMPILED[k] = _Positional(compiled.string, tuple(order), procs)
    return _COMPILED[k]


def _unnest_sql(dialect: Dialect, names: Sequence[str]) -> str:
    """``INSERT … SELECT * FROM unnest($1::VARCHAR[], …) ON CONFLICT DO NOTHING``: thousands
    of rows in one statement (asyncpg's executemany runs one statement per row)."""
    table = Outbox.__table__  # type: ignore[attr-defined]
    q = dialect.identifier_preparer
    cols = ", ".join(q.quote(n) for n in names)
    arrays = ", ".join(
        f"${i}::{table.c[n].type.compile(dialect=dialect)}[]" for i, n in enumerate(names, 1)
    )
    return (
        f"INSERT INTO {q.format_table(table)} ({cols}) SELECT * FROM unnest({arrays}) "
        f"ON CONFLICT ({q.quote('key')}) DO NOTHING"
    )


def _columns(p: _Positional, columns: Mapping[str, Sequence[object]]) -> list[list[object]]:
    """The rows' values column by column, each through its column's bind processor. Values
    shared by many rows (the planner's choices, times) are processed once."""
    out = []
    for name, fn in zip(p.names, p.processors, strict=True):
        values = list(columns[name])
        if fn is not None:
            memo: dict[int, tuple[object, object]] = {}
            for i, v in enumerate(values):
                hit = memo.get(id(v))
                if hit is None or hit[0] is not v:
                    hit = memo[id(v)] = (v, fn(v))
                values[i] = hit[1]
        out.append(values)
    return out


def _rows_to_columns(rows: Sequence[dict[str, object]]) -> tuple[dict[str, list[object]], int]:
    """Column → its values, from rows as ``new_row`` makes them (the claim may be left out)."""
    table = Outbox.__table__  # type: ignore[attr-defined]
    names = [c.name for c in table.columns if c.name != "id"]
    return {n: [row.get(n) if n in OPTIONAL else row[n] for row in rows] for n in names}, len(rows)


async def enqueue_many(
    s: AsyncSession, rows: Sequence[dict[str, object]], chunk: int = 1000
) -> int:
    """Insert many outbox rows (column → value dicts, every column but the claim given), skipping
    keys that exist; returns how many were written (or, where the driver cannot count an
    executemany, how many were given). Same guarantees as ``enqueue``. See
    ``enqueue_columns``."""
    columns, n = _rows_to_columns(rows)
    return await enqueue_columns(s, columns, n, chunk)


async def enqueue_columns(
    s: AsyncSession, columns: Mapping[str, Sequence[object]], n: int, chunk: int = 1000
) -> int:
    """``enqueue_many`` for rows given column by column (column → ``n`` values; the claim
    may be left out): what the planner writes, ~19,000 rows on a busy morning, without a
    dict per row. On SQLite and asyncpg the statement is compiled once and the driver gets
    plain values (one compiled statement executed for each row on SQLite); on PostgreSQL
    each chunk is one statement over arrays."""
    columns = {
        **{k: [None] * n for k in OPTIONAL if k not in columns},
        **columns,
    }
    conn = await s.connection()  # Core executemany, in the session's transaction
    fast = _positional(conn.dialect)
    written = 0
    if fast is None:  # a named paramstyle: the general path, a dict per row
        stmt = insert_for(s)(Outbox).on_conflict_do_nothing(index_elements=["key"])
        names = list(columns)
        rows = [dict(zip(names, vals, strict=True)) for vals in zip(*columns.values(), strict=True)]
        for i in range(0, n, chunk):
            result = await conn.execute(stmt, rows[i : i + chunk])
            written += _count(result.rowcount, len(rows[i : i + chunk]))
        return written
    values = _columns(fast, columns)
    for i in range(0, n, chunk):
        part = [v[i : i + chunk] for v in values]
        size = len(part[0]) if part else 0
        if fast.columnar:
            result = await conn.exec_driver_sql(fast.sql, tuple(part))
        else:
            params = list(zip(*part, strict=True))
            result = await conn.exec_driver_sql(fast.sql, params)  # type: ignore[arg-type]
        written += _count(result.rowcount, size)
    return written


def _count(rowcount: int | None, given: int) -> int:
    count = int(rowcount if rowcount is not None else -1)
    return count if count >= 0 else given
