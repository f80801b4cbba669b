"""Two workers (two dispatchers, as two `bdg serve` processes would have) on one database:
a person's first messages arriving at both at once both get an answer, and concurrent updates
of one person are applied one after the other (the account row is locked per transaction)."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from db.engine import Database, make_engine
from db.models import ChannelAccount, Conversation, ProcessedUpdate
from handlers.dispatch import Dispatcher
from kernel.messages import Choice, Incoming, Menu
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


def _pg_only(db_config: dict[str, str | None]) -> None:
    if db_config["backend"] != "postgresql":
        pytest.skip("PostgreSQL only (SQLite has one process and one writer)")


async def test_an_update_waiting_for_another_worker_sees_the_conversation_it_left(
    demo_db: Database, clock: Clock, db_config: dict[str, str | None]
) -> None:
    """Another worker holds the person's lock and moves the conversation on (here: asks for
    the language); the update that waited for the lock must read that new state, not the
    state as it was when it started waiting (READ COMMITTED snapshots per statement)."""
    _pg_only(db_config)
    worker = Dispatcher(demo_db, Services(), clock=clock)
    await worker.handle(_msg("u-wait", "xin chào", 0))
    menu = Menu([Choice("vi", "Tiếng Việt"), Choice("en", "English")]).to_json()
    async with demo_db.engine.connect() as other:
        await other.begin()
        account_id = (
            await other.execute(
                sa.text("SELECT id FROM channelaccount WHERE user_id = 'u-wait' FOR UPDATE")
            )
        ).scalar_one()
        await other.execute(
            sa.update(Conversation)
            .where(col(Conversation.account_id) == account_id)
            .values(flow="language", menu=menu)
        )
        waiting = asyncio.create_task(worker.handle(_msg("u-wait", "English", 1)))
        await asyncio.sleep(0.5)
        assert not waiting.done()  # it waits for the other worker's lock
        await other.commit()
    out = await waiting
    assert not out.failed and "English" in out.replies[0].text
    async with demo_db.session() as s:
        account = (await s.exec(select(ChannelAccount))).one()
        conv = (await s.exec(select(Conversation))).one()
    assert account.lang == "en" and conv.flow is None


async def test_a_connection_killed_while_idle_costs_one_retry_not_the_message(
    demo_db: Database, clock: Clock, db_config: dict[str, str | None]
) -> None:
    """No ping before each transaction: the pooled connection the server killed (a restart, an
    idle timeout) fails the first statement, and the dispatcher runs the update again on a
    fresh connection."""
    _pg_only(db_config)
    worker = Dispatcher(demo_db, Services(), clock=clock)
    await worker.handle(_msg("u-dead", "xin chào", 0))
    async with demo_db.engine.connect() as conn:
        pid = (await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
    assert demo_db.engine.pool.checkedin() == 1  # the next update gets this very connection
    killer = make_engine(str(db_config["url"]))
    async with killer.connect() as conn:
        assert (await conn.execute(sa.text(f"SELECT pg_terminate_backend({pid})"))).scalar()
    await killer.dispose()
    connects = []
    sa.event.listen(demo_db.engine.sync_engine, "connect", lambda *_: connects.append(1))
    out = await worker.handle(_msg("u-dead", "/ngonngu en", 1))
    assert not out.failed and out.replies
    assert connects == [1]  # one new connection: the update ran again on it
    async with demo_db.session() as s:
        account = (await s.exec(select(ChannelAccount))).one()
        keys = (await s.exec(select(ProcessedUpdate))).all()
    assert account.lang == "en" and len(keys) == 2
