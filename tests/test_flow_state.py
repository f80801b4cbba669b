"""Typed conversation state: a draft saved by the code before typed state (a plain dict)
still loads and the conversation goes on where it was."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import select

from db.engine import Database
from db.models import ChannelAccount, Conversation, Report, ReportValue
from handlers.state import CaseState, ReportState
from tests.answers import ANSWERS, conversation_state, current_question
from tests.cases_helpers import (
    CITIZEN_URGENT,
    all_cases,
    case_by_code,
    case_keys,  # noqa: F401  (autouse fixture)
    report_case,
)
from tests.chat import Chat


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
