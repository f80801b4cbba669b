"""The planner's recipients: every active officer on the reachable account they used last.

Reading them is one join of ``officer`` and ``channelaccount`` (~10,000 rows at national
scale, the largest query of a tick), so :class:`RecipientCache` keeps them between ticks and
re-reads them only when the ``recipients`` change counter (``db.schedule.ChangeCounter``)
moved: triggers in the database change it with every committed insert, update or delete of
an officer or an account, whichever process wrote it, so several ``bdg serve`` processes
sharing one PostgreSQL database stay correct.

Which account an officer used last changes with every conversation, so it is not cached: the
cache keeps each officer's reachable accounts, and each tick reads the conversation times of
the officers who have more than one (a few rows; none for most officers).

Order matters: the counter is read *before* the join. A write committed in between makes the
cache hold newer data under the older value, which only costs one more read at the next tick;
the other order could keep stale data for good.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import ChannelAccount, Conversation, Officer
from db.schedule import ChangeCounter
from kernel.i18n import normalise_lang
from scheduler.decide import Recipient

COUNTER = "recipients"


@dataclass(frozen=True)
class Candidates:
    """Active officers with their reachable accounts, ordered by officer id."""

    single: dict[int, Recipient]  # officers with exactly one reachable account
    multi: dict[int, list[Recipient]]  # the others, each account a candidate


async def counter(s: AsyncSession) -> int | None:
    """The current value of the ``recipients`` change counter (None before the migration)."""
    q = sa_select(col(ChangeCounter.n)).where(col(ChangeCounter.name) == COUNTER)
    return (await s.exec(q)).scalar_one_or_none()  # type: ignore[call-overload,no-any-return]


async def candidates(s: AsyncSession) -> Candidates:
    """One plain join of active officers and their reachable accounts."""
    q = (
        sa_select(
            col(Officer.id),
            col(Officer.unit_id),
            col(Officer.full_name),
            col(Officer.role),
            col(Officer.mute_action_months),
            col(ChannelAccount.id),
            col(ChannelAccount.channel),
            col(ChannelAccount.chat_id),
            col(ChannelAccount.lang),
        )
        .join(ChannelAccount, col(ChannelAccount.officer_id) == col(Officer.id))
        .where(col(Officer.active).is_(True), col(ChannelAccount.unreachable).is_(False))
    )
    langs: dict[str | None, str] = {}
    by_officer: dict[int, list[Recipient]] = {}
    for oid, uid, name, role, muted, acc_id, channel, chat_id, lang in (await s.exec(q)).all():  # type: ignore[call-overload]
        if lang not in langs:
            langs[lang] = normalise_lang(lang)
        r = Recipient(oid, uid, name, role, bool(muted), acc_id, channel, chat_id, langs[lang])
        by_officer.setdefault(oid, []).append(r)
    single: dict[int, Recipient] = {}
    multi: dict[int, list[Recipient]] = {}
    for oid in sorted(by_officer):
        accounts = by_officer[oid]
        if len(accounts) == 1:
            single[oid] = accounts[0]
        else:
            multi[oid] = accounts
    return Candidates(single, multi)


async def last_used(s: AsyncSession, account_ids: Iterable[int]) -> dict[int, Any]:
    """Account id → its conversation's ``updated_at``, read as stored (no datetime parsing:
    the values are only compared with each other, ISO text on SQLite, timestamps on
    PostgreSQL)."""
    ids = sorted(set(account_ids))
    out: dict[int, Any] = {}
    used = sa.type_coerce(col(Conversation.updated_at), sa.String())
    for i in range(0, len(ids), 500):
        q = sa_select(col(Conversation.account_id), used).where(
            col(Conversation.account_id).in_(ids[i : i + 500])
        )
        out.update((int(a), u) for a, u in (await s.exec(q)).all())  # type: ignore[call-overload]
    return out


def choose(c: Candidates, used: dict[int, Any]) -> list[Recipient]:
    """Each officer on the account used last (the latest conversation); an account never
    used counts as oldest; then the newest account. Ordered by officer id."""
    if not c.multi:
        return list(c.single.values())  # already by officer id
    chosen = dict(c.single)
    for oid, accounts in c.multi.items():
        chosen[oid] = max(accounts, key=lambda r: _rank(r, used))
    return [chosen[oid] for oid in sorted(chosen)]


def _rank(r: Recipient, used: dict[int, Any]) -> tuple[bool, Any, int]:
    at = used.get(r.account_id)
    return (at is not None, at if at is not None else "", r.account_id)


async def recipients(s: AsyncSession) -> list[Recipient]:
    """Active officers, each with the reachable account they used last (no cache)."""
    c = await candidates(s)
    return choose(c, await last_used(s, _multi_accounts(c)))


def _multi_accounts(c: Candidates) -> list[int]:
    return [r.account_id for accounts in c.multi.values() for r in accounts]


class RecipientCache:
    """The recipients kept between ticks (one per planning process; see the module doc)."""

    def __init__(self) -> None:
        self._value: int | None = None
        self._candidates: Candidates | None = None
        self.reads = 0  # joins run (tests and benches)

    async def refresh(self, s: AsyncSession) -> Candidates:
        """The candidates, re-read when the change counter moved since the last read."""
        value = await counter(s)
        if value is None or value != self._value or self._candidates is None:
            self._candidates = await candidates(s)
            self._value = value
            self.reads += 1
        return self._candidates

    async def get(self, s: AsyncSession) -> list[Recipient]:
        c = await self.refresh(s)
        return choose(c, await last_used(s, _multi_accounts(c)))

    def clear(self) -> None:
        self._value = None
        self._candidates = None
