"""Reminders as an officer meets them in the chat: "gõ 1" (or the button) opens the report,
/tatnhacnho mutes Action Month alerts only, a submitted report stops the reminders, and a
deadline override shows in /lich and /baocao."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from db import queries
from db.engine import Database
from db.models import Conversation, Officer, Outbox
from kernel.calendar import load_calendar, override_fits
from services.overrides import OverrideError, for_unit, set_override, validate
from tests.answers import conversation_state
from tests.chat import Chat, Clock
from tests.conftest import local
from tests.reminders_support import World, build_tree
from tests.test_report_flow import fill


async def reminded(demo_db: Database, clock: Clock, iso: str) -> World:
    w = World(demo_db, clock)
    await w.tick(iso)
    await w.send()
    return w


async def test_typing_1_after_a_reminder_opens_the_report(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    chat = make_chat()
    await chat.register(demo_db)
    w = await reminded(demo_db, clock, "2026-12-04T08:00")
    [sent] = w.sent("u1")
    assert "Gõ 1 để bắt đầu ngay" in sent.plain and sent.plain.endswith("1. 📝 Làm báo cáo ngay")
    clock.set(local("2026-12-04T09:30"))
    out = await chat.send("1")
    assert "Báo cáo tổng kết năm 2026" in out and "Hạn nộp: 07/12/2026 (còn 3 ngày)" in out
    assert "Câu 1/" in out
    flow, state = await conversation_state(demo_db, "terminal", "u1")
    assert flow == "report" and state["mode"] == "ask"


async def test_the_telegram_button_opens_the_report_even_after_another_command(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    chat = make_chat(user="42", channel="telegram")
    await chat.register(demo_db)
    w = await reminded(demo_db, clock, "2026-12-04T08:00")
    [sent] = w.sent("42")
    assert "Bấm «📝 Làm báo cáo ngay»" in sent.reply.text
    assert "Lịch công tác" in await chat.send("/lich")
    out = await chat.tap("start_report")
    assert "Câu 1/" in out
    assert chat.last is not None and chat.last.chosen_label == "📝 Làm báo cáo ngay"


async def test_a_reminder_does_not_disturb_a_conversation_in_progress(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    chat = make_chat()
    await chat.register(demo_db)
    await chat.send("/baocao")  # question 1 is yes/no: "1" means "Có"
    before = await conversation_state(demo_db, "terminal", "u1")
    await reminded(demo_db, clock, "2026-12-04T08:00")
    assert await conversation_state(demo_db, "terminal", "u1") == before
    out = await chat.send("1")
    assert "✓ Đã lưu: Có" in out


async def test_other_messages_after_a_reminder_work_as_usual(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    chat = make_chat()
    await chat.register(demo_db)
    await reminded(demo_db, clock, "2026-12-04T08:00")
    assert "Lịch công tác" in await chat.send("lich")  # a command without the slash
    assert (await conversation_state(demo_db, "terminal", "u1"))[0] is None
    await reminded(demo_db, clock, "2026-12-07T08:00")
    assert "Chào Nguyễn Thị Lan" in await chat.send("xin chào")


async def test_mute_stops_action_month_alerts_but_not_deadline_reminders(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    chat = make_chat()
    await chat.register(demo_db)
    assert "/tatnhacnho" in await chat.send("/trogiup")
    w = World(demo_db, clock)
    await w.tick("2026-11-30T08:00")  # annual report in 7 days + a weekly Action Month prompt
    clock.set(local("2026-11-30T08:00:10"))
    assert "Đã tắt nhắc Tháng hành động" in await chat.send("/tatnhacnho")
    assert "đã tắt từ trước" in await chat.send("tatnhacnho")
    await w.send()
    assert ["Nhắc hạn nộp báo cáo" in s.plain for s in w.sent("u1")] == [True]
    rows = {r.kind: r for r in await w.rows()}
    assert (rows["alert"].status, rows["alert"].last_error) == ("cancelled", "muted")
    await w.tick("2026-12-07T08:00")  # due today + weekly prompt
    await w.send()
    assert len(w.sent("u1")) == 2 and "đang diễn ra" not in w.sent("u1")[-1].plain
    assert "Đã bật lại" in await chat.send("/batnhacnho")
    assert "đang bật" in await chat.send("/batnhacnho")
    await w.tick("2026-12-15T08:00")  # the closing prompt; the report is late too
    await w.send()
    assert any("kết thúc ngày 15/12/2026" in s.plain for s in w.sent("u1"))


async def test_no_reminder_after_the_report_is_submitted_in_the_chat(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    chat = make_chat()
    await chat.register(demo_db)
    await chat.send("/baocao")
    await fill(chat, demo_db)
    assert "Số tham chiếu" in await chat.send("gửi")
    w = World(demo_db, clock)
    for iso in ("2026-11-30T08:00", "2026-12-04T08:00", "2026-12-08T08:00"):
        await w.tick(iso)
        await w.send()
    kinds = [("Nhắc hạn" in s.plain, "đang diễn ra" in s.plain) for s in w.sent("u1")]
    assert kinds == [(False, True)]  # only the Action Month's weekly prompt of 30/11
    # A revision in progress (status draft again, version 1) still counts as submitted.
    await chat.send("/baocao")
    await chat.send("1")
    await w.tick("2026-12-10T08:00")
    assert not [p for p in (await w.tick("2026-12-10T09:00", dry_run=True)).planned]
    assert not [r for r in await w.rows() if r.kind == "reminder"]


async def test_english_speakers_get_english_reminders(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    chat = make_chat(user="en1", lang="en")
    await chat.register(demo_db)
    w = await reminded(demo_db, clock, "2026-12-04T08:00")
    assert w.sent("en1")[0].plain.startswith(
        "⏰ Report deadline reminder\nAnnual report 2026 — Xã Thạch Lạc\nDue: 07/12/2026 (3 days left)."
    )


async def test_an_override_shows_in_lich_and_baocao(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    chat = make_chat()
    await chat.register(demo_db)
    async with demo_db.session() as s:
        province = await queries.unit_by_code(s, "42")
        assert province is not None
        await set_override(s, province, 2026, "annual", "27/11/2026", None, "KH 003", source="cli")
    assert "hạn 27/11/2026 (còn 2 ngày)" in await chat.send("/lich")
    assert "Hạn nộp: 27/11/2026" in await chat.send("/baocao")


async def test_the_nearest_override_up_the_tree_wins(db: Database) -> None:
    tree = await build_tree(db)
    async with db.session() as s:
        await set_override(s, tree.units["P"], 2026, "annual", date(2026, 11, 27), None, None)
        row = await set_override(s, tree.units["D"], 2026, "annual", "01/12/2026", None, "x")
        # Setting again replaces.
        again = await set_override(s, tree.units["D"], 2026, "annual", "02/12/2026", None, "y")
        assert again.id == row.id and again.due == date(2026, 12, 2)
        assert await for_unit(s, tree.units["C3"], 2026) == {"annual": date(2026, 12, 2)}
        assert await for_unit(s, tree.units["C1"], 2026) == {"annual": date(2026, 11, 27)}
        assert await for_unit(s, tree.units["C1"], 2027) == {}


@pytest.mark.parametrize(
    ("year", "kind", "due", "key"),
    [
        (2026, "annual", "31/02/2026", "deadline.bad_date"),
        (2026, "annual", "01/02/2027", "deadline.bad_date"),
        (2026, "annual", "30/12/2025", "deadline.bad_date"),
        (2026, "annual", "ngày mai", "deadline.bad_date"),
        (2026, "quarterly", "27/11/2026", "deadline.bad_kind"),
        (1999, "annual", "27/11/1999", "deadline.bad_year"),
    ],
)
def test_invalid_overrides_are_refused_with_a_catalog_key(
    year: int, kind: str, due: str, key: str
) -> None:
    with pytest.raises(ValueError) as info:
        validate(load_calendar(), year, kind, due, None)
    assert isinstance(info.value, OverrideError) and info.value.key == key


def test_valid_overrides() -> None:
    cal = load_calendar()
    assert validate(cal, 2026, "annual", "27/11/2026", None) == (2026, "annual", date(2026, 11, 27))
    assert validate(cal, 2026, "annual", "15/01/2027", "x")[2] == date(2027, 1, 15)
    with pytest.raises(OverrideError):
        validate(cal, 2026, "annual", "27/11/2026", "x" * 301)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.integers(min_value=1990, max_value=2110))
def test_any_typed_due_date_is_either_refused_or_in_range(text: str, year: int) -> None:
    try:
        _, _, due = validate(load_calendar(), year, "annual", text, None)
    except OverrideError as e:
        assert e.key in {"deadline.bad_date", "deadline.bad_year"}
    else:
        assert override_fits(year, due)


@settings(max_examples=100, deadline=None)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 12, 31)))
def test_any_real_date_of_the_year_is_accepted(d: date) -> None:
    assert validate(load_calendar(), d.year, "semiannual", d.strftime("%d/%m/%Y"), None)[2] == d


def test_cli_deadline_and_remind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from bot.cli import main
    from kernel.settings import get_settings

    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'cli.sqlite3'}")
    monkeypatch.setenv("BDG_LOG_LEVEL", "WARNING")
    monkeypatch.setenv("BDG_FAKE_NOW", "2026-11-20T09:00")
    get_settings.cache_clear()
    try:
        run = CliRunner().invoke
        assert run(main, ["seed-demo"]).exit_code == 0
        out = run(
            main,
            [
                "deadline",
                "set",
                "--unit",
                "42",
                "--year",
                "2026",
                "--kind",
                "annual",
                "--due",
                "27/11/2026",
                "--reason",
                "KH 003",
            ],
        )
        assert out.exit_code == 0, out.output
        assert "due 27/11/2026" in out.output
        bad = run(
            main,
            [
                "deadline",
                "set",
                "--unit",
                "42",
                "--year",
                "2026",
                "--kind",
                "annual",
                "--due",
                "31/02/2026",
            ],
        )
        assert bad.exit_code == 1 and "ngày có thật trong năm 2026" in bad.output
        bad = run(
            main,
            [
                "deadline",
                "set",
                "--unit",
                "NOPE",
                "--year",
                "2026",
                "--kind",
                "annual",
                "--due",
                "27/11/2026",
            ],
        )
        assert bad.exit_code == 1 and "NOPE (" in bad.output
        # A due date already past (today is 20/11/2026) needs --yes, and nothing is saved
        # without it.
        past = ["deadline", "set", "--unit", "42-SYT", "--year", "2026", "--kind", "annual"]
        refused = run(main, [*past, "--due", "10/11/2026"])
        assert refused.exit_code == 1 and "10/11/2026" in refused.output
        assert "--yes" in refused.output and "Traceback" not in refused.output
        assert "42-SYT" not in run(main, ["deadline", "list"]).output
        confirmed = run(main, [*past, "--due", "10/11/2026", "--yes"])
        assert confirmed.exit_code == 0 and "due 10/11/2026" in confirmed.output
        listed = run(main, ["deadline", "list"])
        assert "42" in listed.output and "27/11/2026" in listed.output and "KH 003" in listed.output
        invite = run(main, ["invite", "28303"]).output.strip().splitlines()[-1]
        chat = run(
            main, ["chat", "--user", "lan"], input=f"/start {invite}\nNguyễn Thị Lan\nCông chức\n"
        )
        assert "Đăng ký xong" in chat.output
        dry = run(main, ["remind", "--at", "2026-11-23T08:00", "--dry-run"])
        assert dry.exit_code == 0, dry.output
        assert "remind:2026:2026-11-23:off:1" in dry.output
        assert "Hạn nộp: 27/11/2026 (còn 4 ngày)." in dry.output
        assert "Sẽ lên lịch 2 tin nhắn" in dry.output
        sent = run(main, ["remind", "--at", "2026-11-23T08:00"])
        assert "→ terminal:lan" in sent.output and "Đã gửi 2, lỗi 0" in sent.output
        again = run(main, ["remind", "--at", "2026-11-23T10:00"])
        assert "Đã lên lịch 0 tin nhắn; 2 tin đã có trong hàng gửi" in again.output
        cleared = run(main, ["deadline", "clear", "--unit", "42-SYT", "--year", "2026"])
        assert "Đã xóa 1 hạn nộp riêng" in cleared.output
        cleared = run(main, ["deadline", "clear", "--unit", "42", "--year", "2026"])
        assert "Đã xóa 1 hạn nộp riêng" in cleared.output
    finally:
        get_settings.cache_clear()


async def test_unknown_officer_commands_are_refused(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat(user="nobody")
    assert "dành cho cán bộ đã đăng ký" in await chat.send("/tatnhacnho")
    async with demo_db.session() as s:
        assert (await s.exec(select(Officer))).first() is None
        assert (await s.exec(select(Outbox))).first() is None
        assert (await s.exec(select(Conversation))).first() is not None
