"""The Zalo OA channel in-process against the loopback OA stand-in: OAuth tokens stored
encrypted and refreshed by one store at a time (two stores = two processes), the signed
webhook (wrong, missing and stale signatures refused), replies with buttons and split texts,
and the outbox's choice between a consultation message, a transaction template, a ZNS
message and "unreachable" — never a template to a case reporter."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlmodel import col, select

from bot.app import App
from bot.web import create_web_app
from bot.zalo_oa.channel import WEBHOOK_PATH, ZaloOAChannel
from bot.zalo_oa.client import CS_PATH, OAAuthError, OAClient
from bot.zalo_oa.tokens import TokenStore
from db.crypto import Keyring, new_key_spec
from db.engine import Database
from db.models import ChannelAccount, Officer, Outbox, ProcessedUpdate, Unit
from db.outbox import enqueue
from db.schedule import UnreachableNotice
from db.zalo_oa import ZaloOAToken, ZaloOAUser, touch_user
from handlers.dispatch import Dispatcher
from kernel.channel import Rejected, RetryLater, Transient, Unreachable
from kernel.clock import utcnow
from kernel.messages import Choice, Reply
from kernel.settings import SchedulerSettings, Settings, ZaloOASettings
from scheduler.budget import Limit, MemoryBudget
from scheduler.dispatcher import OutboxDispatcher
from services.privacy import dedupe_digest
from tests.chat import Chat, Clock
from tests.fakes.zalo_oa import FakeZaloOA
from tests.test_linking import get_code

OFFICER = "8812345678901"
REPORTER = "9912345678902"
TEMPLATE = "tpl-remind-1"
ZNS = "zns-remind-1"


@pytest.fixture(scope="module")
def oa_server() -> Iterator[FakeZaloOA]:
    with FakeZaloOA() as fake:
        yield fake


@pytest.fixture
def oa(oa_server: FakeZaloOA) -> FakeZaloOA:
    oa_server.sent.clear()
    oa_server.token_calls.clear()
    oa_server.approved = {TEMPLATE}
    oa_server.approved_zns = {ZNS}
    return oa_server


@pytest.fixture
def keyring() -> Keyring:
    return Keyring.parse(new_key_spec("t1"))


def oa_settings(oa: FakeZaloOA, **extra: Any) -> ZaloOASettings:
    return ZaloOASettings(
        ZALO_OA_APP_ID=oa.app_id,
        ZALO_OA_SECRET_KEY=oa.secret_key,
        ZALO_OA_WEBHOOK_KEY=oa.oa_secret,
        ZALO_OA_REFRESH_TOKEN=oa.issue_refresh_token(),
        ZALO_OA_API_URL=oa.url,
        ZALO_OA_OAUTH_URL=oa.url,
        ZALO_OA_ZNS_URL=oa.url,
        **extra,
    )


def make_client(oa: FakeZaloOA) -> OAClient:
    return OAClient(
        app_id=oa.app_id,
        secret_key=oa.secret_key,
        api_url=oa.url,
        oauth_url=oa.url,
        zns_url=oa.url,
    )


@pytest.fixture
async def channel(
    oa: FakeZaloOA, demo_db: Database, dispatcher: Dispatcher, clock: Clock, keyring: Keyring
) -> AsyncIterator[ZaloOAChannel]:
    settings = Settings(
        zalo_oa=oa_settings(oa, ZALO_OA_TRANSACTION_TEMPLATE=TEMPLATE),
        DATABASE_URL=demo_db.url,
    )
    ch = ZaloOAChannel(App(settings, demo_db, dispatcher, clock), keyring=keyring)
    await ch.start(webhook=True)
    yield ch
    await ch.stop()


# --------------------------------------------------------------------------------------------
# Tokens
# --------------------------------------------------------------------------------------------


async def test_two_stores_refresh_once_and_store_tokens_encrypted(
    oa: FakeZaloOA, db: Database, db_config: dict[str, Any], keyring: Keyring
) -> None:
    first = oa.issue_refresh_token()
    other_db = Database(str(db_config["url"]), db_config["schema"])  # a second process
    clients = [make_client(oa), make_client(oa)]
    stores = [TokenStore(db, clients[0], keyring), TokenStore(other_db, clients[1], keyring)]
    try:
        await stores[0].seed(first)
        await stores[1].seed(first)  # the same value again: not taken twice
        tokens = await asyncio.gather(*(s.access_token() for s in stores))
        assert tokens[0] == tokens[1]
        assert [c.ok for c in oa.token_calls] == [True]  # one OAuth call for both

        # The access token dies; both notice at once: still one refresh, with the rotated
        # refresh token (the first one is spent and would fail).
        oa.expire_access_tokens()
        renewed = await asyncio.gather(*(s.refresh(stale=tokens[0]) for s in stores))
        assert renewed[0] == renewed[1] != tokens[0]
        assert [c.ok for c in oa.token_calls] == [True, True]
        assert oa.token_calls[1].refresh_token != first

        async with db.session() as s:
            row = (await s.exec(select(ZaloOAToken))).one()
        assert row.generation == 2
        assert renewed[0] not in (row.access_token or "")  # encrypted at rest
        assert first not in row.refresh_token

        # A refresh token is single use: spending the first one again fails.
        with pytest.raises(OAAuthError):
            await clients[0].refresh(first)
    finally:
        for c in clients:
            await c.close()
        await other_db.dispose()


# --------------------------------------------------------------------------------------------
# Webhook
# --------------------------------------------------------------------------------------------


async def post(channel: ZaloOAChannel, body: bytes, headers: dict[str, str]) -> int:
    web = create_web_app(channel.app, channel.web_routes())
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="http://oa"
    ) as http:
        return (await http.post(WEBHOOK_PATH, content=body, headers=headers)).status_code


async def test_webhook_checks_signature_and_staleness(
    channel: ZaloOAChannel, oa: FakeZaloOA, demo_db: Database
) -> None:
    body, headers = oa.event(OFFICER, "/trogiup", msg_id="m-ok")
    assert await post(channel, body, {**headers, "X-ZEvent-Signature": "mac=" + "0" * 64}) == 403
    assert await post(channel, body, {"Content-Type": "application/json"}) == 403
    old_ms = int((time.time() - 3600) * 1000)
    stale_body, stale_headers = oa.event(OFFICER, "/trogiup", msg_id="m-old", timestamp_ms=old_ms)
    assert await post(channel, stale_body, stale_headers) == 403
    async with demo_db.session() as s:
        assert (await s.exec(select(ProcessedUpdate))).first() is None

    assert await post(channel, body, headers) == 200
    await oa.await_text("/baovuviec", OFFICER)
    assert await post(channel, body, headers) == 200  # redelivered: answered once
    await channel._sender.drain()
    assert len(oa.texts(OFFICER)) == 1
    async with demo_db.session() as s:
        assert await s.get(ProcessedUpdate, dedupe_digest("zalo_oa:m-ok")) is not None
        user = await s.get(ZaloOAUser, OFFICER)
    assert user is not None and user.last_interaction_at is not None


async def test_first_message_menu_has_buttons_and_long_replies_split(
    channel: ZaloOAChannel, oa: FakeZaloOA
) -> None:
    reply = Reply("Chọn", choices=[Choice("a", "Có"), Choice("b", "Không")])
    rendered = channel.render(reply)
    assert [(b.title, b.payload) for b in rendered[-1][1]] == [("Có", "1"), ("Không", "2")]
    many = Reply("Chọn", choices=[Choice(str(i), f"Mục {i}") for i in range(7)])
    assert channel.render(many)[-1][1] == []  # over ZALO_OA_MAX_BUTTONS: numbered list only
    long = Reply("\n".join(f"Dòng {i} " + "x" * 80 for i in range(60)))
    chunks = channel.render(long)
    assert len(chunks) > 1 and all(len(text) <= 2000 for text, _ in chunks)

    body, headers = oa.event(OFFICER, "xin chào")
    assert await post(channel, body, headers) == 200
    await channel._sender.drain()
    sent = oa.sent_to(OFFICER, "cs")
    assert sent and sent[-1].buttons  # the first-contact menu, tappable


# --------------------------------------------------------------------------------------------
# The outbox and the window
# --------------------------------------------------------------------------------------------


async def _account(db: Database, user: str, officer: bool) -> ChannelAccount:
    async with db.session() as s:
        unit = (await s.exec(select(Unit).where(col(Unit.code) == "28303"))).one()
        officer_id = None
        if officer:
            o = Officer(unit_id=unit.id or 0, full_name="Nguyễn Thị Lan", position="CC")
            s.add(o)
            await s.flush()
            officer_id = o.id
        acc = ChannelAccount(channel="zalo_oa", user_id=user, chat_id=user, officer_id=officer_id)
        s.add(acc)
        await s.flush()
        await s.refresh(acc)
        return acc


async def _row(db: Database, acc: ChannelAccount, key: str, unit_id: int | None = None) -> None:
    async with db.session() as s:
        await enqueue(
            s,
            key=key,
            account=acc,
            text="Nhắc: hạn nộp báo cáo năm 2026 là 07/12/2026.",
            kind="reminder",
            now=utcnow(),
            unit_id=unit_id,
            batch="remind:2026:2026-12-01",
        )


async def _status(db: Database, key: str) -> str:
    async with db.session() as s:
        return (await s.exec(select(Outbox).where(col(Outbox.key) == key))).one().status


async def test_outbox_window_templates_and_unreachable(
    channel: ZaloOAChannel, oa: FakeZaloOA, demo_db: Database
) -> None:
    acc = await _account(demo_db, OFFICER, officer=True)
    reporter = await _account(demo_db, REPORTER, officer=False)
    async with demo_db.session() as s:
        unit = (await s.exec(select(Unit).where(col(Unit.code) == "28303"))).one()
        await touch_user(s, OFFICER, utcnow())
        await touch_user(s, REPORTER, utcnow() - timedelta(hours=49))
    oa.interact(OFFICER)
    oa.interact(REPORTER, ago=49 * 3600)
    outbox = OutboxDispatcher(
        demo_db, {"zalo_oa": channel}, settings=SchedulerSettings(BDG_RATE_ZALO_OA=100)
    )

    # Inside the window: a consultation message with the text.
    await _row(demo_db, acc, "r1", unit.id)
    await outbox.run_once()
    assert await _status(demo_db, "r1") == "sent"
    assert "hạn nộp" in oa.texts(OFFICER)[-1]

    # The platform says the window closed (our record is fresh): a transaction template
    # with the reminder's fields, never the free text.
    oa.interact(OFFICER, ago=49 * 3600)
    await _row(demo_db, acc, "r2", unit.id)
    await outbox.run_once()
    assert await _status(demo_db, "r2") == "sent"
    tx = oa.sent_to(OFFICER, "transaction")[-1]
    assert tx.template_id == TEMPLATE
    assert tx.template_data["unit"] == unit.name and tx.template_data["period"] == "2026"
    assert tx.template_data["kind"] == "Nhắc hạn báo cáo"

    # A case reporter outside the window is never written to first.
    await _row(demo_db, reporter, "r3")
    await outbox.run_once()
    assert await _status(demo_db, "r3") == "failed"
    assert oa.sent_to(REPORTER) == []

    # Unfollowed, no phone: unreachable, and the digest will say so.
    oa.unfollow(OFFICER)
    await _row(demo_db, acc, "r4", unit.id)
    await outbox.run_once()
    assert await _status(demo_db, "r4") == "failed"
    async with demo_db.session() as s:
        account = await s.get(ChannelAccount, acc.id)
        notices = (await s.exec(select(UnreachableNotice))).all()
    assert account is not None and account.unreachable
    assert [n.channel for n in notices if n.account_id == acc.id] == ["zalo_oa"]


async def test_zns_to_a_phone_given_with_consent(
    channel: ZaloOAChannel, oa: FakeZaloOA, demo_db: Database
) -> None:
    channel.cfg = channel.cfg.model_copy(update={"transaction_template": None, "zns_template": ZNS})
    acc = await _account(demo_db, OFFICER, officer=True)
    body, headers = oa.event(
        OFFICER,
        event_name="user_submit_info",
        extra={"info": {"phone": "84912345678", "name": "Lan"}},
    )
    assert await post(channel, body, headers) == 200
    async with demo_db.session() as s:
        user = await s.get(ZaloOAUser, OFFICER)
        assert user is not None and user.zns_consent and "84912345678" not in (user.phone or "")
        user.last_interaction_at = utcnow() - timedelta(hours=72)
        s.add(user)
    oa.interact(OFFICER, ago=72 * 3600)
    await _row(demo_db, acc, "z1")
    stats = await OutboxDispatcher(demo_db, {"zalo_oa": channel}).run_once()
    assert stats.sent == 1
    zns = oa.sent_to("84912345678", "zns")
    assert len(zns) == 1 and zns[0].template_id == ZNS
    with pytest.raises(Unreachable):
        # Without the phone there is nothing left to try.
        channel.cfg = channel.cfg.model_copy(update={"zns_template": None})
        await channel.send_outbox((await _get(demo_db, "z1")), Reply("x"))


async def _get(db: Database, key: str) -> Outbox:
    async with db.session() as s:
        return (await s.exec(select(Outbox).where(col(Outbox.key) == key))).one()


async def test_errors_on_http_200_map_to_channel_errors_and_expired_token_is_renewed(
    channel: ZaloOAChannel, oa: FakeZaloOA
) -> None:
    oa.interact(OFFICER)
    oa.inject(CS_PATH, -32)
    with pytest.raises(RetryLater):
        await channel.send(OFFICER, Reply("a"))
    oa.inject(CS_PATH, -201)
    with pytest.raises(Rejected):
        await channel.send(OFFICER, Reply("b"))
    oa.inject(CS_PATH, -500)
    with pytest.raises(Transient):
        await channel.send(OFFICER, Reply("c"))
    before = len(oa.token_calls)
    oa.expire_access_tokens()
    assert await channel.send(OFFICER, Reply("d"))  # refused token: renewed, sent once
    assert len(oa.token_calls) == before + 1
    assert oa.texts(OFFICER)[-1] == "d" and oa.texts(OFFICER).count("d") == 1


async def test_lienket_links_an_oa_follower_to_the_officer(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    zalo = make_chat("7f3a9c0e51b2d4a6", channel="zalo")
    await zalo.register(demo_db)
    code = await get_code(zalo)
    follower = make_chat(OFFICER, channel="zalo_oa")
    out = await follower.send(f"/lienket {code}")
    assert "Đã liên kết: tài khoản Zalo OA này" in out
    async with demo_db.session() as s:
        rows = (await s.exec(select(ChannelAccount).order_by(ChannelAccount.channel))).all()
        notice = (await s.exec(select(Outbox))).one()
    assert [(a.channel, a.officer_id) for a in rows] == [
        ("zalo", rows[0].officer_id),
        ("zalo_oa", rows[0].officer_id),
    ] and rows[0].officer_id is not None
    assert "Zalo OA vừa được liên kết" in notice.text


# --------------------------------------------------------------------------------------------
# One limiter: the outbox's send budget
# --------------------------------------------------------------------------------------------


class CountingBudget(MemoryBudget):
    """The in-process budget, counting the channel's slots kept and its charges."""

    def __init__(self) -> None:
        super().__init__()
        self.slots = 0
        self.charges = 0

    async def take(self, key: str, limit: Limit, after: float = 0.0) -> tuple[float, float]:
        self.slots += key == "zalo_oa"
        return await super().take(key, limit, after)

    async def give_back(self, key: str, slot: float) -> None:
        self.slots -= key == "zalo_oa"
        await super().give_back(key, slot)

    def charge(self, key: str, limit: Limit) -> None:
        self.charges += key == "zalo_oa"
        super().charge(key, limit)


