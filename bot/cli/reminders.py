"""``bdg deadline …`` (deadline overrides) and ``bdg remind`` (plan, and send, now)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

import click
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.app import App
from bot.cli.common import LocalDateTime, run_async
from bot.cli.errors import cli_lang
from bot.render import render_plain
from bot.runner import make_channels
from db import queries
from db.models import Report, ReportVersion, Unit
from kernel.calendar import Calendar, load_calendar
from kernel.clock import to_local, to_utc
from kernel.errors import UserError
from kernel.i18n import t
from kernel.messages import Reply
from scheduler.dispatcher import OutboxDispatcher
from scheduler.lock import make_lock
from scheduler.planner import plan, remember_start_menu, stale_rows
from services.overrides import clear_override, list_overrides, set_override

# The planner's reasons for planning nothing (scheduler.decide), as the operator reads them.
IDLE_KEYS = {
    "outside hours": "cli.idle_outside_hours",
    "nothing due today": "cli.idle_nothing_due_today",
    "everyone has submitted": "cli.idle_everyone_has_submitted",
}


def _calendar(app: App) -> Calendar:
    f = app.settings.calendar_file
    return load_calendar(str(f) if f else None)


def _run(fn: Callable[[App], Any]) -> Any:

    return run_async(fn)


def _fmt(d: date) -> str:
    return d.strftime("%d/%m/%Y")


@click.group()
def deadline() -> None:
    """Deadline overrides for a unit and every unit below it (shown by /lich)."""


@deadline.command("set")
@click.option("--unit", "unit_code", required=True, help="Code of the unit (its subtree follows).")
@click.option("--year", type=int, required=True, help="Year of the report (2026).")
@click.option("--kind", required=True, help="Report of the calendar: semiannual or annual.")
@click.option("--due", required=True, help="Due date, dd/mm/yyyy (in YEAR or next January).")
@click.option("--reason", default=None, help="Why (kept with the override and in the audit log).")
@click.option(
    "--yes", is_flag=True, help="Confirm a due date already past or before reports were sent."
)
def deadline_set(
    unit_code: str, year: int, kind: str, due: str, reason: str | None, yes: bool
) -> None:
    """Set the due date of a report for a unit's subtree, e.g.
    `bdg deadline set --unit 42 --year 2026 --kind annual --due 27/11/2026`. A due date in
    the past, or one that makes reports already sent late, needs --yes."""

    async def go(app: App) -> str:
        cal = _calendar(app)
        tz = app.settings.timezone
        async with app.db.session() as s:
            unit = await queries.unit_by_code(s, unit_code)
            if unit is None:
                raise UserError("cli.unknown_unit", code=unit_code)
            now = app.clock()
            row = await set_override(
                s, unit, year, kind, due, None, reason, cal=cal, source="cli", now=now
            )
            p = next(x for x in cal.periods(year, {kind: row.due}) if x.kind == kind)
            if not yes:
                # Raising rolls the override back with the session.
                today = to_local(now, tz).date()
                if p.due < today:
                    raise UserError("cli.deadline_past", due=_fmt(p.due), today=_fmt(today))
                late = await _submitted_after(s, unit, p.period, p.due, tz)
                if late:
                    raise UserError(
                        "cli.deadline_after_submitted", n=late, period=p.period, due=_fmt(p.due)
                    )
            moved = "" if p.due == p.nominal_due else f" (a non-working day: due {_fmt(p.due)})"
            return (
                f"{unit.code} {unit.name} and the units below it: {p.text('en')} {p.period} "
                f"due {_fmt(row.due)}{moved}, locked after {_fmt(p.lock)}."
            )

    click.echo(_run(go))


async def _submitted_after(s: AsyncSession, unit: Unit, period: str, due: date, tz: str) -> int:
    """Reports of ``period`` in ``unit``'s subtree first submitted after ``due`` (local)."""
    ids = [u.id for u in await queries.subtree(s, unit)]
    rows = (
        await s.exec(
            select(ReportVersion.submitted_at)
            .join(Report, col(Report.id) == col(ReportVersion.report_id))
            .where(
                col(Report.unit_id).in_(ids),
                col(Report.period) == period,
                col(ReportVersion.version) == 1,
            )
        )
    ).all()
    return sum(1 for at in rows if to_local(at, tz).date() > due)


