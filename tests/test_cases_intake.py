"""The intake as transcripts: an anonymous citizen in danger gets the numbers first and ends
with a case code; an officer answers the extra questions; /xoa, resume, edit."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.cases import DRAFT, NEW
from db.engine import Database
from db.models import ChannelAccount, Conversation
from handlers.cases.intake import danger_welcome
from handlers.context import Ctx
from handlers.dispatch import Dispatcher
from kernel.messages import Incoming
from kernel.settings import Services
from services.cases.config import keyring
from tests.cases_helpers import (
    CITIZEN_CALM,
    CITIZEN_URGENT,
    CONTACT,
    DESCRIPTION,
    all_cases,
    case_by_code,
    case_keys,  # noqa: F401  (autouse fixture)
    report_case,
)
from tests.chat import Chat, Clock, choices

NATIONAL = ("113", "111", "115", "1900 969 680")


async def test_citizen_in_danger_from_first_question_to_case_code(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat("citizen")
    first = await chat.send("/baovuviec")
    # The very first reply: the emergency numbers and the danger question, nothing else asked.
    for number in NATIONAL:
        assert number in first
    assert "Có ai đang gặp nguy hiểm ngay lúc này không?" in first
    assert "Câu " not in first  # no form-like numbering for a frightened person
    assert "không cần cho biết tên" in first
    assert [c.key for c in choices(chat.last)] == ["yes", "no"]

    out = await chat.send("1")  # yes, danger now
    assert out.index("113 — Công an") < out.index("xã/phường nào")
    for number in NATIONAL:
        assert number in out
    assert "xã/phường nào" in out

    out = await chat.send("thach lac")
    assert "✓ Nơi xảy ra: Xã Thạch Lạc" in out
    assert "Trực ban Công an xã: 0239 3855 113" in out  # the commune's duty numbers at once

    for line in CITIZEN_URGENT[3:-1]:
        out = await chat.send(line)
    assert "Xem lại tin báo trước khi gửi" in out
    assert DESCRIPTION not in out and CONTACT not in out  # not echoed back to the phone
    assert "(đã ghi, được mã hóa)" in out

    out = await chat.send("gửi")
    assert "Mã tin báo: VV-2026-000001" in out
    assert "Đã báo ngay cho" not in out  # nobody registered: the receipt says so, once
    assert out.count("Hiện chưa liên lạc được với ai") == 1
    for number in NATIONAL:  # the numbers again, with the commune's own
        assert number in out
    assert "Trực ban Công an xã" in out

    case = await case_by_code(demo_db, "VV-2026-000001")
    assert case.status == NEW and case.urgent and case.child and case.danger_now
    assert (case.affected, case.victim_sex, case.age_group) == ("other", "f", "u16")
    assert case.forms == ["physical", "sexual"]
    assert (case.relation, case.occurred, str(case.occurred_on)) == (
        "partner",
        "date",
        "2026-11-24",
    )
    assert case.help_needed == ["health", "counselling"]
    assert case.anonymous is False and case.consent == "yes" and case.reported_by is None
    ring = keyring()
    assert case.description_enc and DESCRIPTION not in case.description_enc
    assert ring.decrypt(case.description_enc, f"case:{case.id}:description") == DESCRIPTION
    assert case.contact_enc and ring.decrypt(case.contact_enc, f"case:{case.id}:contact") == CONTACT
    # The conversation is over and holds nothing of the case.
    async with demo_db.session() as s:
        conv = (await s.exec(select(Conversation))).one()
    assert conv.flow is None and conv.state == {}


async def test_menu_item_comes_first_for_a_newcomer(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat("newcomer")
    out = await chat.send("xin chào")
    assert [c.key for c in choices(chat.last)][:2] == ["menu:case", "menu:officer"]
    assert "1. Báo tin về bạo lực" in out
    out = await chat.send("1")
    assert "Có ai đang gặp nguy hiểm ngay lúc này không?" in out and "113" in out


async def test_single_danger_word_starts_the_intake(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    for word in ("cứu", "SOS"):
        chat = make_chat(f"u-{word}")
        out = await chat.send(word)
        assert "1900 969 680" in out and "Có ai đang gặp nguy hiểm" in out


async def test_calm_anonymous_report(make_chat: Callable[..., Chat], demo_db: Database) -> None:
    chat = make_chat("calm")
    code = await report_case(chat, CITIZEN_CALM)
    case = await case_by_code(demo_db, code)
    assert not case.urgent and not case.child and case.danger_now is False
    assert case.anonymous is True and case.contact_enc is None and case.description_enc is None
    assert case.consent == "no" and case.affected == "self"
    assert "contact" not in case.steps_done


async def test_officer_intake_has_extra_questions_and_defaults_to_own_commune(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    officer = make_chat("lan")
    await officer.register(demo_db, "28303")
    colleague = make_chat("hoa")
    await colleague.register(demo_db, "28303", name="Trần Thị Hoa")
    await officer.send("/baovuviec")
    out = await officer.send("2")  # no danger now
    assert [c.label for c in choices(officer.last)][0] == "Xã Thạch Lạc"
    assert "xã/phường nào" in out
    out = await officer.send("1")  # own commune
    assert "✓ Nơi xảy ra: Xã Thạch Lạc" in out
    assert "Giới tính của người bị bạo lực?" in out  # no "who is affected"
    for line in ["1", "4", "2", "1", "4"]:  # female, 60+, psychological, partner, last month
        out = await officer.send(line)
    assert "Cần hỗ trợ gì?" in out
    out = await officer.send("3")
    assert "Bạn nhận được thông tin từ đâu?" in out
    out = await officer.send("4")  # village head
    assert "Đã làm gì rồi?" in out
    out = await officer.send("3, 5")  # no-contact order, police informed
    assert "Mô tả ngắn" in out
    out = await officer.send(DESCRIPTION)
    assert "Cách liên lạc với nạn nhân" in out  # no anonymity question for officers
    out = await officer.send("-")
    assert "Chưa hỏi được" in out  # officers may answer "not asked yet"
    out = await officer.send("3")
    assert "Nguồn tin: Trưởng thôn, tổ trưởng" in out
    out = await officer.send("gửi")
    assert "✅ Đã báo ngay cho: cán bộ phụ trách của xã." in out
    code = "VV-2026-000001"
    case = await case_by_code(demo_db, code)
    assert case.reported_by is not None and case.unit_id is not None
    assert (case.source, case.actions_taken) == ("village_head", ["no_contact", "police"])
    assert case.consent == "not_asked" and case.anonymous is None and case.affected is None
    assert case.age_group == "60p" and not case.urgent


async def test_erase_deletes_the_draft_at_once(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat("c")
    for line in CITIZEN_CALM[:10]:  # up to the description; not urgent, so not alerted yet
        await chat.send(line)
    assert [c.status for c in await all_cases(demo_db)] == [DRAFT]
    out = await chat.send("/xoa")
    assert "Đã dừng" in out and "Zalo" in out and "Telegram" in out
    assert await all_cases(demo_db) == []
    async with demo_db.session() as s:
        conv = (await s.exec(select(Conversation))).one()
    assert conv.flow is None and conv.state == {}
    # The bare word works inside the intake too.
    await chat.send("/baovuviec")
    await chat.send("2")
    await chat.send("xóa")
    assert await all_cases(demo_db) == []


async def test_erase_after_sending_unlinks_the_account(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat("c")
    code = await report_case(chat)
    assert "mới" in await chat.send(f"/vuviec {code}")
    await chat.send("/xoa")
    case = await case_by_code(demo_db, code)
    assert case.reporter_tag is None and case.status == NEW  # the case itself stays
    assert "Không tìm thấy tin báo" in await chat.send(f"/vuviec {code}")


async def test_restart_resumes_where_the_reporter_was(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    chat = make_chat("c")
    for line in CITIZEN_URGENT[:6]:  # through the age
        await chat.send(line)
    # A new process on the same database.
    chat2 = Chat(Dispatcher(demo_db, Services(), clock=clock), user="c")
    out = await chat2.send("1, 4")
    assert "✓ Bạo lực thể chất" in out and "Người gây bạo lực" in out
    # /huy leaves the draft; /baovuviec offers to continue it.
    await chat2.send("/huy")
    out = await chat2.send("/baovuviec")
    assert "113" in out and "đang làm dở" in out
    out = await chat2.send("1")
    assert "Người gây bạo lực là ai" in out
    for line in CITIZEN_URGENT[7:]:
        out = await chat2.send(line)
    assert "VV-2026-000001" in out
    case = await case_by_code(demo_db, "VV-2026-000001")
    assert case.forms == ["physical", "sexual"] and case.age_group == "u16"


async def test_start_again_deletes_the_old_draft(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat("c")
    for line in CITIZEN_CALM[:4]:  # not urgent: a draft nobody was told of yet
        await chat.send(line)
    await chat.send("/huy")
    await chat.send("/baovuviec")
    out = await chat.send("2")  # start again
    assert "Có ai đang gặp nguy hiểm" in out
    assert await all_cases(demo_db) == []


async def test_summary_edits_a_line(make_chat: Callable[..., Chat], demo_db: Database) -> None:
    chat = make_chat("c")
    for line in CITIZEN_CALM[:-1]:
        out = await chat.send(line)
    assert "5. Tuổi: 18–59 tuổi" in out
    out = await chat.send("5")
    assert "bao nhiêu tuổi" in out
    out = await chat.send("15")
    assert "5. Tuổi: Dưới 16 tuổi" in out  # straight back to the summary
    out = await chat.send("9")  # help needed: the current choice is shown ticked
    assert "✅ Chưa cần / chưa rõ" in out
    out = await chat.send("1")
    assert "9. Cần hỗ trợ: Chăm sóc y tế" in out
    out = await chat.send("11")  # anonymity → leave a contact: the contact is asked next
    out = await chat.send("2")
    assert "Cách liên lạc an toàn với bạn" in out
    out = await chat.send(CONTACT)
    assert "12. Cách liên lạc: (đã ghi, được mã hóa)" in out
    out = await chat.send("gửi")
    case = await case_by_code(demo_db, "VV-2026-000001")
    assert case.age_group == "u16" and case.child and case.urgent
    assert case.help_needed == ["health"] and case.anonymous is False and case.contact_enc


async def test_multi_choice_by_taps(make_chat: Callable[..., Chat], demo_db: Database) -> None:
    chat = make_chat("c", channel="telegram")
    for line in CITIZEN_URGENT[:6]:
        await chat.send(line)
    out = await chat.tap("physical")
    assert "✅ Bạo lực thể chất" in out
    await chat.tap("economic")
    await chat.tap("physical")  # untick
    out = await chat.tap("__done__")
    assert "✓ Bạo lực kinh tế" in out and "thể chất" not in out.split("\n")[0]
    out = await chat.tap("__done__")  # a stale button on the next question
    assert "⚠️" in out and "Người gây bạo lực" in out


def _ctx_for(s: AsyncSession, user: str, text: str, clock: Clock) -> Ctx:
    acc = ChannelAccount(id=None, channel="zalo", user_id=user, chat_id=user)
    conv = Conversation(account_id=0, state={})
    inc = Incoming(channel="zalo", chat_id=user, user_id=user, text=text)
    return Ctx(s=s, inc=inc, account=acc, conv=conv, now=clock(), services=Services())


async def test_danger_words_lead_the_welcome_with_the_numbers(
    demo_db: Database, clock: Clock
) -> None:
    """The hook the router's welcome calls for someone not registered (docs/cases.md)."""
    async with demo_db.session() as s:
        ctx = _ctx_for(s, "z1", "chồng tôi đánh tôi, cứu với", clock)
        assert await danger_welcome(ctx)
        text = ctx.replies[0].text
        assert text.startswith("Bạn không đơn độc.")
        for number in NATIONAL:
            assert number in text
        assert "Báo tin về bạo lực" in text
        calm = _ctx_for(s, "z2", "xin chào, cho hỏi thủ tục", clock)
        assert not await danger_welcome(calm) and calm.replies == []


async def test_danger_welcome_end_to_end_with_the_router_hook(
    make_chat: Callable[..., Chat], demo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a newcomer sees once ``welcome()`` calls its hooks (the proposed 4-line change
    to handlers/router.py, simulated here): the numbers first, then the usual menu."""
    import handlers.dispatch
    from handlers.router import welcome

    async def welcome_with_hook(ctx: Ctx) -> None:
        if ctx.officer is None:
            await danger_welcome(ctx)
        await welcome(ctx)

    monkeypatch.setattr(handlers.dispatch, "welcome", welcome_with_hook)
    chat = make_chat("zalo-newcomer", channel="zalo")
    out = await chat.send("chong toi danh toi")
    assert out.index("1900 969 680") < out.index("1. Báo tin về bạo lực")
    out = await chat.send("1")
    assert "Có ai đang gặp nguy hiểm ngay lúc này không?" in out