async def test_one_budget_paces_the_outbox_sends_and_counts_each_message_once(
    oa: FakeZaloOA, demo_db: Database, dispatcher: Dispatcher, clock: Clock, keyring: Keyring
) -> None:
    """A burst of 30 rows at 20/s: the stand-in sees at most 20 (+2: a request delayed on the
    way lands next to its successor) in any second, each message counted once in the budget. The channel's own settings
    name 2/s: were the channel pacing its calls itself (a second limiter in series), no second
    could hold more than 3."""
    settings = Settings(
        zalo_oa=oa_settings(oa, ZALO_OA_TRANSACTION_TEMPLATE=TEMPLATE),
        scheduler=SchedulerSettings(BDG_RATE_ZALO_OA=2),
        DATABASE_URL=demo_db.url,
    )
    channel = ZaloOAChannel(App(settings, demo_db, dispatcher, clock), keyring=keyring)
    await channel.start(webhook=True)
    budget = CountingBudget()
    outbox = OutboxDispatcher(
        demo_db,
        {"zalo_oa": channel},
        settings=SchedulerSettings(BDG_RATE_ZALO_OA=20, BDG_RATE_ZALO_OA_CHAT=1),
        budget=budget,
    )
    channel.use_budget(outbox.gates["zalo_oa"].charge)  # as bot.runner does
    users = [f"66{i:011d}" for i in range(30)]
    for i, user in enumerate(users):
        acc = await _account(demo_db, user, officer=True)
        async with demo_db.session() as s:
            await touch_user(s, user, utcnow())
        oa.interact(user)
        await _row(demo_db, acc, f"burst{i}")
    stats = await outbox.run_once()
    await channel.stop()
    assert stats.sent == 30
    times = sorted(m.time for m in oa.sent if m.to in set(users))
    assert len(times) == 30
    busiest = max(sum(1 for x in times[i:] if x - t0 < 1.0) for i, t0 in enumerate(times))
    assert 3 < busiest <= 22, busiest
    # Each message used one outbox slot; none was charged on top (nor paced again).
    assert (budget.slots, budget.charges) == (30, 0)


