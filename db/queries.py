"""Queries shared by handlers; SQL stays here, not in conversation code."""

from __future__ import annotations

from collections.abc import Sequence
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


async def mark_processed(
    s: AsyncSession, key: str, at: datetime, legacy: str | None = None
) -> bool:
    """Record an update's dedupe key in one statement; False when it was recorded before (the
    same update delivered twice), also when it was recorded as ``legacy`` (the plain key an
    earlier version stored)."""
    if legacy is None or legacy == key:
        stmt = insert_for(s)(ProcessedUpdate).values(key=key, at=at)
    else:
        known = sa.exists().where(col(ProcessedUpdate.key) == legacy)
        row = sa.select(sa.literal(key, sa.String()), sa.literal(at, UTCDateTime())).where(~known)
        stmt = insert_for(s)(ProcessedUpdate).from_select(["key", "at"], row)
    stmt = stmt.on_conflict_do_nothing(index_elements=["key"]).returning(col(ProcessedUpdate.key))
    return (await s.exec(stmt)).first() is not None  # type: ignore[call-overload]


async def writer(
    s: AsyncSession, channel: str, user_id: str
) -> tuple[ChannelAccount | None, Conversation | None, Officer | None, Unit | None]:
    """Who is writing, in one query: the account, its conversation, its active officer and the
    officer's unit (each None when absent).

    The account row is locked for the rest of the transaction (``FOR UPDATE``; SQLite has one
    writer anyway), so with several workers on PostgreSQL two updates of the same person are
    applied one after the other and never overwrite each other's conversation state."""
    stmt = (
        select(ChannelAccount, Conversation, Officer, Unit)
        .select_from(ChannelAccount)
        .outerjoin(Conversation, col(Conversation.account_id) == col(ChannelAccount.id))
        .outerjoin(
            Officer,
            and_(col(Officer.id) == col(ChannelAccount.officer_id), col(Officer.active).is_(True)),
        )
        .outerjoin(Unit, col(Unit.id) == col(Officer.unit_id))
        .where(ChannelAccount.channel == channel, ChannelAccount.user_id == user_id)
        .with_for_update(of=ChannelAccount)  # type: ignore[arg-type]
    )
    row = (await s.exec(stmt)).first()
    if row is None:
        return None, None, None, None
    account, conv, officer, unit = row
    return account, conv, officer, unit


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
