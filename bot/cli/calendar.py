"""``bdg calendar check FILE``: validate a calendar file before a province deploys it
(``BDG_CALENDAR_FILE``). Prints each problem on one line (file, entry, field) and exits 1.

``bdg calendar rule set|list|clear``: recurring local deadlines of a subtree, set once
(``services.local_calendar``); ``bdg calendar compiled``: mark the agency's compilation of a
period as done (``/tonghop`` and ``bdg export`` of the unit mark it too)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import click

from bot.app import App
from bot.cli.common import run_async
from bot.cli.errors import cli_lang
from db import queries
from db.models import Unit
from kernel.calendar import Calendar, CalendarError, load_calendar, read_calendar
from kernel.errors import UserError
from kernel.i18n import t
from services import local_calendar
from services.local_calendar import STEPS, RuleError


@click.group("calendar")
def calendar_group() -> None:
    """The calendar: the file (deadlines, Action Months, reminders) and local rules."""


def _summary(cal: Calendar, year: int) -> str:
    lang = cli_lang()
    periods = ", ".join(
        t(lang, "cli.calendar_period", period=p.period, due=f"{p.due:%d/%m/%Y}")
        for p in cal.periods(year)
    )
    summary = t(
        lang,
        "cli.calendar_summary",
        reports=len(cal.report_kinds),
        periods=periods,
        months=len(cal.spec.action_months),
    )
    return f"{summary}. {t(lang, f'lich.day_off_{cal.due_rule}').rstrip('.')}"


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


def _calendar(app: App) -> Calendar:
    f = app.settings.calendar_file
    return load_calendar(str(f) if f else None)


async def _unit(s: Any, code: str) -> Unit:
    unit = await queries.unit_by_code(s, code)
    if unit is None:
        raise UserError("cli.unknown_unit", code=code)
    return unit


@calendar_group.group("rule")
def rule_group() -> None:
    """Recurring local deadlines of a unit's subtree (every year from --since on)."""


@rule_group.command("set")
@click.option("--unit", "unit_code", required=True, help="Code of the unit (its subtree follows).")
@click.option("--kind", required=True, help="Report of the calendar: semiannual or annual.")
@click.option(
    "--step",
    type=click.Choice(STEPS),
    default="submit",
    show_default=True,
    help="submit: the units' deadline; compile: this unit's agency compiles for the level above.",
)
@click.option("--due", required=True, help="Day and month, dd/mm (27/11).")
@click.option("--since", "since", type=int, default=None, help="First year (default: this year).")
@click.option("--reason", default=None, help="Why (the plan's number; kept in the audit log).")
def rule_set(
    unit_code: str, kind: str, step: str, due: str, since: int | None, reason: str | None
) -> None:
    """Every year: e.g. `bdg calendar rule set --unit 42 --kind annual --due 27/11` and
    `bdg calendar rule set --unit 42 --kind annual --step compile --due 10/12`."""

    async def go(app: App) -> str:
        cal = _calendar(app)
        async with app.db.session() as s:
            unit = await _unit(s, unit_code)
            first = since if since is not None else app.clock().year
            try:
                row = await local_calendar.set_rule(
                    s, unit, kind, step, due, first, None, reason, cal=cal, now=app.clock()
                )
            except RuleError as e:
                raise UserError(e.key, **e.params) from None
            dates = []
            for y in (first, first + 1, first + 2):
                nominal = local_calendar.rule_date(cal, kind, row.day, row.month, y)
                moved = cal.move_due(nominal)
                dates.append(f"{moved:%d/%m/%Y}" + ("*" if moved != nominal else ""))
            return t(
                cli_lang(),
                f"cli.rule_set_{step}",
                code=unit.code,
                unit=unit.name,
                since=first,
                kind=kind,
                dm=f"{row.day:02d}/{row.month:02d}",
                dates=", ".join(dates),
                rule=cal.due_rule,
            )

    click.echo(run_async(go))


@rule_group.command("list")
@click.option("--unit", "unit_code", default=None, help="Only rules that affect this unit.")
def rule_list(unit_code: str | None) -> None:
    """Print the recurring rules."""

    async def go(app: App) -> list[str]:
        async with app.db.session() as s:
            unit = await _unit(s, unit_code) if unit_code else None
            rows = await local_calendar.list_rules(s, unit=unit)
        return [
            f"{u.code:10} {r.kind:10} {r.step:8} {r.day:02d}/{r.month:02d} since {r.since_year}"
            f"  [{r.source}] {u.name}" + (f" — {r.reason}" if r.reason else "")
            for r, u in rows
        ] or [t(cli_lang(), "cli.rule_none")]

    for line in run_async(go):
        click.echo(line)


@rule_group.command("clear")
@click.option("--unit", "unit_code", required=True)
@click.option("--kind", default=None, help="Only this report (default: all).")
@click.option("--step", type=click.Choice(STEPS), default=None, help="Only this step.")
def rule_clear(unit_code: str, kind: str | None, step: str | None) -> None:
    """Remove the rules set on a unit (units below keep their own)."""

    async def go(app: App) -> int:
        async with app.db.session() as s:
            unit = await _unit(s, unit_code)
            return await local_calendar.clear_rules(s, unit, kind, step, now=app.clock())

    click.echo(t(cli_lang(), "cli.rule_cleared", n=run_async(go)))


@calendar_group.command("compiled")
@click.option("--unit", "unit_code", required=True, help="The unit whose agency compiled.")
@click.option("--period", required=True, help="Period id: 2026S1 or 2026.")
def compiled_cmd(unit_code: str, period: str) -> None:
    """Mark the compilation of PERIOD by the unit's agency as done (stops its reminders)."""

    async def go(app: App) -> str:
        cal = _calendar(app)
        try:
            cal.period(period)
        except ValueError:
            raise UserError("cli.unknown_period", period=period) from None
        async with app.db.session() as s:
            unit = await _unit(s, unit_code)
            row = await local_calendar.mark_compiled(s, unit, period, None, "cli", now=app.clock())
            return t(
                cli_lang(),
                "cli.compiled_marked",
                code=unit.code,
                unit=unit.name,
                period=period,
                at=f"{row.at:%d/%m/%Y %H:%M} UTC",
            )

    click.echo(run_async(go))


def register(main: click.Group) -> None:
    main.add_command(calendar_group)
