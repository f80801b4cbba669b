"""``bdg calendar check FILE``: validate a calendar file before a province deploys it
(``BDG_CALENDAR_FILE``). Prints each problem on one line (file, entry, field) and exits 1."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from kernel.calendar import Calendar, CalendarError, read_calendar


@click.group("calendar")
def calendar_group() -> None:
    """The calendar file: report deadlines, Action Months and the reminder schedule."""


def _summary(cal: Calendar, year: int) -> str:
    periods = ", ".join(f"{p.period} due {p.due:%d/%m/%Y}" for p in cal.periods(year))
    months = len(cal.spec.action_months)
    return f"{len(cal.report_kinds)} report(s) ({periods}), {months} Action Month(s)"


@calendar_group.command("check")
@click.argument("file", type=click.Path(path_type=Path))
def check(file: Path) -> None:
    """Check FILE (YAML, like kernel/data/calendar.yaml); exit 1 when it has problems."""
    try:
        cal = read_calendar(file)
    except CalendarError as err:
        for line in err.problems:
            click.echo(line, err=True)
        raise SystemExit(1) from None
    click.echo(f"{file}: OK: {_summary(cal, date.today().year)}.")


def register(main: click.Group) -> None:
    main.add_command(calendar_group)
