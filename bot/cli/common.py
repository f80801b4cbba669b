"""What every ``bdg`` sub-command shares: opening the app for one command and closing it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

import click

from bot.app import App, StartupRefused, open_app
from kernel.errors import UserError
from kernel.settings import get_settings

T = TypeVar("T")


def run_async(fn: Callable[[App], Awaitable[T]]) -> T:
    """Open the app (settings, migrated database), run ``fn``, close the database."""

    async def go() -> T:
        app = await open_app(get_settings())
        try:
            return await fn(app)
        finally:
            await app.db.dispose()

    try:
        return asyncio.run(go())
    except StartupRefused as exc:
        raise click.ClickException(str(exc)) from None


DATETIME_FORMATS = ("%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y")


def parse_local_datetime(value: str) -> datetime:
    """A local date and time as an operator types it: ISO (``2026-12-01T08:00``,
    ``2026-12-01 08:00``) or Vietnamese (``01/12/2026 08:00``); a date alone is midnight."""
    text = " ".join(value.strip().split())
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        for fmt in DATETIME_FORMATS:
            try:
                parsed = datetime.strptime(text, fmt)
                break
            except ValueError:
                continue
        else:
            raise UserError("cli.bad_datetime", value=value) from None
    return parsed.replace(tzinfo=None)


class LocalDateTime(click.ParamType):
    """A click option type for :func:`parse_local_datetime` (errors in BDG_LOCALE)."""

    name = "datetime"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        return parse_local_datetime(str(value))
