"""The ``bdg`` command (also ``python -m bot``)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import click
from sqlmodel import select

from bot.app import App, StartupRefused, open_app
from bot.cli import calendar as calendar_cli
from bot.cli import cases as cases_cli
from bot.cli import compile as compile_cli
from bot.cli import forms as forms_cli
from bot.cli import ops as ops_cli
from bot.cli import reminders as reminders_cli
from bot.cli import units as units_cli
from bot.cli import zalo as zalo_cli
from bot.cli import zalo_oa as zalo_oa_cli
from bot.cli.common import run_async
from bot.cli.errors import BoundaryGroup, cli_lang
from bot.doctor import TELEGRAM_SECRET, is_public_https
from bot.runner import run_channels
from bot.single import AlreadyServed
from bot.terminal import CHANNEL, banner_line, run_terminal
from db import queries
from db.models import Unit
from db.units import seed_demo
from handlers.registration import ROLES, create_invite
from kernel.errors import UserError
from kernel.i18n import t
from kernel.settings import Settings, get_settings
from services.scope import seed_demo_agency_admin


@click.group(cls=BoundaryGroup, invoke_without_command=True)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Gender-equality reporting bot for Zalo and Telegram. Without a command: `bdg run`."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(run)


def _serve_channels(settings: Settings, *, serve: bool) -> None:
    try:
        asyncio.run(run_channels(settings, serve=serve))
    except AlreadyServed as exc:
        raise click.ClickException(
            t(settings.locale, "runner.already_served", path=str(exc.path))
        ) from None
    except StartupRefused as exc:
        raise click.ClickException(str(exc)) from None


@main.command()
def run() -> None:
    """Start the bot: the messengers whose tokens are set, with the scheduler. Without any
    token, open the terminal chat on the demo data so there is always something to see."""
    settings = get_settings()
    if settings.telegram_bot_token or settings.zalo_bot_token or settings.zalo_oa.enabled:
        _serve_channels(settings, serve=False)
        return
    try:
        asyncio.run(_demo_chat(settings, user="demo"))
    except StartupRefused as exc:
        raise click.ClickException(str(exc)) from None


DEMO_AGENCY_USER = "thuongtruc"  # `bdg chat --user thuongtruc`: the demo's agency admin


def _log_to_file(settings: Settings) -> None:
    """The terminal chat prints replies on stdout and the terminal shows stderr too: logs go
    to a file (BDG_LOG_FILE, default data/bdg.log), never between the chat's lines."""
    path = settings.log_file or Path("data/bdg.log")
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    logging.basicConfig(
        filename=str(path),
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def _demo_chat(settings: Settings, user: str) -> None:
    _log_to_file(settings)
    app = await open_app(settings)
    lang = settings.locale
    try:
        async with app.db.session() as s:
            if (await s.exec(select(Unit).limit(1))).first() is None:
                await seed_demo(s)
                await seed_demo_agency_admin(s, CHANNEL, DEMO_AGENCY_USER)
            banner = [await banner_line(s, lang)]
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
    scheduler; also serves /healthz, /metrics and download links."""
    settings = get_settings()
    check_serve_settings(settings)
    _serve_channels(settings, serve=True)


def check_serve_settings(settings: Settings) -> None:
    """What `bdg serve` needs before it starts (the channels would stop on it later)."""
    if not (settings.telegram_bot_token or settings.zalo_bot_token or settings.zalo_oa.enabled):
        return
    url = settings.public_url or ""
    if not url:
        raise UserError("cli.serve_needs_public_url")
    if not is_public_https(url):
        raise UserError("cli.serve_needs_https", url=url)
    if settings.telegram_bot_token and not TELEGRAM_SECRET.match(
        settings.telegram_webhook_secret or ""
    ):
        raise UserError("cli.serve_needs_secret", name="TELEGRAM_WEBHOOK_SECRET")
    if settings.zalo_bot_token and not 8 <= len(settings.zalo_webhook_secret or "") <= 256:
        raise UserError("cli.serve_needs_secret", name="ZALO_WEBHOOK_SECRET")


@main.command()
@click.option("--user", default="demo", help="Who you are in the terminal chat.")
def chat(user: str) -> None:
    """The terminal chat (reads stdin line by line when it is not a terminal)."""

    async def go(app: App) -> None:
        await run_terminal(app.dispatcher, user, lang=app.settings.locale)

    _log_to_file(get_settings())
    run_async(go)


@main.command()
@click.argument("unit_code")
@click.option("--role", type=click.Choice(ROLES), default="officer", show_default=True)
@click.option(
    "--scope",
    "scope_code",
    default=None,
    help="Unit whose subtree the new officer answers for (default: their unit; an admin of "
    "the standing agency: the agency's parent).",
)
@click.option(
    "--days",
    type=click.IntRange(1, 365),
    default=None,
    help="Days until the code expires (default BDG_INVITE_DAYS, 14).",
)
def invite(unit_code: str, role: str, days: int | None, scope_code: str | None) -> None:
    """Create a one-time invite for UNIT_CODE; the code is printed alone on the last line."""

    async def go(app: App) -> str | None:
        async with app.db.session() as s:
            unit = await queries.unit_by_code(s, unit_code)
            if unit is None:
                return None
            scope = await queries.unit_by_code(s, scope_code) if scope_code else None
            if scope_code and scope is None:
                return "?scope"
            return await create_invite(
                s,
                unit,
                role=role,
                days=days or app.settings.invite_days,
                now=app.clock(),
                scope=scope,
            )

    code = run_async(go)
    if code is None or code == "?scope":
        raise UserError("cli.unknown_unit", code=unit_code if code is None else scope_code)
    username = get_settings().telegram_bot_username
    if username:
        click.echo(f"Telegram: https://t.me/{username}?start={code.replace('-', '')}")
    lang = cli_lang()
    click.echo(
        t(
            lang,
            "cli.invite_done",
            unit=unit_code,
            role=t(lang, f"admin.role_{role}"),
            days=days or get_settings().invite_days,
        )
    )
    click.echo(code)


@main.command("seed-demo")
def seed_demo_cmd() -> None:
    """Load the demo province (Hà Tĩnh: departments, wards and communes)."""

    async def go(app: App) -> Any:
        async with app.db.session() as s:
            return await seed_demo(s)

    result = run_async(go)
    click.echo(t(cli_lang(), "cli.demo_done", created=result.created, updated=result.updated))


# Each feature's commands, added explicitly: a missing module fails at start.
for _feature in (
    units_cli,
    ops_cli,
    reminders_cli,
    cases_cli,
    compile_cli,
    zalo_cli,
    calendar_cli,
    forms_cli,
):
    _feature.register(main)
zalo_oa_cli.register(main)
