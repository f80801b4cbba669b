"""Hostile input at the edge (issue 12): invalid Unicode, invisible characters in names,
deep JSON, huge digit strings, wrong types and over-long identifiers."""

from __future__ import annotations

import io
import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import col, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from telegram import Update

from bot.telegram.channel import SECRET_HEADER, WEBHOOK_PATH
from bot.telegram.updates import to_incoming as telegram_incoming
from bot.terminal import run_terminal
from bot.web import create_web_app
from bot.webhooks import WebhookRefused, read_json_update, too_deep
from bot.zalo.channel import to_incoming as zalo_incoming
from bot.zalo.client import parse_event
from db.engine import Database
from db.models import AuditLog, Officer
from handlers.dispatch import Dispatcher
from handlers.registration import new_invite
from kernel.i18n import t
from kernel.text import InvalidIncoming, clean_incoming, clean_name, valid_text
from services.forms.parsers import is_number
from tests.chat import Chat, Clock
from tests.fakes.telegram_api import FakeTelegram
from tests.test_telegram_channel import SECRET, USER, count_keys, make_channel, tg

__all__ = ["tg"]  # the fixture, imported for the webhook tests

SURROGATE_JSON = '"Nguy\\u1ec5n \\ud800 Lan"'


def encodable(text: str | None) -> bool:
    if text is None:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def test_kernel_helpers() -> None:
    assert valid_text("a\ud800b\x00c") == "a\ufffdb\ufffdc"
    assert clean_name(" \u202eNguyễn\u200b Thị\u2066 Lan\u200d\ufeff ") == "Nguyễn Thị Lan"
    assert clean_name("Ngu\udfffyễn") == "Ngu\ufffdyễn"


def telegram_update(text_json: str, name_json: str = '"Lan"') -> Update:
    raw = (
        '{"update_id": 7, "message": {"message_id": 3, "date": 1764050400, '
        '"chat": {"id": 42, "type": "private"}, '
        f'"from": {{"id": 42, "is_bot": false, "first_name": {name_json}}}, '
        f'"text": {text_json}}}}}'
    )
    return Update.de_json(json.loads(raw), None)  # type: ignore[arg-type]


def zalo_event(text_json: str, name_json: str = '"Lan"', user: str = "00ab") -> dict[str, Any]:
    raw = (
        '{"event_name": "message.text.received", "message": {'
        f'"from": {{"id": "{user}", "display_name": {name_json}, "is_bot": false}}, '
        '"chat": {"id": "00cd", "chat_type": "PRIVATE"}, "message_id": "0009f", '
        f'"date": 1764050400000, "text": {text_json}}}}}'
    )
    data: dict[str, Any] = json.loads(raw)
    return data


def test_lone_surrogates_never_leave_the_telegram_and_zalo_edges() -> None:
    tg = telegram_incoming(telegram_update(SURROGATE_JSON, '"\\u202eLan\\ud83d"'))
    assert tg is not None
    assert encodable(tg.text) and encodable(tg.display_name)
    assert tg.text == "Nguyễn \ufffd Lan"
    assert tg.display_name is not None and "\u202e" not in tg.display_name
    zl = zalo_incoming(parse_event(zalo_event(SURROGATE_JSON, '"\\u200bLan\\udc00"')), "vi")
    assert encodable(zl.text) and encodable(zl.display_name)
    assert zl.display_name == "Lan\ufffd"


async def test_terminal_registration_with_invalid_and_invisible_characters(
    dispatcher: Dispatcher, demo_db: Database
) -> None:
    code = await new_invite(demo_db, "28303", now=dispatcher.clock())
    lines = [
        f"/start {code}",
        "\u202eNguyễn\u200b Thị \ud800Lan\u2069",
        "Công chức\x00 VH-XH",
        "/trogiup",
    ]
    out = io.StringIO()
    await run_terminal(
        dispatcher, "u1", stdin=io.StringIO("\n".join(lines) + "\n"), out=out, banner=[]
    )
    assert t("vi", "err.internal") not in out.getvalue()
    async with demo_db.session() as s:
        officer = (await s.exec(select(Officer))).one()
    assert officer.full_name == "Nguyễn Thị \ufffdLan"
    assert officer.position == "Công chức\ufffd VH-XH"


