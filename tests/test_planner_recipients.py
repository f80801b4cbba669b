"""Each active officer hears on one account: the reachable one they used last; an account
never used counts as oldest; among equals the newest account. (The planner picks it from one
plain join, not a window function.)"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, delete, select

from db.engine import Database
from db.models import ChannelAccount, Conversation, Officer, Unit
from scheduler import render
from scheduler.planner import _recipients
from scheduler.recipients import RecipientCache
from tests.chat import Clock
from tests.conftest import local
from tests.reminders_support import World, add_officer, build_tree, submit


def at(hour: int) -> datetime:
    return datetime(2026, 11, 20, hour, tzinfo=UTC)


async def test_the_account_used_last_is_chosen(db: Database) -> None:
    async with db.session() as s:
        unit = Unit(code="X1", name="Xã 1", kind="commune")
        s.add(unit)
        await s.flush()
        assert unit.id is not None
        people = [
            Officer(unit_id=unit.id, full_name=f"Cán bộ {i}", position="CB") for i in range(4)
        ]
        people[3].active = False
        s.add_all(people)
        await s.flush()
        a, b, c, d = people
        accounts = {
            # a: used at 9 on Telegram, at 10 on Zalo, never on the newest terminal account
            "a-tg": ChannelAccount(channel="telegram", user_id="1", chat_id="1", officer_id=a.id),
            "a-zalo": ChannelAccount(channel="zalo", user_id="2", chat_id="2", officer_id=a.id),
            "a-term": ChannelAccount(channel="terminal", user_id="3", chat_id="3", officer_id=a.id),
            # b: never used either account: the newer one
            "b-1": ChannelAccount(channel="telegram", user_id="4", chat_id="4", officer_id=b.id),
            "b-2": ChannelAccount(channel="zalo", user_id="5", chat_id="5", officer_id=b.id),
            # c: the account used last is unreachable: the other one
            "c-1": ChannelAccount(channel="telegram", user_id="6", chat_id="6", officer_id=c.id),
            "c-2": ChannelAccount(
                channel="zalo", user_id="7", chat_id="7", officer_id=c.id, unreachable=True
            ),
            "d-1": ChannelAccount(channel="telegram", user_id="8", chat_id="8", officer_id=d.id),
        }
        s.add_all(accounts.values())
        await s.flush()
        for name, hour in (("a-tg", 9), ("a-zalo", 10), ("c-1", 8), ("c-2", 11)):
            account_id = accounts[name].id
            assert account_id is not None
            s.add(Conversation(account_id=account_id, updated_at=at(hour)))
    async with db.session() as s:
        chosen = {r.officer_id: r.account_id for r in await _recipients(s)}
    assert chosen == {
        a.id: accounts["a-zalo"].id,
        b.id: accounts["b-2"].id,
        c.id: accounts["c-1"].id,
    }


# -- the cache between ticks ---------------------------------------------------------------------


async def test_the_cache_reads_again_only_when_an_officer_or_account_changed(
    db: Database,
) -> None:
    """Another process (its own engine on the same database) links, removes and blocks
    officers between ticks: the next tick sees each change; nothing changed, no join."""
    tree = await build_tree(db)
    other = Database(db.url, db.schema)  # another ``bdg serve`` sharing the database
    cache = RecipientCache()

    async def chosen() -> dict[int, int]:
        async with db.session() as s:
            return {r.officer_id: r.account_id for r in await cache.get(s)}

    first = await chosen()
    assert set(first) == {oid for oid, _ in tree.officers.values()}
    assert cache.reads == 1
    # Writes elsewhere that do not touch officers or accounts: still the cached join.
    await submit(other, tree.units["C1"], "2026", local("2026-12-04T09:00"))
    async with other.session() as s:
        account_id = first[tree.officers["o1"][0]]
        conv = (
            await s.exec(select(Conversation).where(Conversation.account_id == account_id))
        ).one()
        conv.updated_at = at(12)
    assert await chosen() == first
    assert cache.reads == 1

    # A new officer linked by the other process.
    newcomer = await add_officer(other, tree.units["C1"], "new")
    assert newcomer in await chosen()
    assert cache.reads == 2
    # Deactivated.
    async with other.session() as s:
        o = await s.get(Officer, newcomer)
        assert o is not None
        o.active = False
    assert newcomer not in await chosen()
    # An account unlinked (deleted): its officer has no account left.
    o2, _ = tree.officers["o2"]
    async with other.session() as s:
        await s.exec(delete(Conversation).where(Conversation.account_id == first[o2]))  # type: ignore[call-overload]
        await s.exec(delete(ChannelAccount).where(ChannelAccount.id == first[o2]))  # type: ignore[call-overload]
    assert o2 not in await chosen()
    # Marked unreachable (the dispatcher's 403).
    o3, _ = tree.officers["o3"]
    async with other.session() as s:
        acc = await s.get(ChannelAccount, first[o3])
        assert acc is not None
        acc.unreachable = True
    assert o3 not in await chosen()
    # A write rolled back changes nothing.
    reads = cache.reads
    async with other.engine.connect() as conn:
        await conn.execute(sa.update(Officer.__table__).values(full_name="X"))  # type: ignore[attr-defined]
        await conn.rollback()
    await chosen()
    assert cache.reads == reads
    await other.dispose()


async def test_the_account_used_last_is_read_at_every_tick_without_reading_officers_again(
    db: Database,
) -> None:
    tree = await build_tree(db)
    o1, _ = tree.officers["o1"]
    async with db.session() as s:
        tg = ChannelAccount(channel="telegram", user_id="o1-tg", chat_id="o1-tg", officer_id=o1)
        s.add(tg)
        await s.flush()
        assert tg.id is not None
        # the latest conversation (add_officer's Zalo one is of now)
        s.add(Conversation(account_id=tg.id, updated_at=datetime(2030, 1, 1, tzinfo=UTC)))
    cache = RecipientCache()

    async def account_of_o1() -> int:
        async with db.session() as s:
            return {r.officer_id: r.account_id for r in await cache.get(s)}[o1]

    assert await account_of_o1() == tg.id
    async with db.session() as s:  # o1 answers on Zalo now
        conv = (
            await s.exec(
                select(Conversation)
                .join(ChannelAccount, col(ChannelAccount.id) == col(Conversation.account_id))
                .where(ChannelAccount.officer_id == o1, ChannelAccount.channel == "zalo")
            )
        ).one()
        conv.updated_at = datetime(2030, 1, 2, tzinfo=UTC)
        zalo = conv.account_id
    assert await account_of_o1() == zalo
    assert cache.reads == 1


async def test_a_unit_that_submits_between_ticks_hears_no_more(db: Database) -> None:
    tree = await build_tree(db)
    w = World(db, Clock(local("2026-12-04T08:00")))
    other = Database(db.url, db.schema)
    first = await w.tick()
    reminded = {p.officer_id for p in first.planned if p.kind == "reminder"}
    o1, o2 = tree.officers["o1"][0], tree.officers["o2"][0]
    assert {o1, o2} <= reminded
    await submit(other, tree.units["C1"], "2026", local("2026-12-04T10:00"))
    again = await w.tick("2026-12-07T08:00")  # the due day: another reminder
    reminded = {p.officer_id for p in again.planned if p.kind == "reminder"}
    assert o2 in reminded and o1 not in reminded
    assert w.recipients.reads == 1  # the same recipients, read once
    await other.dispose()


async def test_a_tick_whose_keys_are_all_written_renders_nothing(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    await build_tree(db)
    w = World(db, Clock(local("2026-12-07T08:00")))
    first = await w.tick()
    assert len(first.planned) == 6  # three reminders, three alerts
    rendered: list[str] = []
    for name in ("deadline_text", "action_text", "compile_text", "digest_text"):
        real = getattr(render, name)

        def spy(*a: Any, _real: Any = real, _name: str = name, **k: Any) -> Any:
            rendered.append(_name)
            return _real(*a, **k)

        monkeypatch.setattr(render, name, spy)
    again = await w.tick("2026-12-07T08:15")
    assert again.planned == [] and again.existing == 6
    assert rendered == []
    # The spies do count: a day with new keys renders.
    await w.tick("2026-12-08T08:00")
    assert rendered
