"""Two workers (two dispatchers, as two `bdg serve` processes would have) on one database:
a person's first messages arriving at both at once both get an answer, and concurrent updates
of one person are applied one after the other (the account row is locked per transaction)."""

from __future__ import annotations

import asyncio

from sqlmodel import select

from db.engine import Database
from db.models import ChannelAccount, ProcessedUpdate
from handlers.dispatch import Dispatcher
from kernel.messages import Incoming
from kernel.settings import Services
from tests.chat import Clock


def _msg(user: str, text: str, n: int) -> Incoming:
    return Incoming(
        channel="telegram", chat_id=user, user_id=user, text=text, dedupe_key=f"t:{user}:{n}"
    )


async def test_first_messages_of_one_person_at_two_workers_both_get_answers(
    demo_db: Database, clock: Clock
) -> None:
    a = Dispatcher(demo_db, Services(), clock=clock)
    b = Dispatcher(demo_db, Services(), clock=clock)
    for user in ("u-race-1", "u-race-2", "u-race-3"):
        outcomes = await asyncio.gather(
            a.handle(_msg(user, "xin chào", 1)), b.handle(_msg(user, "/trogiup", 2))
        )
        assert not any(o.failed for o in outcomes), user
        assert all(o.replies for o in outcomes)
    async with demo_db.session() as s:
        accounts = (await s.exec(select(ChannelAccount))).all()
    assert sorted(x.user_id for x in accounts) == ["u-race-1", "u-race-2", "u-race-3"]


async def test_concurrent_updates_of_one_person_are_applied_one_by_one(
    demo_db: Database, clock: Clock
) -> None:
    workers = [Dispatcher(demo_db, Services(), clock=clock) for _ in range(2)]
    user = "u-serial"
    await workers[0].handle(_msg(user, "xin chào", 0))
    # Language switches arriving at both workers at once: every one is applied, none lost.
    texts = ["/ngonngu en", "/ngonngu vi"] * 5
    outcomes = await asyncio.gather(
        *(workers[i % 2].handle(_msg(user, text, i + 1)) for i, text in enumerate(texts))
    )
    assert not any(o.failed or o.duplicate for o in outcomes)
    async with demo_db.session() as s:
        keys = (await s.exec(select(ProcessedUpdate))).all()
        account = (await s.exec(select(ChannelAccount))).one()
    assert len(keys) == len(texts) + 1
    assert account.lang in ("vi", "en")
