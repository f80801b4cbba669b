"""/lienket: one person on Telegram and Zalo is one officer with both accounts."""

from __future__ import annotations

import re
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st
from sqlmodel import select

from db.engine import Database
from db.linking import LinkCode
from db.models import AuditLog, ChannelAccount, Officer, Outbox
from handlers.linking import CODE_LEN, MAX_FAILURES_PER_HOUR, new_link_code
from handlers.registration import ALPHABET, hash_code
from tests.answers import ANSWERS, current_question
from tests.chat import Chat, Clock
from tests.test_report_flow import stored

CODE = re.compile(r"Mã liên kết của anh/chị: ([A-Z2-9]{4}-[A-Z2-9]{4})")


async def get_code(chat: Chat) -> str:
    out = await chat.send("/lienket")
    found = CODE.search(out)
    assert found, out
    return found.group(1)


async def accounts(db: Database) -> list[tuple[str, str, int | None]]:
    async with db.session() as s:
        rows = (await s.exec(select(ChannelAccount).order_by(ChannelAccount.channel))).all()
    return [(a.channel, a.user_id, a.officer_id) for a in rows]


async def test_telegram_and_zalo_accounts_become_one_officer(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    telegram = make_chat("tg-501", channel="telegram")
    await telegram.register(demo_db)
    await telegram.send("/baocao")
    await telegram.send(ANSWERS["plan_issued"][0])
    code = await get_code(telegram)
    assert "hết hạn sau 10 phút (lúc 09:10 25/11/2026)" in telegram.log[-1][1]
    assert f"/lienket {code}" in telegram.log[-1][1]

    zalo = make_chat("7f3a9c0e51b2d4a6", channel="zalo")
    out = await zalo.send("/baocao")
    assert "dành cho cán bộ đã đăng ký" in out
    out = await zalo.send(f"/lienket {code.lower().replace('-', ' ')}")
    assert "Đã liên kết: tài khoản Zalo này" in out and "Nguyễn Thị Lan, Xã Thạch Lạc" in out

    async with demo_db.session() as s:
        officers = (await s.exec(select(Officer))).all()
        audit = (await s.exec(select(AuditLog).where(AuditLog.action == "account.link"))).all()
        notice = (await s.exec(select(Outbox))).one()
        link = (await s.exec(select(LinkCode))).one()
    assert len(officers) == 1
    assert await accounts(demo_db) == [
        ("telegram", "tg-501", officers[0].id),
        ("zalo", "7f3a9c0e51b2d4a6", officers[0].id),
    ]
    assert [(a.outcome, a.detail, a.target) for a in audit] == [
        ("ok", "telegram->zalo", f"officer:{officers[0].id}")
    ]
    assert code not in link.code_hash and link.code_hash == hash_code(code)
    assert link.used_at is not None
    assert notice.channel == "telegram" and notice.chat_id == "tg-501"
    assert "Zalo vừa được liên kết" in notice.text

    # The Zalo account continues the same unit's report where Telegram left it.
    out = await zalo.send("/baocao")
    assert "Đã trả lời 1 câu" in out
    assert await current_question(demo_db, "zalo", "7f3a9c0e51b2d4a6") == "plan_date"
    await zalo.send(ANSWERS["plan_date"][0])
    _, values = await stored(demo_db, "2026")
    assert values == {"plan_issued": True, "plan_date": "2026-03-12"}


async def test_code_is_single_use_and_expires(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    telegram = make_chat("tg-1", channel="telegram")
    await telegram.register(demo_db)
    code = await get_code(telegram)
    await make_chat("z-1", channel="zalo").send(f"/lienket {code}")
    out = await make_chat("z-2", channel="zalo").send(f"/lienket {code}")
    assert "đã được dùng" in out

    code = await get_code(telegram)
    clock.advance(minutes=10, seconds=1)
    out = await make_chat("z-3", channel="zalo").send(f"/lienket {code}")
    assert "đã hết hạn" in out
    assert [a[2] is not None for a in await accounts(demo_db)] == [True, True, False, False]


async def test_a_new_code_replaces_the_previous_one(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    telegram = make_chat("tg-1", channel="telegram")
    await telegram.register(demo_db)
    first = await get_code(telegram)
    second = await get_code(telegram)
    zalo = make_chat("z-1", channel="zalo")
    assert "không đúng" in await zalo.send(f"/lienket {first}")
    assert "Đã liên kết" in await zalo.send(f"/lienket {second}")


async def test_two_different_officers_are_never_merged(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    telegram = make_chat("tg-1", channel="telegram")
    await telegram.register(demo_db)
    zalo = make_chat("z-1", channel="zalo")
    await zalo.register(demo_db, unit_code="28303", name="Trần Văn Minh")
    code = await get_code(telegram)
    out = await zalo.send(f"/lienket {code}")
    assert "Không liên kết được" in out and "Trần Văn Minh" in out
    officers = {a[0]: a[2] for a in await accounts(demo_db)}
    assert officers["telegram"] != officers["zalo"]
    async with demo_db.session() as s:
        refused = (await s.exec(select(AuditLog).where(AuditLog.outcome == "refused"))).all()
        link = (await s.exec(select(LinkCode))).one()
    assert [a.detail for a in refused] == ["other_officer"]
    assert link.used_at is None


async def test_same_account_already_linked_and_unregistered_requests(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    stranger = make_chat("z-9", channel="zalo")
    out = await stranger.send("/lienket")
    assert "chưa đăng ký" in out and "/lienket MÃ" in out
    telegram = make_chat("tg-1", channel="telegram")
    await telegram.register(demo_db)
    code = await get_code(telegram)
    assert "ứng dụng còn lại" in await telegram.send(f"/lienket {code}")
    zalo = make_chat("z-1", channel="zalo")
    await zalo.send(f"/lienket {code}")
    again = await get_code(telegram)
    assert "đã được liên kết" in await zalo.send(f"/lienket {again}")


async def test_guessing_codes_is_limited(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    telegram = make_chat("tg-1", channel="telegram")
    await telegram.register(demo_db)
    code = await get_code(telegram)
    zalo = make_chat("z-1", channel="zalo")
    for _ in range(MAX_FAILURES_PER_HOUR):
        assert "không đúng" in await zalo.send("/lienket AAAA-AAAA")
    assert "quá nhiều lần" in await zalo.send(f"/lienket {code}")
    clock.advance(hours=1, seconds=1)
    code = await get_code(telegram)
    assert "Đã liên kết" in await zalo.send(f"/lienket {code}")


async def test_link_during_registration_ends_the_registration(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    from handlers.registration import new_invite

    telegram = make_chat("tg-1", channel="telegram")
    await telegram.register(demo_db)
    code = await get_code(telegram)
    zalo = make_chat("z-1", channel="zalo")
    invite = await new_invite(demo_db, "28303", now=zalo.dispatcher.clock())
    await zalo.send(f"/start {invite}")  # started registering, then remembers the link
    await zalo.send(f"/lienket {code}")
    out = await zalo.send("Nguyễn Thị Lan")
    assert "Chào Nguyễn Thị Lan" in out  # not taken as a registration answer
    async with demo_db.session() as s:
        assert len((await s.exec(select(Officer))).all()) == 1


def test_new_codes_have_the_documented_shape() -> None:
    codes = {new_link_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        raw = code.replace("-", "")
        assert len(raw) == CODE_LEN and set(raw) <= set(ALPHABET) and code[4] == "-"


@given(
    code=st.text(alphabet=ALPHABET, min_size=CODE_LEN, max_size=CODE_LEN),
    seps=st.lists(
        st.sampled_from(["", " ", "-", "  ", "_"]), min_size=CODE_LEN + 1, max_size=CODE_LEN + 1
    ),
    lower=st.booleans(),
)
def test_typed_code_variants_match_the_stored_hash(code: str, seps: list[str], lower: bool) -> None:
    typed = "".join(sep + ch for sep, ch in zip(seps, code, strict=False)) + seps[-1]
    typed = typed.lower() if lower else typed
    assert hash_code(typed) == hash_code(f"{code[:4]}-{code[4:]}")
