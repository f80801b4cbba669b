"""Local calendars that carry over (issue 15): recurring rules of a subtree set once, the
agency's compilation step with its own reminders and status, the weekend/holiday rule as a
setting, and the official holidays of 2026.

Province P (1) sets once, from 2026: "every year, communes report the annual report by 27/11;
the agency compiles it for the province by 10/12" (seed 003). Districts and communes as in
``tests/test_reminders_decide.py``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

import pytest

from db.schedule import CalendarRule, DeadlineOverride
from kernel.calendar import Calendar, is_working_day, load_calendar, move_due
from scheduler.decide import CompileDue, Deadline, Facts, Recipient, UnitInfo, decide
from services.local_calendar import Due, compile_steps, effective, rule_dues
from services.overrides import resolve

CAL = load_calendar()
UNITS = {
    1: UnitInfo(1, "Tỉnh P", "/1/", False),
    2: UnitInfo(2, "Xã C1", "/1/2/", True),
    3: UnitInfo(3, "Xã C2", "/1/3/", True),
}
OFFICER = Recipient(11, 2, "Cán bộ 11", "officer", False, 111, "zalo", "11", "vi")
ADMIN = Recipient(14, 1, "Thường trực 14", "admin", False, 114, "telegram", "14", "vi")
RULES = [
    CalendarRule(unit_id=1, kind="annual", step="submit", day=27, month=11, since_year=2026),
    CalendarRule(unit_id=1, kind="annual", step="compile", day=10, month=12, since_year=2026),
]


def _facts(
    day: date, *, compiled: Iterable[tuple[int, str]] = (), overrides: Iterable[Due] = ()
) -> Facts:
    periods = {f"{y}{s}" for y in (day.year - 1, day.year) for s in ("", "S1")}
    return Facts(
        units=UNITS,
        overrides=list(overrides),
        rules=RULES,
        compiled=set(compiled),
        pending={(2, p): 0 for p in periods},  # C1 never submits; C2 always has
        recipients=[OFFICER, ADMIN],
    )


def _year(year: int, **kw: object) -> dict[date, list[str]]:
    """Every day of Nov-Dec of ``year`` (and Jan after) with its messages at 08:00."""
    out: dict[date, list[str]] = {}
    day = date(year, 11, 1)
    while day < date(year + 1, 2, 1):
        d = decide(CAL, datetime.combine(day, time(8, 0)), _facts(day, **kw))  # type: ignore[arg-type]
        keys = [
            m.key.rsplit(":off:", 1)[0].split(":")[0] + f":{m.to.officer_id}" for m in d.messages
        ]
        if any(m.kind == "reminder" for m in d.messages):
            out[day] = sorted(k for k in keys if not k.startswith("digest"))
        day += timedelta(days=1)
    return out


def _days(plan: dict[date, list[str]], what: str) -> list[str]:
    return [d.strftime("%d/%m/%Y") for d, keys in plan.items() if what in keys]


def test_a_recurring_local_calendar_over_three_years() -> None:
    """Set once; 2026, 2027 and 2028 each remind on their own days, 27/11 moved only when it
    is a day off, and the agency's admin hears about the 10/12 compilation."""
    # 2026: 27/11 is a Friday; 10/12 a Thursday.
    p26 = _year(2026)
    assert _days(p26, "remind:11")[:4] == ["20/11/2026", "23/11/2026", "26/11/2026", "27/11/2026"]
    assert "30/11/2026" in _days(p26, "remind:11")  # 1 day late (Saturday) -> Monday
    assert _days(p26, "compile:14")[:4] == ["03/12/2026", "07/12/2026", "09/12/2026", "10/12/2026"]
    # 2027: 27/11 is a Saturday -> due Monday 29/11 (next working day, the default);
    # 10/12 is a Friday.
    p27 = _year(2027)
    # (1 day before is Sunday 28/11: moved to Friday 26/11, which already has one)
    assert _days(p27, "remind:11")[:4] == ["22/11/2027", "26/11/2027", "29/11/2027", "30/11/2027"]
    assert _days(p27, "compile:14")[:4] == ["03/12/2027", "07/12/2027", "09/12/2027", "10/12/2027"]
    # 2028: 27/11 is a Monday; 3 days before is Friday 24/11, Vietnam Culture Day, so
    # Thursday 23/11; 10/12 is a Sunday -> compilation due Monday 11/12.
    p28 = _year(2028)
    assert _days(p28, "remind:11")[:4] == ["20/11/2028", "23/11/2028", "27/11/2028", "28/11/2028"]
    assert _days(p28, "compile:14")[:4] == ["04/12/2028", "08/12/2028", "11/12/2028", "12/12/2028"]
    # The officer never hears of the compilation, the admin never of the commune's deadline.
    for plan in (p26, p27, p28):
        assert all("compile:11" not in keys and "remind:14" not in keys for keys in plan.values())


