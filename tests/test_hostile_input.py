"""Hostile input at the edge (issue 12): invalid Unicode, invisible characters in names,
deep JSON, huge digit strings, wrong types and over-long identifiers."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from sqlmodel import select
from telegram import Update

from bot.telegram.updates import to_incoming as telegram_incoming
from bot.terminal import run_terminal
from bot.zalo.channel import to_incoming as zalo_incoming
from bot.zalo.client import parse_event
from db.engine import Database
from db.models import Officer
from handlers.dispatch import Dispatcher
from handlers.registration import new_invite
from kernel.i18n import t
from kernel.text import InvalidIncoming, clean_incoming, clean_name, valid_text
from tests.chat import Chat

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
