"""Each active officer hears on one account: the reachable one they used last; an account
never used counts as oldest; among equals the newest account. (The planner picks it from one
plain join, not a window function.)"""

from __future__ import annotations

from datetime import UTC, datetime

from db.engine import Database
from db.models import ChannelAccount, Conversation, Officer, Unit
from scheduler.planner import _recipients


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
