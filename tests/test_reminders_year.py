"""Time travel through 2026 with an injected clock: who hears what, on which day.

The tree: province P (an admin) with communes C1 (never reports) and C2 (submits the 6-month
report on 03/06), and district D (an admin; deadline override: annual report due 27/11/2026)
with commune C3 (never reports). The planner runs at 07:45, 08:00 and 13:30 every day, the
dispatcher after each tick.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from pathlib import Path

from db.engine import Database
from db.models import Outbox
from kernel.calendar import is_working_day, load_calendar
from services.overrides import set_override
from tests.chat import Clock
from tests.conftest import local
from tests.reminders_support import World, build_tree, days, each_day, submit


def kind_of(text: str) -> str:
    for marker, kind in (
        ("Nhắc hạn nộp báo cáo", "before"),
        ("Báo cáo quá hạn", "late"),
        ("sắp bắt đầu", "heads_up"),
        ("</b> bắt đầu:", "kickoff"),
        ("đang diễn ra", "weekly"),
        ("kết thúc ngày", "closing"),
        ("Đơn vị chưa nộp báo cáo", "digest"),
    ):
        if marker in text:
            return kind
    raise AssertionError(f"unknown message: {text[:80]}")


def working_days(start: date, end: date) -> list[date]:
    return [d for d in each_day(start, end) if is_working_day(d)]


SEMIANNUAL_BEFORE = days("29/05", "02/06", "04/06", "05/06")
SEMIANNUAL_LATE = days(
    "08/06", "15/06", "22/06", "29/06"
)  # 06/06 is a Saturday: 1 and 3 days late meet on Monday
ANNUAL_BEFORE = days(
    "30/11", "04/12", "07/12"
)  # 05/12/2026 is a Saturday: due Monday 07/12; 06/12 (Sunday) → 04/12
ANNUAL_LATE = days("08/12", "10/12", "17/12", "24/12", "31/12")  # lock 01/01/2027
# Override 27/11/2026 (Friday); 24/11 is a holiday (Vietnam Cultural Day) → 23/11; 28/11 Saturday → 30/11.
OVERRIDE_BEFORE = days("20/11", "23/11", "26/11", "27/11")
OVERRIDE_LATE = days("30/11", "07/12", "14/12", "21/12")  # lock 22/12
DV_MONTH = {
    "heads_up": days("27/05"),
    "kickoff": days("01/06"),
    "weekly": days("08/06", "15/06", "22/06"),
    "closing": days("30/06"),
}
# 15/11/2026 is a Sunday: the kick-off comes on Monday 16/11; weekly prompts from 22/11 move to Mondays.
GE_MONTH = {
    "heads_up": days("10/11"),
    "kickoff": days("16/11"),
    "weekly": days("23/11", "30/11", "07/12"),
    "closing": days("15/12"),
}


def expected_officer(before: list[date], late: list[date]) -> dict[str, list[date]]:
    out: dict[str, list[date]] = defaultdict(list)
    out["before"] += before
    out["late"] += late
    for months in (DV_MONTH, GE_MONTH):
        for k, v in months.items():
            out[k] += v
    return {k: sorted(v) for k, v in out.items()}


async def test_a_whole_year_of_reminders(db: Database) -> None:
    tree = await build_tree(db)
    clock = Clock(local("2026-01-01T00:00"))
    w = World(db, clock)
    async with db.session() as s:
        await set_override(s, tree.units["D"], 2026, "annual", "27/11/2026", None, "KH 003")

    for day in each_day(date(2026, 1, 1), date(2027, 1, 15)):
        for hhmm in ("07:45", "08:00", "13:30"):
            result = await w.tick(f"{day.isoformat()}T{hhmm}")
            if hhmm == "07:45":
                assert result.idle == "outside hours"
            if hhmm == "13:30":
                assert result.planned == [], day  # a later tick the same day adds nothing
            if result.planned:
                await w.send()
        if day == date(2026, 6, 3):
            await submit(db, tree.units["C2"], "2026S1", local("2026-06-03T10:00"))

    got: dict[str, dict[str, list[date]]] = {}
    for who in tree.officers:
        per: dict[str, list[date]] = defaultdict(list)
        for sent in w.sent(who):
            assert sent.day is not None
            per[kind_of(sent.reply.text)].append(sent.day)
        got[who] = {k: sorted(v) for k, v in per.items()}

    assert got["o1"] == expected_officer(
        SEMIANNUAL_BEFORE + ANNUAL_BEFORE, SEMIANNUAL_LATE + ANNUAL_LATE
    )
    # C2 submitted the 6-month report on 03/06: nothing about it after that.
    assert got["o2"] == expected_officer(days("29/05", "02/06") + ANNUAL_BEFORE, ANNUAL_LATE)
    assert got["o3"] == expected_officer(
        SEMIANNUAL_BEFORE + OVERRIDE_BEFORE, SEMIANNUAL_LATE + OVERRIDE_LATE
    )
    # One digest per working day while some unit below is late; none on weekends/holidays.
    assert got["admin_p"] == {
        "digest": working_days(date(2026, 6, 8), date(2026, 6, 30))
        + working_days(date(2026, 11, 30), date(2026, 12, 31))
    }
    assert got["admin_d"] == {
        "digest": working_days(date(2026, 6, 8), date(2026, 6, 30))
        + working_days(date(2026, 11, 30), date(2026, 12, 22))
    }

    # Exact texts on chosen days.
    def on(who: str, d: str) -> list[str]:
        return [x.plain for x in w.sent(who) if x.day == days(d)[0]]

    assert on("o1", "04/12") == [
        "⏰ Nhắc hạn nộp báo cáo\n"
        "Báo cáo tổng kết năm 2026 — Xã C1\n"
        "Hạn nộp: 07/12/2026 (còn 3 ngày).\n"
        "Gõ 1 để bắt đầu ngay (hoặc gõ /baocao).\n"
        "\n"
        "  1. 📝 Làm báo cáo ngay"
    ]
    telegram = [x for x in w.sent("o2") if x.day == days("04/12")[0]]
    assert len(telegram) == 1
    assert "Bấm «📝 Làm báo cáo ngay» để bắt đầu ngay." in telegram[0].reply.text
    assert [(c.key, c.label) for c in telegram[0].reply.choices] == [
        ("start_report", "📝 Làm báo cáo ngay")
    ]
    assert on("o3", "30/11")[0].startswith(
        "⚠️ Báo cáo quá hạn\nBáo cáo tổng kết năm 2026 — Xã C3\n"
        "Hạn nộp: 27/11/2026 (đã quá hạn 3 ngày). Báo cáo còn được nhận đến hết ngày 22/12/2026."
    )
    # The November kick-off mentions the unit's own annual deadline.
    assert (
        "Lưu ý: Báo cáo tổng kết năm 2026 hạn nộp 07/12/2026 (còn 21 ngày)." in on("o1", "16/11")[0]
    )
    assert (
        "Lưu ý: Báo cáo tổng kết năm 2026 hạn nộp 27/11/2026 (còn 11 ngày)." in on("o3", "16/11")[0]
    )
    assert "Lưu ý" not in on("o1", "01/06")[0]  # the June kick-off has no report to mention
    assert on("admin_p", "08/12") == [
        "📋 Đơn vị chưa nộp báo cáo — 08/12/2026\n"
        "\n"
        "Báo cáo tổng kết năm 2026: 3 đơn vị\n"
        "• Xã C3: quá hạn 11 ngày\n"
        "• Xã C1: quá hạn 1 ngày\n"
        "• Xã C2: quá hạn 1 ngày"
    ]
    assert on("admin_d", "08/12") == [
        "📋 Đơn vị chưa nộp báo cáo — 08/12/2026\n\n"
        "Báo cáo tổng kết năm 2026: 1 đơn vị\n• Xã C3: quá hạn 11 ngày"
    ]
    assert "Xã C2" not in on("admin_p", "09/06")[0]  # C2 submitted its 6-month report

    # Every row went out once; nothing is left.
    rows = await w.rows()
    assert {r.status for r in rows} == {"sent"}
    assert len(rows) == sum(len(ch.sent) for ch in w.channels.values())
    assert len({r.key for r in rows}) == len(rows)


async def test_repeated_ticks_in_a_day_add_nothing(db: Database) -> None:
    tree = await build_tree(db)
    w = World(db, Clock(local("2026-12-07T00:00")))
    async with db.session() as s:
        await set_override(s, tree.units["D"], 2026, "annual", "27/11/2026", None, None)
    counts = []
    for minute in range(0, 24 * 60, 15):
        await w.tick(f"2026-12-07T{minute // 60:02d}:{minute % 60:02d}")
        counts.append(len(await w.rows()))
    first = counts.index(next(c for c in counts if c))
    assert first == 32  # nothing before 08:00 (the 33rd quarter hour)
    # o1 due today + weekly alert, o2 the same, o3 late + weekly, and both admins' digests.
    assert counts[first] == 8
    assert set(counts[first:]) == {8}
    again = await w.tick("2026-12-07T15:00", dry_run=True)
    assert again.planned == [] and again.existing == 8


async def test_a_bot_down_at_eight_catches_up_the_same_day_but_not_at_night(db: Database) -> None:
    await build_tree(db)
    w = World(db, Clock(local("2026-12-04T10:15")))
    result = await w.tick()
    assert {p.kind for p in result.planned} == {"reminder"}
    assert all(p.not_before == local("2026-12-04T08:00") for p in result.planned)
    await w.send()
    assert [x.day for x in w.sent("o1")] == days("04/12")
    # 30/11 was never ticked before 21:00: that day's messages are skipped, not sent at night.
    late = await w.tick("2026-11-30T21:15")
    assert late.idle == "outside hours"


async def test_reminders_not_sent_for_half_a_day_expire(db: Database) -> None:
    await build_tree(db)
    w = World(db, Clock(local("2026-12-04T08:00")))
    assert (await w.tick()).planned
    w.clock.set(local("2026-12-04T20:01"))  # the dispatcher was down all day
    stats = await w.send()
    assert stats.sent == 0 and stats.expired == 3
    assert {(r.status, r.last_error) for r in await w.rows()} == {("cancelled", "expired")}


async def test_tet_moves_a_reminder_to_the_last_working_day_before(
    db: Database, tmp_path: Path
) -> None:
    """A province whose (test) calendar has a report due 24/02: 7 days before is 17/02/2026,
    Tết (16–20/02), and 3 days before a Saturday; both move to Friday 13/02."""
    cal_file = tmp_path / "calendar.yaml"
    cal_file.write_text(
        """
