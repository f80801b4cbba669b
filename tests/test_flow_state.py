"""Typed conversation state: a draft saved by the code before typed state (a plain dict)
still loads and the conversation goes on where it was."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import select

from db.engine import Database
from db.models import ChannelAccount, Conversation, Officer, Outbox, Report, ReportValue
from handlers.features import build_router
from handlers.registration import new_invite
from handlers.router import Deps
from handlers.state import (
    FLOW_STATES,
    CaseOfficerState,
    CaseState,
    LockState,
    RegisterState,
    ReportState,
)
from kernel.messages import Choice, Menu
from scheduler.planner import START_REPORT
from tests.answers import ANSWERS, conversation_state, current_question
from tests.cases_helpers import (
    CITIZEN_CALM,
    CITIZEN_URGENT,
    all_cases,
    case_by_code,
    case_keys,  # noqa: F401  (autouse fixture)
    report_case,
)
from tests.chat import Chat, Clock
from tests.conftest import local
from tests.test_admin_desk import admin_chat


async def _set_state(db: Database, user: str, flow: str, state: dict) -> None:
    async with db.session() as s:
        acc = (await s.exec(select(ChannelAccount).where(ChannelAccount.user_id == user))).one()
        conv = (await s.exec(select(Conversation).where(Conversation.account_id == acc.id))).one()
        conv.flow, conv.state = flow, state


def test_old_report_state_upgrades() -> None:
    old = {
        "report_id": 7,
        "mode": "ask",
        "q": "comm_channels",
        "multi_sel": ["social"],
        "suggest": {"vio_cases": [2, "case.report_suggested", "case.report_use", "x"]},
        "_menu": [["social", "Mạng xã hội, Zalo", None]],
        "_numbered": True,
    }
    st = ReportState.model_validate(old)
    assert (st.v, st.report_id, st.mode, st.q, st.sel) == (2, 7, "ask", "comm_channels", ["social"])
    assert st.suggest["vio_cases"][0] == 2 and st.period is None
    assert "_menu" not in st.dump() and "multi_sel" not in st.dump()
    assert ReportState.model_validate(st.dump()) == st


def test_old_case_state_upgrades() -> None:
    assert CaseState.model_validate({"step": "confirm", "case_id": 3}).mode == "summary"
    assert CaseState.model_validate({"step": "resume", "case_id": 3}).mode == "resume"
    st = CaseState.model_validate({"step": "forms", "case_id": 3, "sel": ["physical"]})
    assert (st.v, st.mode, st.q, st.sel, st.case_id) == (2, "ask", "forms", ["physical"], 3)
    first = CaseState.model_validate({"step": "danger"})
    assert (first.mode, first.q, first.case_id) == ("ask", "danger", None)


async def test_a_report_in_flight_under_the_old_state_goes_on(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat(channel="telegram")
    await chat.register(demo_db)
    await chat.send("/baocao")
    while (qid := await current_question(demo_db, "telegram", "u1")) != "comm_channels":
        assert qid
        await chat.send(ANSWERS[qid][0])
    async with demo_db.session() as s:
        report = (await s.exec(select(Report))).one()
    # What the code before typed state stored at this point, one option already ticked.
    await _set_state(
        demo_db,
        "u1",
        "report",
        {
            "report_id": report.id,
            "mode": "ask",
            "q": "comm_channels",
            "suggest": {},
            "multi_sel": ["social"],
            "_menu": [["loudspeaker", "Loa truyền thanh", None], ["__done__", "Xong", "xong"]],
            "_numbered": True,
        },
    )
    out = await chat.tap("schools")
    assert "✅ Mạng xã hội, Zalo" in out and "✅ Trường học" in out
    out = await chat.tap("__done__")
    assert "Đã lưu: Mạng xã hội, Zalo, Trường học" in out
    assert await current_question(demo_db, "telegram", "u1") == "comm_news"
    flow, state = await conversation_state(demo_db, "telegram", "u1")
    assert flow == "report" and state["v"] == 2 and "multi_sel" not in state
    assert state["period"]["period"] == "2026"  # kept from now on
    while (qid := await current_question(demo_db, "telegram", "u1")) is not None:
        await chat.send(ANSWERS[qid][0])
    out = await chat.send("gửi")
    assert "BC-2026-28303-1" in out
    async with demo_db.session() as s:
        row = (
            await s.exec(select(ReportValue).where(ReportValue.question_id == "comm_channels"))
        ).one()
    assert row.value == ["social", "schools"]


async def test_an_intake_in_flight_under_the_old_state_goes_on(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat("c")
    for line in CITIZEN_URGENT[:6]:  # through the age: the forms of violence come next
        await chat.send(line)
    [case] = await all_cases(demo_db)
    # What the code before typed state stored at this point.
    await _set_state(
        demo_db,
        "c",
        "case",
        {"step": "forms", "case_id": case.id, "sel": [], "matches": [], "_numbered": True},
    )
    code = await report_case(chat, CITIZEN_URGENT[6:])
    stored = await case_by_code(demo_db, code)
    assert stored.id == case.id and stored.forms == ["physical", "sexual"]
    assert stored.age_group == "u16" and stored.consent == "yes"


# -- the short flows: the dicts today's code stored, key for key ------------------------------
OLD_SHAPES = {
    "register": [{"step": "code"}, {"invite_id": 4, "step": "name"}],
    "language": [{}],
    "reminder": [{}],
    "admin_deadline": [
        {"step": "pick", "root_id": 1},
        {"step": "date", "root_id": 1, "year": 2026, "kind": "annual", "period": "2026"},
        {"step": "reason", "root_id": 1, "year": 2026, "kind": "annual", "period": "2026",
         "due": "27/11/2026"},
        {"step": "rule_date", "root_id": 1, "kind": "annual", "rule_step": "units",
         "since": 2026},
    ],
    "admin_lock": [{"what": "unlock", "unit_id": 9, "period": "2026"}],
    "admin_announce": [
        {"step": "text", "root_id": 1},
        {"step": "confirm", "root_id": 1, "text": "Họp lúc 14:00", "announce_id": "0a1b2c3d4e5f"},
    ],
    "admin_officer": [{"officer_id": 12}],
    "case_officer": [
        {"step": "pick"},
        {"step": "action", "case_id": 3},
        {"step": "note", "case_id": 3, "to": "verifying"},
    ],
}  # fmt: skip


def test_every_flow_has_a_typed_state() -> None:
    assert set(build_router(Deps()).flows) == set(FLOW_STATES)
    assert set(OLD_SHAPES) | {"report", "case"} == set(FLOW_STATES)


def test_old_short_flow_states_load_key_for_key() -> None:
    for flow, shapes in OLD_SHAPES.items():
        for old in shapes:
            st = FLOW_STATES[flow].model_validate({**old, "_numbered": True})
            assert st.v == 1, flow
            dumped = st.dump()
            # Every key the old code stored reads back with its value; nothing else is set.
            assert {k: dumped[k] for k in old} == old, flow
            assert all(v in (None, "", 1) for k, v in dumped.items() if k not in old), flow
    register = RegisterState.model_validate({"invite_id": 4, "step": "position", "full_name": "A"})
    assert (register.step, register.invite_id, register.full_name) == ("position", 4, "A")
    assert LockState.model_validate(OLD_SHAPES["admin_lock"][0]).what == "unlock"
    assert CaseOfficerState.model_validate({"step": "note", "case_id": 3, "to": "__note__"}).to


async def _state(db: Database, user: str) -> dict:
    return (await conversation_state(db, "terminal", user))[1]


async def test_a_registration_in_flight_under_the_old_state_goes_on(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat("lan")
    code = await new_invite(demo_db, "28303", now=chat.dispatcher.clock())
    await chat.send(f"/start {code}")
    invite_id = (await _state(demo_db, "lan"))["invite_id"]
    await _set_state(demo_db, "lan", "register", {"invite_id": invite_id, "step": "name"})
    assert "Chức vụ" in await chat.send("Nguyễn Thị Lan")
    await _set_state(
        demo_db,
        "lan",
        "register",
        {"invite_id": invite_id, "step": "position", "full_name": "Nguyễn Thị Lan"},
    )
    out = await chat.send("Công chức VH-XH")
    assert "Đăng ký xong" in out and "Nguyễn Thị Lan" in out
    await _set_state(demo_db, "lan", "language", {})
    await chat.send("/ngonngu")
    await _set_state(demo_db, "lan", "language", {})
    await chat.send("English")
    async with demo_db.session() as s:
        acc = (await s.exec(select(ChannelAccount).where(ChannelAccount.user_id == "lan"))).one()
    assert acc.lang == "en" and acc.officer_id is not None


async def test_admin_questions_in_flight_under_the_old_state_go_on(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    lan = make_chat(user="lan")
    await lan.register(demo_db, "28303")
    admin = await admin_chat(make_chat, demo_db)
    user = "admin-terminal"
    # /lich: the deadline desk, step by step from the old dicts.
    await admin.send("/lich")
    root = (await _state(demo_db, user))["root_id"]
    await _set_state(demo_db, user, "admin_deadline", {"step": "pick", "root_id": root})
    assert "Hạn nộp mới của Báo cáo tổng kết năm 2026" in await admin.send("1")
    date_step = {"step": "date", "root_id": root, "year": 2026, "kind": "annual", "period": "2026"}
    await _set_state(demo_db, user, "admin_deadline", date_step)
    assert "Căn cứ hoặc lý do" in await admin.send("27/11/2026")
    await _set_state(
        demo_db, user, "admin_deadline", {**date_step, "step": "reason", "due": "27/11/2026"}
    )
    out = await admin.send("Kế hoạch số 12/KH-UBND")
    assert "✓ Hạn nộp Báo cáo tổng kết năm 2026 của Tỉnh Hà Tĩnh" in out and "27/11/2026" in out
    # /thongbao: the text asked, then the preview confirmed.
    await admin.send("/thongbao")
    await _set_state(demo_db, user, "admin_announce", {"step": "text", "root_id": root})
    assert "Gửi tới 1 tài khoản" in await admin.send("Họp trực tuyến lúc 14:00")
    old_confirm = {
        "step": "confirm", "root_id": root, "text": "Họp lúc 15:00", "announce_id": "0a1b2c3d4e5f"
    }  # fmt: skip
    await _set_state(demo_db, user, "admin_announce", old_confirm)
    assert "Đã xếp 1 tin vào hàng gửi" in await admin.send("1")
    async with demo_db.session() as s:
        [row] = (await s.exec(select(Outbox))).all()
    assert row.batch == "announce:0a1b2c3d4e5f" and "Họp lúc 15:00" in row.text
    # /mokhoa asked for the reason.
    clock.set(local("2027-01-05T09:00"))
    assert "Lý do" in await admin.send("/mokhoa 28303 2026")
    unit_id = (await _state(demo_db, user))["unit_id"]
    await _set_state(
        demo_db, user, "admin_lock", {"what": "unlock", "unit_id": unit_id, "period": "2026"}
    )
    assert "Đã mở khóa Báo cáo tổng kết năm 2026 của Xã Thạch Lạc" in await admin.send("Bổ sung")
    # /canbo ngung asked for the confirmation.
    async with demo_db.session() as s:
        officer = (await s.exec(select(Officer).where(Officer.full_name == "Nguyễn Thị Lan"))).one()
    await admin.send(f"/canbo ngung {officer.id}")
    await _set_state(demo_db, user, "admin_officer", {"officer_id": officer.id})
    assert "Đã ngừng Nguyễn Thị Lan" in await admin.send("1")


async def test_a_case_officers_step_in_flight_under_the_old_state_goes_on(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    officer = make_chat("lan")
    await officer.register(demo_db, "28303")
    code = await report_case(make_chat("citizen"), CITIZEN_CALM)
    case = await case_by_code(demo_db, code)
    await officer.send("/vuviec")
    await _set_state(demo_db, "lan", "case_officer", {"step": "pick"})
    assert f"Vụ việc {code}" in await officer.send(code)
    await _set_state(demo_db, "lan", "case_officer", {"step": "action", "case_id": case.id})
    assert "Ghi chú (không bắt buộc" in await officer.send("2")  # → đang xác minh
    await _set_state(
        demo_db, "lan", "case_officer", {"step": "note", "case_id": case.id, "to": "verifying"}
    )
    assert "đã chuyển sang «đang xác minh»" in await officer.send("Đã gọi điện")
    assert (await case_by_code(demo_db, code)).status == "verifying"


async def test_the_answer_to_a_reminder_under_the_old_state_opens_the_report(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat("lan")
    await chat.register(demo_db, "28303")
    await _set_state(demo_db, "lan", "reminder", {})
    async with demo_db.session() as s:
        acc = (await s.exec(select(ChannelAccount).where(ChannelAccount.user_id == "lan"))).one()
        conv = (await s.exec(select(Conversation).where(Conversation.account_id == acc.id))).one()
        conv.menu = Menu([Choice(START_REPORT, "Làm báo cáo")]).to_json()
    assert "Câu 1/" in await chat.send("1")


async def test_a_state_no_model_reads_ends_the_flow_with_a_word_not_an_error(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat("lan")
    await chat.register(demo_db, "28303")
    await chat.send("/baocao")
    # A state this version cannot read (from a newer version, after a rollback).
    await _set_state(demo_db, "lan", "report", {"v": 2, "mode": "zoom", "q": 7})
    out = await chat.send("12 30")
    assert chat.last is not None and not chat.last.failed
    assert "không đọc được bước" in out and "vẫn còn" in out
    flow, _ = await conversation_state(demo_db, "terminal", "lan")
    assert flow is None
    assert "Câu " in await chat.send("/baocao")  # the report goes on from the saved answers


async def test_a_citizens_conversation_keeps_only_a_coarse_time(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    """The typed state is saved at a coarse time like every other write of a citizen's
    conversation, so it cannot be joined to a case's times."""
    clock.set(local("2026-11-25T09:07:31"))
    chat = make_chat("c")
    for line in CITIZEN_URGENT[:3]:  # an intake in progress: its typed state saved
        await chat.send(line)
    async with demo_db.session() as s:
        acc = (await s.exec(select(ChannelAccount).where(ChannelAccount.user_id == "c"))).one()
        conv = (await s.exec(select(Conversation).where(Conversation.account_id == acc.id))).one()
    assert conv.flow == "case" and conv.state.get("v") == 2
    at = conv.updated_at
    assert (at.minute % 15, at.second, at.microsecond) == (0, 0, 0)
