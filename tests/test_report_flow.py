"""Transcripts: an officer registers with an invite, fills in the 6-month and the annual
report, reviews, edits and submits; what is stored equals what was typed."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import select

from db.engine import Database
from db.models import Officer, Report, ReportValue, ReportVersion
from tests.answers import ANSWERS, conversation_state, current_question
from tests.chat import Chat, Clock
from tests.conftest import local


async def fill(chat: Chat, db: Database, answers: dict = ANSWERS) -> list[str]:
    """Answer every question asked until the summary; returns the ids in the order asked."""
    asked = []
    for _ in range(200):
        qid = await current_question(db, chat.channel, chat.user)
        if qid is None:
            break
        asked.append(qid)
        await chat.send(answers[qid][0])
    return asked


async def stored(db: Database, period: str) -> tuple[Report, dict]:
    async with db.session() as s:
        report = (await s.exec(select(Report).where(Report.period == period))).one()
        rows = (await s.exec(select(ReportValue).where(ReportValue.report_id == report.id))).all()
        return report, {r.question_id: r.value for r in rows}


async def test_register_then_full_annual_report(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat()
    out = await chat.register(demo_db)
    assert "Đăng ký xong: Nguyễn Thị Lan, Xã Thạch Lạc" in out
    out = await chat.send("/baocao")
    assert "Báo cáo tổng kết năm 2026" in out
    assert "Hạn nộp: 07/12/2026" in out  # 05/12/2026 is a Saturday: moved to Monday
    assert "Câu 1/" in out
    asked = await fill(chat, demo_db)
    assert "am_kickoff" in asked and "am_participants" in asked  # annual-only section
    flow, state = await conversation_state(demo_db, "terminal", "u1")
    assert flow == "report" and state["mode"] == "summary"
    summary = chat.log[-1][1]
    assert "Xem lại" in summary and "nam 12, nữ 30 — tổng 42" in summary
    assert "15.500.000 đồng" in summary
    out = await chat.send("gửi")
    assert "Số tham chiếu: BC-2026-28303-1" in out
    assert "09:00 25/11/2026" in out
    report, values = await stored(demo_db, "2026")
    assert report.status == "submitted" and report.version == 1
    for qid in asked:
        assert values[qid] == ANSWERS[qid][1], qid
    async with demo_db.session() as s:
        version = (await s.exec(select(ReportVersion))).one()
        officer = (await s.exec(select(Officer))).one()
    assert version.values == {q: ANSWERS[q][1] for q in asked}
    assert version.submitted_by == officer.id


async def test_six_month_report_skips_annual_questions(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    clock.set(local("2026-05-25T10:00"))
    chat = make_chat()
    await chat.register(demo_db)
    out = await chat.send("/baocao")
    assert "Báo cáo sơ kết 6 tháng đầu năm 2026" in out and "Hạn nộp: 05/06/2026" in out
    asked = await fill(chat, demo_db)
    assert not {"am_kickoff", "am_events"} & set(asked)
    await chat.send("gửi")
    report, values = await stored(demo_db, "2026S1")
    assert report.status == "submitted"
    assert {q: values[q] for q in asked} == {q: ANSWERS[q][1] for q in asked}


async def test_edit_from_summary_and_revision_keeps_history(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    chat = make_chat()
    await chat.register(demo_db)
    await chat.send("/baocao")
    await fill(chat, demo_db)
    summary = chat.log[-1][1]
    line = next(x for x in summary.splitlines() if "Số lớp tập huấn" in x)
    number = line.split(".")[0].strip()
    out = await chat.send(number)
    assert "Số lớp tập huấn, bồi dưỡng" in out
    out = await chat.send("3")
    assert "Xem lại" in out  # straight back to the summary
    await chat.send("gửi")
    _, values = await stored(demo_db, "2026")
    assert values["training_courses"] == 3
    # Revise after submitting: a second version, the first kept.
    clock.advance(days=1)
    out = await chat.send("/baocao")
    assert "đã được gửi" in out and "BC-2026-28303-1" in out
    out = await chat.send("1")
    assert "phiên bản 2" in out
    await chat.send(number)
    await chat.send("4")
    out = await chat.send("gửi")
    assert "BC-2026-28303-2" in out
    async with demo_db.session() as s:
        versions = (await s.exec(select(ReportVersion).order_by(ReportVersion.version))).all()
    assert [v.values["training_courses"] for v in versions] == [3, 4]


async def test_pause_and_resume_at_first_unanswered(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat()
    await chat.register(demo_db)
    await chat.send("/baocao")
    for _ in range(5):
        qid = await current_question(demo_db, "terminal", "u1")
        assert qid
        await chat.send(ANSWERS[qid][0])
    expected_next = await current_question(demo_db, "terminal", "u1")
    out = await chat.send("/huy")
    assert "Đã lưu nháp" in out
    out = await chat.send("/baocao")
    assert "làm tiếp" in out and "Đã trả lời 5 câu" in out
    assert await current_question(demo_db, "terminal", "u1") == expected_next


async def test_whole_section_no_activity_sets_counts_to_zero(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat()
    await chat.register(demo_db)
    await chat.send("/baocao")
    while (qid := await current_question(demo_db, "terminal", "u1")) != "comm_sessions":
        assert qid
        await chat.send(ANSWERS[qid][0])
    out = await chat.send("không có hoạt động")
    assert "không có hoạt động, các số liệu được ghi 0" in out
    _, values = await stored(demo_db, "2026")
    assert values["comm_sessions"] == 0 and values["comm_participants"] == {"m": 0, "f": 0}
    assert values["comm_news"] == 0
    assert await current_question(demo_db, "terminal", "u1") == "training_courses"


async def test_consistency_rules_block_submit_and_name_answers(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat()
    await chat.register(demo_db)
    await chat.send("/baocao")
    bad = dict(ANSWERS, victims_u16=("9", 9), leaders_women=("7", 7))
    await fill(chat, demo_db, bad)
    out = await chat.send("gửi")
    assert "Chưa gửi được" in out
    assert "Số nạn nhân dưới 16 tuổi không thể lớn hơn tổng số nạn nhân" in out
    assert (
        "«Trong đó, số nạn nhân dưới 16 tuổi» = 9" in out and "«Số nạn nhân» = nam 1, nữ 4" in out
    )
    assert "Số lãnh đạo nữ không thể lớn hơn tổng số lãnh đạo" in out
    report, _ = await stored(demo_db, "2026")
    assert report.status == "draft" and report.version == 0


async def test_multi_choice_by_taps(make_chat: Callable[..., Chat], demo_db: Database) -> None:
    chat = make_chat(channel="telegram")
    await chat.register(demo_db)
    await chat.send("/baocao")
    while (qid := await current_question(demo_db, "telegram", "u1")) != "comm_channels":
        assert qid
        await chat.send(ANSWERS[qid][0])
    out = await chat.tap("social")
    assert "✅ Mạng xã hội, Zalo" in out
    await chat.tap("schools")
    await chat.tap("social")  # untick
    out = await chat.tap("__done__")
    assert "Đã lưu: Trường học" in out
    _, values = await stored(demo_db, "2026")
    assert values["comm_channels"] == ["schools"]


async def test_locked_period_explains_who_unlocks(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    chat = make_chat()
    await chat.register(demo_db)
    clock.set(local("2026-07-10T09:00"))  # 2026S1 locked on 30/06; 2026 not open yet
    out = await chat.send("/baocao 2026S1")
    assert "đã khóa từ ngày 30/06/2026" in out and "Tỉnh Hà Tĩnh" in out and "/mokhoa" in out
    flow, _ = await conversation_state(demo_db, "terminal", "u1")
    assert flow is None


async def test_same_update_twice_changes_nothing(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat()
    await chat.register(demo_db)
    await chat.send("/baocao")
    await chat.send("có", dedupe_key="tg:update:77")
    q_after_first = await current_question(demo_db, "terminal", "u1")
    out = await chat.send("không", dedupe_key="tg:update:77")
    assert out == "" and chat.last is not None and chat.last.duplicate
    assert await current_question(demo_db, "terminal", "u1") == q_after_first
    _, values = await stored(demo_db, "2026")
    assert values["plan_issued"] is True


async def test_info_commands(make_chat: Callable[..., Chat], demo_db: Database) -> None:
    chat = make_chat()
    out = await chat.send("/baocao")
    assert "dành cho cán bộ đã đăng ký" in out
    await chat.register(demo_db)
    out = await chat.send("/lich")
    assert "Báo cáo tổng kết năm: hạn 07/12/2026 (còn 12 ngày)" in out
    assert "Tháng hành động vì bình đẳng giới" in out and "đang diễn ra" in out
    out = await chat.send("/trangthai")
    assert "Báo cáo tổng kết năm 2026: chưa làm" in out
    assert "Báo cáo sơ kết 6 tháng đầu năm 2026: không nộp (đã khóa)" in out
    out = await chat.send("/trogiup")
    for cmd in ("/baocao", "/lich", "/trangthai", "/huy", "/trogiup"):
        assert cmd in out


async def test_english_catalog(make_chat: Callable[..., Chat], demo_db: Database) -> None:
    chat = make_chat(lang="en")
    out = await chat.register(demo_db)
    assert "Registered: Nguyễn Thị Lan, Xã Thạch Lạc" in out
    out = await chat.send("/baocao")
    assert "Annual report 2026" in out and "Question 1/" in out
    out = await chat.send("maybe")
    assert "Please answer yes or no" in out


async def test_group_chat_is_told_to_write_privately(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat()
    out = await chat.send("/baocao", chat_type="group")
    assert "tin nhắn riêng" in out


async def test_switch_language(make_chat: Callable[..., Chat], demo_db: Database) -> None:
    chat = make_chat()
    out = await chat.send("/ngonngu")
    assert "Chọn ngôn ngữ" in out
    out = await chat.send("2")
    assert "Messages will now be in English." in out
    out = await chat.send("/trogiup")
    assert "Commands" in out and "register with an invite code" in out
    out = await chat.send("/ngonngu vi")
    assert "Đã chuyển sang tiếng Việt." in out


async def test_late_override_keeps_last_years_report_open_in_january(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    """An override moved the 2026 annual report to 20/12/2026: it locks 25 days later, so on
    05/01/2027 /baocao still opens the 2026 report (not 2027S1)."""
    from services.overrides import set_override

    async with demo_db.session() as s:
        from db.queries import unit_by_code

        province = await unit_by_code(s, "42")
        assert province is not None
        await set_override(s, province, 2026, "annual", "20/12/2026", None, "test", now=clock())
    chat = make_chat()
    await chat.register(demo_db)
    clock.set(local("2027-01-05T09:00"))
    out = await chat.send("/baocao")
    assert "Báo cáo tổng kết năm 2026" in out and "21/12/2026" in out


async def test_writing_again_makes_an_unreachable_account_reachable(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    from db.models import ChannelAccount

    chat = make_chat()
    await chat.register(demo_db)
    async with demo_db.session() as s:
        acc = (await s.exec(select(ChannelAccount))).one()
        acc.unreachable = True  # the outbox saw "blocked by the user"
    await chat.send("/trogiup")
    async with demo_db.session() as s:
        assert (await s.exec(select(ChannelAccount))).one().unreachable is False


async def test_a_reports_last_change_follows_its_answers(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    """The report's updated_at moves with every answer stored, on both databases, though no
    statement of the step writes it (PostgreSQL: the answers' CTE; SQLite: the triggers of
    migration 0009), and an answer changed later moves it again."""
    chat = make_chat()
    await chat.register(demo_db)
    await chat.send("/baocao")
    opened, _ = await stored(demo_db, "2026")
    clock.advance(minutes=7)
    first = await current_question(demo_db, chat.channel, chat.user)
    assert first is not None
    await chat.send(ANSWERS[first][0])
    report, values = await stored(demo_db, "2026")
    assert first in values
    assert report.updated_at == clock.now != opened.updated_at
    clock.advance(minutes=3)
    second = await current_question(demo_db, chat.channel, chat.user)
    assert second is not None and second != first
    await chat.send(ANSWERS[second][0])
    report, _ = await stored(demo_db, "2026")
    assert report.updated_at == clock.now
