"""Queries shared by handlers; SQL stays here, not in conversation code."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import ChannelAccount, Officer, Report, ReportValue, ReportVersion, Unit


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