async def test_registration_strips_invisible_characters_from_names(
    dispatcher: Dispatcher, demo_db: Database
) -> None:
    """Names reach other people (admins' lists): a right-to-left override must not."""
    chat = Chat(dispatcher, user="u2")
    await chat.register(demo_db, name="\u202eNguyễn Thị Lan\u200b", position="\u2066Cán bộ")
    async with demo_db.session() as s:
        officer = (await s.exec(select(Officer))).one()
    assert (officer.full_name, officer.position) == ("Nguyễn Thị Lan", "Cán bộ")


def test_over_long_identifiers_are_refused_at_the_edge() -> None:
    with pytest.raises(ValueError):
        parse_event(zalo_event('"hi"', user="x" * 65))
    ok = zalo_incoming(parse_event(zalo_event('"hi"', user="x" * 64)), "vi")
    assert clean_incoming(ok).user_id == "x" * 64
    with pytest.raises(InvalidIncoming):
        clean_incoming(ok.__class__(channel="zalo", chat_id="c" * 65, user_id="u"))


# -- defect 7: deep JSON, huge digit strings, wrong types ---------------------------------------


def nested(depth: int) -> bytes:
    return ('{"update_id": 1, "message": ' + '{"a": [' * depth + "1" + "]}" * depth + "}").encode()


async def test_deep_json_is_refused_before_parsing() -> None:
    async def endpoint(request: Request) -> Response:
        try:
            await read_json_update(request, secret="s", header="x-s", max_bytes=MAX_BODY)
        except WebhookRefused as refused:
            return Response(refused.reason, status_code=refused.status)
        return Response("ok")

    web = Starlette(routes=[Route("/hook", endpoint, methods=["POST"])])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="http://bot"
    ) as http:
        for depth in (10, 300, 5_000, 100_000):
            body = nested(depth)[:MAX_BODY]
            response = await http.post("/hook", content=body, headers={"x-s": "s"})
            assert response.status_code == (200 if depth == 10 else 400), depth
        strings = b'{"a": "' + b"[{" * 1000 + b'", "b": "\\"[[[["}'
        assert (await http.post("/hook", content=strings, headers={"x-s": "s"})).status_code == 200
    assert too_deep(b'["\\"[[[[", [[1]]]', 3) is False
    assert too_deep(b'["\\"[[[[", [[[1]]]]', 3) is True


MAX_BODY = 1_000_000


async def test_telegram_webhook_refuses_a_boolean_update_id(
    tg: FakeTelegram, demo_db: Database, clock: Clock
) -> None:
    channel = make_channel(tg, demo_db, clock)
    web = create_web_app(channel.app, channel.web_routes())
    update = tg.push_message(USER, "/trogiup")
    ok = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web), base_url="http://bot"
        ) as http:
            for bad in (True, False, "1", 1.5, None):
                body = json.dumps({**update, "update_id": bad}).encode()
                response = await http.post(WEBHOOK_PATH, content=body, headers=ok)
                assert response.status_code == 400, bad
            body = nested(5_000)
            assert (await http.post(WEBHOOK_PATH, content=body, headers=ok)).status_code == 400
        assert await count_keys(demo_db) == 0
    finally:
        await channel.stop()


def test_huge_digit_strings_are_not_numbers() -> None:
    assert is_number("7") and is_number("9" * 18)
    assert not is_number("1" * 19) and not is_number("1" * 5000)


