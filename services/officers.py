"""Officers of a subtree and their channels; deactivating one. The chat's ``/canbo`` and the
web desk's officers page call these functions.

A deactivated officer's channel accounts are detached from the officer and their pending
outbox messages cancelled, so they stop receiving anything; their web sessions end at their
next request (``services.websessions.current``). They would need a new invite.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import ChannelAccount, Officer, Outbox, Unit


async def active_in(s: AsyncSession, root: Unit) -> Sequence[tuple[Officer, Unit]]:
    """The active officers of ``root``'s subtree with their units, in tree order."""
    return (
        await s.exec(
            select(Officer, Unit)
            .join(Unit, col(Unit.id) == col(Officer.unit_id))
            .where(col(Unit.path).startswith(root.path), col(Officer.active).is_(True))
            .order_by(Unit.path, col(Officer.id))
        )
    ).all()


async def channels_of(s: AsyncSession, officer_ids: list[int]) -> dict[int, list[str]]:
    """Each officer's messenger channels (telegram, zalo …), one query."""
    out: dict[int, list[str]] = defaultdict(list)
    if not officer_ids:
        return out
    rows = (
        await s.exec(
            select(ChannelAccount.officer_id, ChannelAccount.channel)
            .where(col(ChannelAccount.officer_id).in_(officer_ids))
            .order_by(col(ChannelAccount.id))
        )
    ).all()
    for officer_id, channel in rows:
        if officer_id is not None and channel not in out[officer_id]:
            out[officer_id].append(channel)
    return out


async def deactivate(s: AsyncSession, officer: Officer) -> int:
    """Deactivate the officer, detach their accounts and cancel what was queued for them;
    returns the number of accounts detached."""
    officer.active = False
    accounts = (
        await s.exec(select(ChannelAccount).where(ChannelAccount.officer_id == officer.id))
    ).all()
    ids = [a.id for a in accounts if a.id is not None]
    for acc in accounts:
        acc.officer_id = None
    if ids:
        await s.exec(  # type: ignore[call-overload]
            update(Outbox)
            .where(col(Outbox.account_id).in_(ids), col(Outbox.status) == "pending")
            .values(status="cancelled", last_error="officer deactivated")
        )
    await s.flush()
    return len(ids)
