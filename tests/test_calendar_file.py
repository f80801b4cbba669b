"""The calendar file is validated (pydantic, unknown fields refused): every problem names the
file, the entry and the field; ``bdg calendar check FILE`` prints them one per line."""

from __future__ import annotations

from datetime import date, time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from kernel.calendar import DATA, CalendarError, load_calendar, read_calendar

REPORT = """reports:
  - id: annual
    period: "{year}"
    form: bdg_report
    label: {vi: "Báo cáo tổng kết năm", en: "Annual report"}
    opens: "01/11"
    due: "05/12"
    lock_days: 25
"""


def write(tmp_path: Path, text: str) -> Path:
    f = tmp_path / "calendar.yaml"
    f.write_text(text, encoding="utf-8")
    return f


def problems(tmp_path: Path, text: str) -> list[str]:
    f = write(tmp_path, text)
    with pytest.raises(CalendarError) as err:
        read_calendar(f)
    assert all(line.startswith(f"{f}: ") and "\n" not in line for line in err.value.problems)
    return [line.removeprefix(f"{f}: ") for line in err.value.problems]


BROKEN = [
    (
        "typo in a field",
        REPORT.replace("lock_days", "lock_day"),
        [
            'reports[0] "annual": lock_day: unknown field (a typo?)',
            'reports[0] "annual": lock_days: missing',
        ],
    ),
    (
        "unknown field",
        REPORT + "    requird: false\n",
        ['reports[0] "annual": requird: unknown field (a typo?)'],
    ),
    (
        "not a number",
        REPORT.replace("25", "ten"),
        ['reports[0] "annual": lock_days: Input should be a valid integer'],
    ),
    (
        "no such day",
        REPORT.replace('"05/12"', '"31/11"'),
        ['reports[0] "annual": due: 31/11 is not a day of every year'],
    ),
    (
        "29/02",
        REPORT.replace('"05/12"', '"29/02"'),
        ['reports[0] "annual": due: 29/02 is not a day of every year'],
    ),
    (
        "not dd/mm",
        REPORT.replace('"05/12"', '"2026-12-05"'),
        ["reports[0] \"annual\": due: expected a day as dd/mm, got '2026-12-05'"],
    ),
    (
        "label without Vietnamese",
        REPORT.replace('vi: "Báo cáo tổng kết năm", ', ""),
        ['reports[0] "annual": label: needs a Vietnamese text'],
    ),
    (
        "bad period",
        REPORT.replace('"{year}"', '"{year}-H2"'),
        ['reports[0] "annual": period: expected "{year}" or "{year}S1"'],
    ),
    ("no reports", "reports: []\n", ["reports: List should have at least 1 item"]),
    ("top level typo", REPORT + "action_month: []\n", ["action_month: unknown field (a typo?)"]),
    (
        "duplicate report",
        REPORT + REPORT.removeprefix("reports:\n").replace('"{year}"', '"{year}S1"'),
        ["report id 'annual' appears twice"],
    ),
    (
        "kick-off names an unknown report",
        REPORT
        + 'action_months:\n  - {id: ge_month, label: {vi: "Tháng"}, start: "15/11", end: "15/12", kickoff_mentions: anual}\n',
        ["action_months[0] 'ge_month': kickoff_mentions: 'anual' is not a report id (annual)"],
    ),
    (
        "action month field",
        REPORT
        + 'action_months:\n  - {id: m, label: {vi: "Tháng"}, start: "15/11", ends: "15/12"}\n',
        [
            'action_months[0] "m": end: missing',
            'action_months[0] "m": ends: unknown field (a typo?)',
        ],
    ),
    (
        "shift",
        REPORT + "reminders:\n  deadline: {before_shift: previus}\n",
        [
            "reminders: deadline: before_shift: Input should be 'previous', 'next' or 'none' (got 'previus')"
        ],
    ),
    (
        "negative offset",
        REPORT + "reminders:\n  deadline: {before: [7, -3]}\n",
        ["reminders: deadline: before[1]: Input should be greater than or equal to 0 (got -3)"],
    ),
    (
        "until before at",
        REPORT + 'reminders: {at: "09:00", until: "08:30"}\n',
        ["reminders: `until` must be later than `at`"],
    ),
    (
        "bad time",
        REPORT + 'reminders: {at: "25:00"}\n',
        ["reminders: at: expected a time as HH:MM, got '25:00'"],
    ),
    (
        "digest typo",
        REPORT + "reminders:\n  digest: {working_day_only: true}\n",
        ["reminders: digest: working_day_only: unknown field (a typo?)"],
    ),
    ("not a mapping", "- reports\n", ["expected a mapping with `reports:` at the top"]),
    ("empty file", "", ["expected a mapping with `reports:` at the top"]),
    ("not YAML", REPORT + "  - id: [unclosed\n", ["not valid YAML (line"]),
]


@pytest.mark.parametrize(("text", "expected"), [b[1:] for b in BROKEN], ids=[b[0] for b in BROKEN])
def test_broken_calendar_files(tmp_path: Path, text: str, expected: list[str]) -> None:
    found = problems(tmp_path, text)
    assert len(found) == len(expected), found
    for line, start in zip(sorted(found), sorted(expected), strict=True):
        assert line.startswith(start), (line, start)


def test_the_built_in_calendar_is_valid() -> None:
    cal = read_calendar(DATA)
    assert cal.report_kinds == ["semiannual", "annual"]
    assert [(p.period, p.due) for p in cal.periods(2026)] == [
        ("2026S1", date(2026, 6, 5)),
        ("2026", date(2026, 12, 7)),
    ]
    assert [m.kickoff_mentions for m in cal.action_months(2026)] == [None, "annual"]


def test_schedule_settings_are_read(tmp_path: Path) -> None:
    text = (
        REPORT + "reminders:\n  at: 10:30\n  deadline: {before: [5], after: [], after_every: 0}\n"
    )
    cal = read_calendar(write(tmp_path, text))  # unquoted 10:30 is 630 in YAML 1.1: accepted
    assert (cal.rules.at, cal.rules.until) == (time(10, 30), time(21, 0))
    (p,) = cal.periods(2026)
    assert cal.deadline_days(p) == {date(2026, 12, 2): "before-5"}


def test_a_province_file_with_problems_fails_to_load(tmp_path: Path) -> None:
    f = write(tmp_path, REPORT.replace("form:", "from:"))
    with pytest.raises(CalendarError) as err:
        load_calendar(str(f))
    assert str(f) in str(err.value) and "from: unknown field" in str(err.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CalendarError) as err:
        read_calendar(tmp_path / "nope.yaml")
    assert err.value.problems == [
        f"{tmp_path / 'nope.yaml'}: cannot read: No such file or directory"
    ]


def test_bdg_calendar_check(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(main, ["calendar", "check", str(DATA)])
    assert ok.exit_code == 0 and ": hợp lệ: 2 loại báo cáo" in ok.output
    bad = write(tmp_path, REPORT.replace("25", "ten") + "    requird: false\n")
    result = runner.invoke(main, ["calendar", "check", str(bad)])
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and all(
        line.startswith(f'{bad}: reports[0] "annual": ') for line in lines
    )
    assert "Traceback" not in result.output
    for path in (tmp_path, tmp_path / "missing.yaml"):  # a folder, a missing file
        result = runner.invoke(main, ["calendar", "check", str(path)])
        assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
        assert result.output.startswith(f"{path}: cannot read")