async def test_huge_digit_strings_in_a_menu_and_an_id(make_chat: Any, demo_db: Database) -> None:
    chat = make_chat("u9")
    await chat.send("xin chào")  # the first message shows the numbered menu
    for text in ("1" * 4301, "2" * 100_000):
        assert t("vi", "err.internal") not in await chat.send(text)
    admin = make_chat("a9")
    await admin.register(demo_db, unit_code="42", role="admin")
    assert t("vi", "err.internal") not in await admin.send("/canbo ngung " + "9" * 30)


# -- defect 8: /start attempt limit, invite expiry at completion ------------------------------


async def refused_audit_rows(db: Database) -> list[AuditLog]:
    async with db.session() as s:
        query = select(AuditLog).where(
            col(AuditLog.action) == "invite.redeem", col(AuditLog.outcome) == "refused"
        )
        return list((await s.exec(query)).all())


async def test_start_locks_after_five_wrong_codes_an_hour(
    make_chat: Any, demo_db: Database, clock: Clock
) -> None:
    chat = make_chat("guesser")
    code = await new_invite(demo_db, "28303", now=clock())
    unknown = t("vi", "reg.code_unknown")
    for i in range(5):
        assert unknown in await chat.send(f"/start AAAAA-BBBB{i}")
    locked = t("vi", "reg.too_many")
    for _ in range(30):
        assert locked in await chat.send("/start CCCCC-DDDDD")
    # Even the right code waits: guessing must not pay off.
    assert locked in await chat.send(f"/start {code}")
    rows = await refused_audit_rows(demo_db)
    assert len(rows) == 1  # aggregated, not one row per attempt
    assert rows[0].detail is not None and "36" in rows[0].detail
    # Another account is not affected.
    other = make_chat("other")
    assert t("vi", "reg.ask_name") in await other.send(f"/start {code}")
    # An hour later the account may try again.
    clock.advance(hours=1, minutes=1)
    assert unknown in await chat.send("/start AAAAA-BBBBB")


async def test_an_invite_that_expires_during_registration_cannot_be_completed(
    make_chat: Any, demo_db: Database, clock: Clock
) -> None:
    chat = make_chat("late")
    code = await new_invite(demo_db, "28303", days=1, now=clock())
    await chat.send(f"/start {code}")
    await chat.send("Nguyễn Thị Lan")
    clock.advance(days=1, minutes=1)
    out = await chat.send("Công chức VH-XH")
    assert t("vi", "reg.done", name="Nguyễn Thị Lan", unit="Xã Thạch Lạc")[:10] not in out
    assert "hết hạn" in out
    async with demo_db.session() as s:
        assert (await s.exec(select(Officer))).first() is None


HOSTILE_VALUES: list[Any] = [None, True, -1, 2**63, 10**40, 1.5, "", "\u202e", "9" * 5000, [], {}]
FIELDS = [
    ("message", "chat", "id"),
    ("message", "chat", "type"),
    ("message", "from", "id"),
    ("message", "from", "first_name"),
    ("message", "message_id"),
    ("message", "date"),
    ("message", "text"),
    ("message",),
]


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(field=st.sampled_from(FIELDS), value=st.sampled_from(HOSTILE_VALUES))
async def test_a_telegram_update_with_any_field_broken_is_never_a_5xx(
    tg: FakeTelegram, demo_db: Database, clock: Clock, field: tuple[str, ...], value: Any
) -> None:
    """One field of a valid update replaced by a value of another type or size: the webhook
    answers 200 (skipped) or 400, never a server error that Telegram would redeliver."""
    channel = make_channel(tg, demo_db, clock)
    web = create_web_app(channel.app, channel.web_routes())
    update = tg.push_message(USER, "/trogiup")
    node = update
    for key in field[:-1]:
        node = node[key]
    node[field[-1]] = value
    ok = {SECRET_HEADER: SECRET, "Content-Type": "application/json"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=web), base_url="http://bot"
        ) as http:
            res = await http.post(WEBHOOK_PATH, content=json.dumps(update).encode(), headers=ok)
            assert res.status_code in (200, 400), (field, value, res.status_code)
    finally:
        await channel.stop()
