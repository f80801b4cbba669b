"""Messages that read right on every channel and for every province: the numbered-choice hint
in the user's language, "bấm" only where buttons exist, the terminal banner naming the data's
own province, and an admin's help examples taken from the admin's own units."""

from __future__ import annotations

import io
from collections.abc import Callable

from bot.render import render_plain
from bot.terminal import run_terminal
from db.engine import Database
from db.units import import_units
from handlers.dispatch import Dispatcher
from kernel.messages import Choice, Reply
from kernel.settings import Services
from tests.answers import ANSWERS, current_question
from tests.chat import Chat

QUANG_NGAI = [
    {"code": "51", "name": "Tỉnh Quảng Ngãi", "parent_code": "", "kind": "province", "reports": "0"},
    {"code": "51-SNV", "name": "Sở Nội vụ tỉnh Quảng Ngãi", "parent_code": "51", "kind": "agency", "reports": "0"},  # noqa: E501
    {"code": "21001", "name": "Xã Sơn Hà", "parent_code": "51", "kind": "commune", "reports": "1"},
    {"code": "21004", "name": "Xã Sơn Linh", "parent_code": "51", "kind": "commune", "reports": "1"},
]  # fmt: skip


def test_the_numbered_hint_speaks_the_reply_language() -> None:
    reply = Reply("Choose:", choices=[Choice("a", "One"), Choice("b", "Two")], lang="en")
    out = render_plain(reply, "vi")  # the channel's default is Vietnamese
    assert "1 to 2" in out
    assert "Gõ số" not in out


async def test_an_english_user_on_zalo_gets_an_english_hint(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat(channel="zalo", lang="en")
    await chat.send("/ngonngu en")
    await chat.send("/ngonngu")
    assert chat.last is not None
    [reply] = chat.last.replies
    assert reply.lang == "en"
    assert "Gõ số" not in render_plain(reply, "vi")


async def multi_question_text(chat: Chat, db: Database) -> str:
    await chat.register(db)
    await chat.send("/baocao")
    for _ in range(20):
        qid = await current_question(db, chat.channel, chat.user)
        if qid == "comm_channels":
            return chat.log[-1][1]
        await chat.send(ANSWERS[str(qid)][0])
    raise AssertionError("comm_channels was never asked")


async def test_tap_is_said_only_where_there_are_buttons(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    zalo = await multi_question_text(make_chat(user="z", channel="zalo"), demo_db)
    assert "bấm" not in zalo.lower() and "Xong" not in zalo.split("➜")[-1].split("\n")[0]
    assert "gõ các số cách nhau bởi dấu phẩy" in zalo
    telegram = await multi_question_text(make_chat(user="t", channel="telegram"), demo_db)
    assert "bấm từng mục rồi bấm «Xong»" in telegram


async def test_the_terminal_banner_names_the_province_of_the_data(db: Database) -> None:
    async with db.session() as s:
        await import_units(s, QUANG_NGAI)
    out = io.StringIO()
    await run_terminal(Dispatcher(db, Services()), "u1", stdin=io.StringIO(""), out=out)
    first = out.getvalue().splitlines()[0]
    assert "tỉnh Quảng Ngãi" in first and "Hà Tĩnh" not in first


async def test_an_admins_help_uses_the_codes_of_their_own_units(
    make_chat: Callable[..., Chat], dispatcher: Dispatcher, db: Database
) -> None:
    async with db.session() as s:
        await import_units(s, QUANG_NGAI)
    chat = Chat(dispatcher, user="admin-qn")
    await chat.register(db, "51-SNV", role="admin", name="Lê Văn Tâm", position="Chuyên viên")
    out = await chat.send("/trogiup")
    assert "/moi 21001 21004" in out and "28303" not in out
    out = await chat.send("/moi")
    assert "/moi 21001 21004" in out and "/moi 21001 admin" in out and "28303" not in out
    out = await chat.send("/mokhoa")
    assert "/mokhoa 21001" in out and "28303" not in out