reports:
  - id: annual
    period: "{year}"
    form: bdg_report
    label: {vi: "Báo cáo đầu năm", en: "Early report"}
    opens: "01/01"
    due: "24/02"
    lock_days: 10
action_months: []
reminders:
  deadline: {before: [7, 3, 1, 0], after: [1, 3], after_every: 7}
""",
        encoding="utf-8",
    )
    await build_tree(db)
    w = World(db, Clock(local("2026-01-01T08:00")), cal=load_calendar(str(cal_file)))
    for day in each_day(date(2026, 2, 1), date(2026, 3, 20)):
        await w.tick(f"{day.isoformat()}T08:00")
        await w.send()
    assert [x.day for x in w.sent("o1")] == days(
        "13/02", "23/02", "24/02", "25/02", "27/02", "06/03"
    )
    assert "Hạn nộp: 24/02/2026 (còn 11 ngày)." in w.sent("o1")[0].plain


async def test_rows_say_what_for_whom_and_which_occurrence(db: Database) -> None:
    tree = await build_tree(db)
    w = World(db, Clock(local("2026-11-30T08:00")))
    await w.tick()
    o1 = tree.officers["o1"][0]
    keys = {r.key for r in await w.rows() if r.key.endswith(f":off:{o1}")}
    assert keys == {
        f"remind:2026:2026-11-30:off:{o1}",
        f"action:ge_month:2026:2026-11-30:off:{o1}",
    }
    row = next(r for r in await w.rows() if r.key == f"remind:2026:2026-11-30:off:{o1}")
    assert (row.kind, row.channel, row.chat_id, row.batch) == (
        "reminder",
        "zalo",
        "o1",
        "remind:2026:2026-11-30",
    )
    assert row.choices == [["start_report", "📝 Làm báo cáo ngay", None]]
    assert isinstance(row, Outbox)
