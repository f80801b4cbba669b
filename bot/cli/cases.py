"""``bdg cases …``: the escalation tick, retention, key rotation and duty numbers.

Output never contains case details: counts and codes only.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import click

from bot.app import App
from bot.cli.common import run_async
from bot.cli.errors import cli_lang
from db import queries
from db.cases import DUTY_ROLES, duty_roster
from db.crypto import new_key_spec
from kernel.errors import UserError
from kernel.i18n import t
from services.cases.duty import DutyError, add_entry, parse_spec, remove_entry
from services.cases.retention import PurgeResult, purge, rekey
from services.cases.routing import escalate_due


def register(main: click.Group) -> None:
    main.add_command(cases)


T = TypeVar("T")


def _run(fn: Callable[[App], Awaitable[T]]) -> T:

    return run_async(fn)


@click.group()
def cases() -> None:
    """Violence case notifications (docs/cases.md)."""


@cases.command("tick")
def tick_cmd() -> None:
    """Run the escalation check once (the scheduler does it on every tick)."""

    async def go(app: App) -> int:
        async with app.db.session() as s:
            return await escalate_due(s, app.clock())

    n = _run(go)
    click.echo(t(cli_lang(), "cli.cases_tick_done", n=n))


@cases.command("purge")
@click.option(
    "--months",
    type=click.IntRange(1, 1200),
    default=None,
    help="Closed longer than this (default BDG_CASE_RETENTION_MONTHS, 24).",
)
def purge_cmd(months: int | None) -> None:
    """Remove descriptions, contacts and notes of cases closed more than N months ago (the
    counts stay), and delete intake drafts nobody finished."""

    async def go(app: App) -> PurgeResult:
        async with app.db.session() as s:
            return await purge(s, app.clock(), months)

    result = _run(go)
    click.echo(t(cli_lang(), "cli.cases_purge_done", cases=result.cases, drafts=result.drafts))


@cases.command("keygen")
@click.option("--id", "key_id", default="k1", show_default=True, help="Key id (a-z, 0-9, -_).")
def keygen_cmd(key_id: str) -> None:
    """Print a new key entry for BDG_CASE_KEYS (put it first to write with it)."""
    click.echo(new_key_spec(key_id))


@cases.command("rekey")
def rekey_cmd() -> None:
    """Re-encrypt every stored text with the first key of BDG_CASE_KEYS."""

    async def go(app: App) -> int:
        async with app.db.session() as s:
            return await rekey(s)

    click.echo(t(cli_lang(), "cli.cases_rekey_done", n=_run(go)))


@cases.command("duty")
@click.argument("unit_code")
@click.argument("text", required=False)
@click.option("--clear", is_flag=True, help="Remove the unit's duty numbers (the text).")
@click.option(
    "--add",
    "add",
    default=None,
    help='Add a roster line: "ROLE [day|night] [#OFFICER_ID] [PHONE]"; roles: '
    + ", ".join(DUTY_ROLES)
    + " (or chutich, congan, canbo, truongthon, treem, truong, phunu, khac).",
)
@click.option("--remove", type=int, default=None, help="Remove roster line N (as listed).")
def duty_cmd(
    unit_code: str, text: str | None, clear: bool, add: str | None, remove: int | None
) -> None:
    """Show or set a unit's duty numbers and trusted addresses (shown to a person in danger;
    one per line, use \\n between lines) and its duty roster: who is alerted of an urgent
    case, in order, by day, by night or always."""

    async def go(app: App) -> list[str]:
        async with app.db.session() as s:
            unit = await queries.unit_by_code(s, unit_code)
            if unit is None:
                raise UserError("cli.unknown_unit", code=unit_code)
            if clear:
                unit.duty_contacts = None
            elif text is not None:
                unit.duty_contacts = text.replace("\\n", "\n").strip()[:2000] or None
            if add is not None:
                await add_entry(s, unit, parse_spec(add.split()))  # DutyError: one line
            if remove is not None and not await remove_entry(s, unit, remove):
                raise DutyError("duty.err_no_line", n=remove)
            lang = cli_lang()
            out = [unit.duty_contacts or t(lang, "cli.none")]
            entries = await duty_roster(s, unit.id or 0)
            if entries or add is not None or remove is not None:
                out.append(
                    t(lang, "cli.duty_roster", n=len(entries))
                    if entries
                    else t(lang, "cli.duty_roster_empty")
                )
            for i, e in enumerate(entries, 1):
                who = " " + t(lang, "cli.duty_officer", id=e.officer_id) if e.officer_id else ""
                phone = f" {e.phone}" if e.phone else ""
                out.append(f"{i}. {e.role} [{e.shift}]{who}{phone}")
            return out

    for line in _run(go):
        click.echo(line)
