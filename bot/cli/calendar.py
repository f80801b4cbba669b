"""``bdg calendar check FILE``: validate a calendar file before a province deploys it
(``BDG_CALENDAR_FILE``). Prints each problem on one line (file, entry, field) and exits 1."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from bot.cli.errors import cli_lang
from kernel.calendar import Calendar, CalendarError, read_calendar
from kernel.i18n import t


@click.group("calendar")
def calendar_group() -> None:
    """The calendar file: report deadlines, Action Months and the reminder schedule."""


def _summary(cal: Calendar, year: int) -> str:
    lang = cli_lang()
    periods = ", ".join(
        t(lang, "cli.calendar_period", period=p.period, due=f"{p.due:%d/%m/%Y}")
        for p in cal.periods(year)
    )
    return t(
        lang,
        "cli.calendar_summary",
        reports=len(cal.report_kinds),
        periods=periods,
        months=len(cal.spec.action_months),
    )


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
    click.echo(
        t(cli_lang(), "cli.file_ok_summary", file=file, summary=_summary(cal, date.today().year))
    )


def register(main: click.Group) -> None:
    main.add_command(calendar_group)
