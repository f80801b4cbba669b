"""Queries shared by handlers; SQL stays here, not in conversation code."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import and_
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.sqltypes import UTCDateTime

from db.models import (
    ChannelAccount,
    Conversation,
    Officer,
    ProcessedUpdate,
    Report,
    ReportValue,
    ReportVersion,
    Unit,
)


def insert_for(s: AsyncSession) -> Any:
    """The dialect's INSERT (for ON CONFLICT … DO NOTHING, on SQLite and PostgreSQL alike)."""
    dialect = s.bind.dialect.name if s.bind is not None else "sqlite"
    return postgresql.insert if dialect == "postgresql" else sqlite.insert


def _is_pg(s: AsyncSession) -> bool:
    return s.bind is not None and s.bind.dialect.name == "postgresql"


def _dedupe_insert(dialect: str, legacy: bool) -> Any:
    """INSERT the dedupe key unless it is known (also as the ``legacy`` plain key), RETURNING
    it; parameters ``key``, ``at`` (and ``legacy``)."""
    table: sa.Table = ProcessedUpdate.__table__  # type: ignore[attr-defined]
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    if not legacy:
        stmt = insert(table).values(key=sa.bindparam("key"), at=sa.bindparam("at"))
    else:
        known = sa.exists().where(table.c.key == sa.bindparam("legacy", type_=sa.String()))
        row = sa.select(
            sa.bindparam("key", type_=sa.String()), sa.bindparam("at", type_=UTCDateTime())
        ).where(~known)
        stmt = insert(table).from_select(["key", "at"], row)
    return stmt.on_conflict_do_nothing(index_elements=["key"]).returning(table.c.key)


@functools.cache
def _statement(name: str, dialect: str, variant: bool = False) -> Any:
    """The hot path's statements, built once per process with bound parameters: building a
    SQLAlchemy statement costs more CPU than SQLite takes to run it, and a statement object
    used again also keeps its compiled form (the cache key is memoised on the object)."""
    if name == "dedupe":
        return _dedupe_insert(dialect, variant)
    if name == "lock":  # PostgreSQL: the writer's account row, FOR UPDATE (see begin_update)
        lock = (
            select(col(ChannelAccount.id))
            .where(
                col(ChannelAccount.channel) == sa.bindparam("channel"),
                col(ChannelAccount.user_id) == sa.bindparam("user_id"),
            )
            .with_for_update()
            .scalar_subquery()
        )
        if not variant:
            return sa.select(lock)
        ins = _dedupe_insert(dialect, True).cte("fresh")
        fresh = sa.select(sa.func.count()).select_from(ins).scalar_subquery()
        return sa.select(fresh, lock)
    assert name == "writer"
    return _writer_select(dialect)


def _params(key: str, at: datetime, legacy: str | None) -> dict[str, Any]:
    # (PostgreSQL's locking statement always checks the legacy key: the plain key again
    # when there is none.)
    return {"key": key, "at": at, "legacy": legacy if legacy is not None else key}


def _dialect(s: AsyncSession) -> str:
    return s.bind.dialect.name if s.bind is not None else "sqlite"


async def mark_processed(
    s: AsyncSession, key: str, at: datetime, legacy: str | None = None
) -> bool:
    """Record an update's dedupe key in one statement; False when it was recorded before (the
    same update delivered twice), also when it was recorded as ``legacy`` (the plain key an
    earlier version stored)."""
    plain = legacy is None or legacy == key
    stmt = _statement("dedupe", _dialect(s), not plain)
    result = await s.exec(stmt, params=_params(key, at, legacy))
    return result.first() is not None


async def was_processed(s: AsyncSession, key: str, legacy: str | None = None) -> bool:
    """Whether an update's key (or the plain ``legacy`` key) was stored before, read only."""
    keys = [key] if legacy is None else [key, legacy]
    found = await s.exec(select(ProcessedUpdate.key).where(col(ProcessedUpdate.key).in_(keys)))
    return found.first() is not None


async def store_keys(s: AsyncSession, keys: dict[str, datetime]) -> None:
    """Store dedupe keys (key → coarse time) in one statement; keys stored already are kept."""
    rows = [{"key": k, "at": at} for k, at in keys.items()]
    stmt = (
        insert_for(s)(ProcessedUpdate).values(rows).on_conflict_do_nothing(index_elements=["key"])
    )
    await s.exec(stmt)  # type: ignore[call-overload]


async def begin_update(
    s: AsyncSession,
    channel: str,
    user_id: str,
    key: str | None,
    at: datetime,
    legacy: str | None = None,
) -> bool:
    """The first statement of an update's transaction: record its dedupe key (False when the
    update was seen before) and, on PostgreSQL, lock the writer's account row.

    On PostgreSQL both happen in ONE statement (the insert as a data-modifying CTE, the lock
    as a ``FOR UPDATE`` subquery). The lock is taken here, before anything of the writer is
    read, on purpose: in READ COMMITTED a statement that waits for a row lock still returns
    the *other* joined rows (the conversation) as of its own start, so locking in the joined
    SELECT could hand back a conversation state another worker has just replaced. The next
    statement starts a new snapshot after the lock is ours and sees the latest state. Several
    workers thus apply one chat's updates one after another. A first message (no account
    row yet) locks nothing; two workers creating the same account race on its unique key and
    the loser runs again (the dispatcher's retry).

    SQLite has one writer at a time (``BEGIN IMMEDIATE``), so only the key is inserted."""
    if not _is_pg(s):
        return key is None or await mark_processed(s, key, at, legacy)
    who = {"channel": channel, "user_id": user_id}
    if key is None:
        await s.exec(_statement("lock", "postgresql", False), params=who)
        return True
    stmt = _statement("lock", "postgresql", True)
    row = (await s.exec(stmt, params=who | _params(key, at, legacy))).one()
    return bool(row[0])


