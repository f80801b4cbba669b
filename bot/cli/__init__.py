"""The ``bdg`` command (also ``python -m bot``)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import click
from sqlmodel import select

from bot.app import App, open_app
from bot.cli import cases as cases_cli
from bot.cli import compile as compile_cli
from bot.cli import reminders as reminders_cli
from bot.cli import zalo as zalo_cli
from bot.cli.common import run_async
from bot.runner import run_channels
from bot.terminal import CHANNEL, run_terminal
from db import queries
from db.models import Unit
from db.units import UnitFileError, import_units, read_units_csv, seed_demo
from handlers.registration import ROLES, create_invite
from kernel.i18n import t
from kernel.settings import Settings, get_settings


@click.group(invoke_without_command=True)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Gender-equality reporting bot for Zalo and Telegram. Without a command: `bdg run`."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(run)


@main.command()
def run() -> None:
    """Start the bot: the messengers whose tokens are set, with the scheduler. Without any
    token, open the terminal chat on the demo data so there is always something to see."""
    settings = get_settings()
    if settings.telegram_bot_token or settings.zalo_bot_token:
        asyncio.run(run_channels(settings))
        return
    asyncio.run(_demo_chat(settings, user="demo"))


async def _demo_chat(settings: Settings, user: str) -> None:

    app = await open_app(settings)
    lang = settings.locale
    banner = [t(lang, "terminal.banner")]
    try:
        async with app.db.session() as s:
            if (await s.exec(select(Unit).limit(1))).first() is None:
                await seed_demo(s)
            acc = await queries.account(s, CHANNEL, user)
            if acc is None or acc.officer_id is None:
                unit = (
                    await queries.unit_by_code(s, "28303")
                    or (
                        await s.exec(select(Unit).where(Unit.reports == True).limit(1))  # noqa: E712
                    ).first()
                )
                if unit is not None:
                    code = await create_invite(s, unit, days=settings.invite_days, now=app.clock())
                    banner.append(t(lang, "terminal.invite", unit=unit.name, code=code))
        await run_terminal(app.dispatcher, user, lang=lang, banner=banner)
    finally:
        await app.db.dispose()


@main.command()
def serve() -> None:
    """Start the web server that receives messenger webhooks (PUBLIC_URL + secrets), with the
    scheduler; also serves /healthz and download links."""

    asyncio.run(run_channels(get_settings(), serve=True))


@main.command()
@click.option("--user", default="demo", help="Who you are in the terminal chat.")
def chat(user: str) -> None:
    """The terminal chat (reads stdin line by line when it is not a terminal)."""

    async def go(app: App) -> None:
        await run_terminal(app.dispatcher, user, lang=app.settings.locale)

    run_async(go)


@main.command()
@click.argument("unit_code")
@click.option("--role", type=click.Choice(ROLES), default="officer", show_default=True)
@click.option(
    "--days",
    type=click.IntRange(1, 365),
    default=None,
    help="Days until the code expires (default BDG_INVITE_DAYS, 14).",
)
def invite(unit_code: str, role: str, days: int | None) -> None:
    """Create a one-time invite for UNIT_CODE; the code is printed alone on the last line."""

    async def go(app: App) -> str | None:
        async with app.db.session() as s:
            unit = await queries.unit_by_code(s, unit_code)
            if unit is None:
                return None
            return await create_invite(
                s, unit, role=role, days=days or app.settings.invite_days, now=app.clock()
            )

    code = run_async(go)
    if code is None:
        click.echo(f"Unknown unit code: {unit_code} (see `bdg units list`)", err=True)
        sys.exit(2)
    username = get_settings().telegram_bot_username
    if username:
        click.echo(f"Telegram: https://t.me/{username}?start={code.replace('-', '')}")
    click.echo(f"Invite for {unit_code} ({role}), valid {days or get_settings().invite_days} days:")
    click.echo(code)


@main.group()
def units() -> None:
    """The unit tree."""


@units.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def units_import(file: Path) -> None:
    """Load units from a CSV file: code,name,parent_code,kind[,reports]."""
    try:
        rows = read_units_csv(file)
    except UnitFileError as e:
        raise click.ClickException(str(e)) from e

    async def go(app: App) -> Any:
        async with app.db.session() as s:
            return await import_units(s, rows)

    try:
        result = run_async(go)
    except UnitFileError as e:
        raise click.ClickException(str(e)) from e
    click.echo(f"{result.created} units created, {result.updated} updated.")


@units.command("list")
def units_list() -> None:
    """Print the unit tree."""

    async def go(app: App) -> list[Unit]:
        async with app.db.session() as s:
            return list((await s.exec(select(Unit).order_by(Unit.path))).all())

    for u in run_async(go):
        depth = u.path.count("/") - 2
        click.echo(
            f"{'  ' * depth}{u.code}  {u.name}  [{u.kind}{'' if u.reports else ', no report'}]"
        )


@main.command("seed-demo")
def seed_demo_cmd() -> None:
    """Load the demo province (Hà Tĩnh: departments, wards and communes)."""

    async def go(app: App) -> Any:
        async with app.db.session() as s:
            return await seed_demo(s)

    result = run_async(go)
    click.echo(f"Demo units: {result.created} created, {result.updated} updated.")


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations (also done automatically at start)."""

    async def go(app: App) -> None:
        return None

    run_async(go)
    click.echo("Database is up to date.")


# Each feature's commands, added explicitly: a missing module fails at start.
for _feature in (reminders_cli, cases_cli, compile_cli, zalo_cli):
    _feature.register(main)