async def test_replies_and_a_rows_second_call_are_charged_never_waiting(
    channel: ZaloOAChannel, oa: FakeZaloOA, demo_db: Database
) -> None:
    charged: list[str] = []
    channel.use_budget(charged.append)
    acc = await _account(demo_db, OFFICER, officer=True)
    async with demo_db.session() as s:
        unit = (await s.exec(select(Unit).where(col(Unit.code) == "28303"))).one()
        await touch_user(s, OFFICER, utcnow())
    oa.interact(OFFICER)
    outbox = OutboxDispatcher(
        demo_db, {"zalo_oa": channel}, settings=SchedulerSettings(BDG_RATE_ZALO_OA=100)
    )
    outbox.gates["zalo_oa"].charge = charged.append  # type: ignore[method-assign]

    await _row(demo_db, acc, "c1", unit.id)  # inside the window: the outbox's slot only
    await outbox.run_once()
    assert await _status(demo_db, "c1") == "sent" and charged == []

    # The platform closed the window: the consultation message it refused used the row's
    # slot; the template that follows it in the same row is charged.
    oa.interact(OFFICER, ago=49 * 3600)
    await _row(demo_db, acc, "c2", unit.id)
    await outbox.run_once()
    assert await _status(demo_db, "c2") == "sent"
    assert len(oa.sent_to(OFFICER, "transaction")) == 1
    assert charged == [OFFICER]

    # A reply to a person (two messages: a long text split) is charged message by message
    # (``charge`` is a plain function: nothing waits).
    oa.interact(OFFICER)
    assert await channel.deliver(OFFICER, [Reply("x" * (channel.capabilities.max_text + 10))])
    assert charged == [OFFICER] * 3