@deadline.command("list")
@click.option("--year", type=int, default=None)
@click.option("--unit", "unit_code", default=None, help="Only overrides that affect this unit.")
def deadline_list(year: int | None, unit_code: str | None) -> None:
    """Print the deadline overrides."""

    async def go(app: App) -> list[str]:
        cal = _calendar(app)
        async with app.db.session() as s:
            unit = None
            if unit_code:
                unit = await queries.unit_by_code(s, unit_code)
                if unit is None:
                    raise UserError("cli.unknown_unit", code=unit_code)
            rows = await list_overrides(s, unit=unit, year=year)
        lines = []
        for o, u in rows:
            p = next((x for x in cal.periods(o.year, {o.kind: o.due}) if x.kind == o.kind), None)
            moved = f" -> {_fmt(p.due)}" if p and p.due != o.due else ""
            lines.append(
                f"{u.code:10} {o.year} {o.kind:10} due {_fmt(o.due)}{moved}  "
                f"[{o.source}{' officer ' + str(o.set_by) if o.set_by else ''}] {u.name}"
                + (f" — {o.reason}" if o.reason else "")
            )
        return lines or ["No deadline overrides: the calendar file decides."]

    for line in _run(go):
        click.echo(line)


@deadline.command("clear")
@click.option("--unit", "unit_code", required=True)
@click.option("--year", type=int, required=True)
@click.option("--kind", default=None, help="Only this report (default: all of that year).")
def deadline_clear(unit_code: str, year: int, kind: str | None) -> None:
    """Remove the overrides set on a unit for a year (units below keep their own)."""

    async def go(app: App) -> int:
        async with app.db.session() as s:
            unit = await queries.unit_by_code(s, unit_code)
            if unit is None:
                raise UserError("cli.unknown_unit", code=unit_code)
            return await clear_override(s, unit, year, kind, now=app.clock())

    n = _run(go)
    click.echo(t(cli_lang(), "cli.deadline_cleared", n=n))


class PrintChannel:
    """The terminal channel for `bdg remind`: messages to terminal users are printed."""

    name = "terminal"

    def __init__(self) -> None:
        self.n = 0

    async def start(self, *, webhook: bool) -> None:
        return None

    async def run_polling(self, stop: asyncio.Event) -> None:
        return None

    def web_routes(self) -> list[Any]:
        return []

    async def send(self, chat_id: str, reply: Reply) -> list[str]:
        self.n += 1
        click.echo(f"\n→ terminal:{chat_id}\n{render_plain(reply)}")
        return [str(self.n)]

    async def stop(self) -> None:
        return None


async def _send_now(app: App, now: datetime, lang: str) -> None:
    """Send what the planner wrote, unless a running bot holds the scheduler lock."""
    lock = make_lock(app.db)
    if not await lock.acquire():
        click.echo(t(lang, "cli.remind_lock_held"))
        return
    channels: dict[str, Any] = dict(make_channels(app))
    channels.setdefault("terminal", PrintChannel())
    start = time.monotonic()
    dispatcher = OutboxDispatcher(
        app.db,
        channels,
        clock=lambda: now + timedelta(seconds=time.monotonic() - start),
        stale=stale_rows,
        on_sent=remember_start_menu,
    )
    try:
        stats = await dispatcher.run_once()
    finally:
        for ch in channels.values():
            await ch.stop()
        await lock.release()
    click.echo(
        "\n"
        + t(
            lang,
            "cli.remind_sent",
            sent=stats.sent,
            failed=stats.failed,
            unreachable=stats.unreachable,
            cancelled=stats.cancelled,
            expired=stats.expired,
            channels=", ".join(sorted(channels)),
        )
    )


@click.command()
@click.option(
    "--at",
    "at",
    type=LocalDateTime(),
    default=None,
    help="Local time to plan for: 2026-12-01T08:00 or 01/12/2026 08:00; default now.",
)
@click.option("--dry-run", is_flag=True, help="Only print what would be planned.")
@click.option("--brief", is_flag=True, help="One line per message, without its text.")
def remind(at: datetime | None, dry_run: bool, brief: bool) -> None:
    """Plan reminders for a moment and print them per recipient; without --dry-run, write
    them to the outbox and send them now (Telegram / Zalo when their tokens are set; messages
    to terminal users are printed)."""

    async def go(app: App) -> None:
        tz = app.settings.timezone
        now = to_utc(at, tz) if at else app.clock()
        cal = _calendar(app)
        async with app.db.session() as s:
            result = await plan(s, now, cal=cal, tz=tz, dry_run=dry_run)
        for p in result.planned:
            click.echo(
                f"{p.kind:8} {p.channel}:{p.chat_id}  {p.officer_name} ({p.unit_name})  {p.key}"
            )
            if not brief:
                reply = Reply(p.text, choices=p.choices)
                click.echo("    " + render_plain(reply).replace("\n", "\n    "))
        lang = cli_lang()
        click.echo(
            t(
                lang,
                "cli.remind_dry" if dry_run else "cli.remind_planned",
                n=len(result.planned),
                idle=f" ({t(lang, IDLE_KEYS.get(result.idle, 'cli.idle_other'))})"
                if result.idle
                else "",
                existing=result.existing,
            )
        )
        if not dry_run:
            await _send_now(app, now, lang)

    _run(go)


def register(main: click.Group) -> None:
    main.add_command(deadline)
    main.add_command(remind)