def test_the_rule_carries_over_and_a_later_rule_replaces_it_from_its_year() -> None:
    later = [
        *RULES,
        CalendarRule(unit_id=1, kind="annual", step="submit", day=25, month=11, since_year=2028),
    ]
    dues = {(d.year, d.kind): d.due for d in rule_dues(CAL, later, [2025, 2026, 2027, 2028])}
    assert (2025, "annual") not in dues  # before the rule: the calendar file's 05/12
    assert dues[(2026, "annual")] == date(2026, 11, 27)
    assert dues[(2027, "annual")] == date(2027, 11, 27)
    assert dues[(2028, "annual")] == date(2028, 11, 25)


def test_a_one_year_override_wins_over_the_rule_at_the_same_unit() -> None:
    ov = [DeadlineOverride(unit_id=1, year=2027, kind="annual", due=date(2027, 11, 20))]
    dues = effective(CAL, ov, RULES, [2026, 2027])
    got = resolve([(2, "/1/2/")], dues)[2]
    assert got[(2026, "annual")] == date(2026, 11, 27)
    assert got[(2027, "annual")] == date(2027, 11, 20)


def test_a_nearer_rule_wins_over_a_farther_override() -> None:
    rules = [
        CalendarRule(unit_id=2, kind="annual", step="submit", day=30, month=11, since_year=2026)
    ]
    ov = [DeadlineOverride(unit_id=1, year=2026, kind="annual", due=date(2026, 11, 20))]
    got = resolve([(2, "/1/2/"), (3, "/1/3/")], effective(CAL, ov, rules, [2026]))
    assert got[2][(2026, "annual")] == date(2026, 11, 30)
    assert got[3][(2026, "annual")] == date(2026, 11, 20)


def test_compilation_reminders_stop_once_compiled() -> None:
    day = date(2026, 12, 9)
    d = decide(CAL, datetime.combine(day, time(8)), _facts(day))
    [c] = [m for m in d.messages if isinstance(m.content, CompileDue)]
    assert c.to.officer_id == 14 and c.key == "compile:2026:2026-12-09:off:14"
    assert c.content.waiting == 1 and c.content.period.due == date(2026, 12, 10)
    d = decide(CAL, datetime.combine(day, time(8)), _facts(day, compiled=[(1, "2026")]))
    assert not [m for m in d.messages if isinstance(m.content, CompileDue)]


def test_the_units_deadline_follows_the_rule_in_the_message() -> None:
    day = date(2026, 11, 27)
    d = decide(CAL, datetime.combine(day, time(8)), _facts(day))
    [m] = [m for m in d.messages if isinstance(m.content, Deadline)]
    assert m.content.period.due == date(2026, 11, 27) and m.to.officer_id == 11


def test_a_compilation_in_january_belongs_to_the_next_year() -> None:
    rules = [
        CalendarRule(unit_id=1, kind="annual", step="compile", day=10, month=1, since_year=2026)
    ]
    [st] = compile_steps(CAL, rules, [2026])
    assert st.period.period == "2026" and st.period.nominal_due == date(2027, 1, 10)
    assert st.period.due == date(2027, 1, 11)  # 10/01/2027 is a Sunday


# -- the weekend / holiday rule ------------------------------------------------------------------


def _cal(rule: str) -> Calendar:
    raw = {
        "due_on_day_off": rule,
        "reports": [
            {
                "id": "annual",
                "period": "{year}",
                "form": "bdg_report",
                "label": {"vi": "Báo cáo tổng kết năm"},
                "opens": "01/11",
                "due": "05/12",
                "lock_days": 25,
            }
        ],
    }
    return Calendar(raw)


@pytest.mark.parametrize(
    ("rule", "due"),
    [
        ("next_working_day", date(2026, 12, 7)),  # the default: Civil Code art. 148
        ("previous_working_day", date(2026, 12, 4)),
        ("keep", date(2026, 12, 5)),
    ],
)
def test_a_deadline_on_a_saturday_moves_by_the_setting(rule: str, due: date) -> None:
    [p] = _cal(rule).periods(2026)
    assert p.nominal_due == date(2026, 12, 5) and p.due == due
    days = _cal(rule).deadline_days(p)
    assert all(is_working_day(d) for d in days)  # reminders still come on working days
    assert max(d for d, name in days.items() if not name.startswith("after")) <= due


def test_the_default_is_the_next_working_day() -> None:
    assert CAL.due_rule == "next_working_day"
    assert _cal("next_working_day").due_rule == CAL.due_rule


def test_an_unknown_rule_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="due_on_day_off"):
        _cal("nearest")
    with pytest.raises(ValueError):
        move_due(date(2026, 12, 5), "nearest")


def test_vietnam_culture_day_is_a_day_off_from_2026() -> None:
    """Resolution 28/2026/QH16 makes 24/11 "Ngày Văn hóa Việt Nam" a paid day off from
    01/07/2026 (Báo Chính phủ, 24/04/2026); 2025 had no such day off."""
    assert not is_working_day(date(2026, 11, 24))  # a Tuesday
    assert not is_working_day(date(2027, 11, 24))  # a Wednesday
    assert is_working_day(date(2025, 11, 24))  # a Monday, before the resolution