@dataclass
class Writer:
    """Who is writing and where they are: each part None when absent. ``report`` and its
    ``values`` are loaded only while the conversation is in the report flow."""

    account: ChannelAccount | None = None
    conv: Conversation | None = None
    officer: Officer | None = None
    unit: Unit | None = None
    report: Report | None = None
    values: dict[str, Any] | None = None


def _answers(dialect: str) -> Any:
    """The report's answers as one JSON object ``{question_id: value}`` (NULL without any):
    a correlated subquery, so the writer's SELECT returns one row instead of one per answer
    (forty rows of six ORM entities cost far more to turn into objects than to read)."""
    values: sa.Table = ReportValue.__table__  # type: ignore[attr-defined]
    if dialect == "postgresql":
        agg = sa.func.json_object_agg(values.c.question_id, values.c.value)
    else:  # the stored JSON text, embedded as JSON (not as a string)
        agg = sa.func.json_group_object(values.c.question_id, sa.func.json(values.c.value))
    return (
        sa.select(sa.type_coerce(agg, sa.JSON()))
        .where(values.c.report_id == col(Report.id))
        .correlate(Report)
        .scalar_subquery()
    )


def _writer_select(dialect: str) -> Any:
    report_id = col(Conversation.state)["report_id"].as_integer()
    return (
        sa.select(ChannelAccount, Conversation, Officer, Unit, Report, _answers(dialect))
        .select_from(ChannelAccount)
        .outerjoin(Conversation, col(Conversation.account_id) == col(ChannelAccount.id))
        .outerjoin(
            Officer,
            and_(col(Officer.id) == col(ChannelAccount.officer_id), col(Officer.active).is_(True)),
        )
        .outerjoin(Unit, col(Unit.id) == col(Officer.unit_id))
        .outerjoin(
            Report,
            and_(
                col(Conversation.flow) == "report",
                col(Report.id) == report_id,
            ),
        )
        .where(
            col(ChannelAccount.channel) == sa.bindparam("channel"),
            col(ChannelAccount.user_id) == sa.bindparam("user_id"),
        )
    )


async def writer(s: AsyncSession, channel: str, user_id: str) -> Writer:
    """Who is writing, in one query: the account, its conversation, its active officer and the
    officer's unit, and, when the conversation is in the report flow, the open report with all
    its answers (as one JSON object), so an answer costs no second read.

    Call it after ``begin_update``, which took the account's lock on PostgreSQL."""
    stmt = _statement("writer", _dialect(s))
    row = (await s.exec(stmt, params={"channel": channel, "user_id": user_id})).first()
    if row is None:
        return Writer()
    account, conv, officer, unit, report, answers = row
    values = dict(answers or {}) if report is not None else None
    return Writer(account, conv, officer, unit, report, values)


async def unit_by_code(s: AsyncSession, code: str) -> Unit | None:
    return (await s.exec(select(Unit).where(Unit.code == code))).first()


async def subtree(s: AsyncSession, unit: Unit) -> Sequence[Unit]:
    """The unit and all units below it, at any depth."""
    return (
        await s.exec(select(Unit).where(col(Unit.path).startswith(unit.path)).order_by(Unit.path))
    ).all()


async def ancestors(s: AsyncSession, unit: Unit) -> list[Unit]:
    """Ancestors nearest first (parent, grandparent …)."""
    ids = [int(x) for x in unit.path.strip("/").split("/") if x][:-1]
    if not ids:
        return []
    rows = {u.id: u for u in (await s.exec(select(Unit).where(col(Unit.id).in_(ids)))).all()}
    return [rows[i] for i in reversed(ids) if i in rows]


async def account(s: AsyncSession, channel: str, user_id: str) -> ChannelAccount | None:
    return (
        await s.exec(
            select(ChannelAccount).where(
                ChannelAccount.channel == channel, ChannelAccount.user_id == user_id
            )
        )
    ).first()


async def officer_accounts(s: AsyncSession, officer_id: int) -> Sequence[ChannelAccount]:
    return (
        await s.exec(select(ChannelAccount).where(ChannelAccount.officer_id == officer_id))
    ).all()


async def unit_officers(
    s: AsyncSession, unit_id: int, role: str | None = None
) -> Sequence[Officer]:
    q = select(Officer).where(Officer.unit_id == unit_id, col(Officer.active).is_(True))
    if role:
        q = q.where(Officer.role == role)
    return (await s.exec(q)).all()


async def report_for(s: AsyncSession, unit_id: int, period: str) -> Report | None:
    return (
        await s.exec(select(Report).where(Report.unit_id == unit_id, Report.period == period))
    ).first()


async def report_values(s: AsyncSession, report_id: int) -> dict[str, object]:
    rows = (await s.exec(select(ReportValue).where(ReportValue.report_id == report_id))).all()
    return {r.question_id: r.value for r in rows}


async def latest_version(s: AsyncSession, report_id: int) -> ReportVersion | None:
    return (
        await s.exec(
            select(ReportVersion)
            .where(ReportVersion.report_id == report_id)
            .order_by(col(ReportVersion.version).desc())
        )
    ).first()


def child_path(parent: Unit | None, unit_id: int) -> str:
    return f"{parent.path if parent else '/'}{unit_id}/"
