"""What every ``bdg`` sub-command shares: opening the app for one command and closing it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.app import App, open_app
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

    return asyncio.run(go())
