"""Runs the messenger channels that have tokens, the scheduler, and (for ``bdg serve``) the
web server that receives webhooks. Telegram and Zalo can run in the same process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from importlib import import_module
from importlib.util import find_spec
from typing import Any

from bot.app import App, open_app
from bot.channel import Channel
from bot.settings import Settings

log = logging.getLogger("bdg.runner")

# Features that run beside the channels (scheduler, outbox dispatcher …) provide
# ``async def start(app: App, channels: dict[str, Channel]) -> Callable[[], Awaitable[None]]``
# returning a stop function. Missing modules are skipped.
BACKGROUND = ("scheduler.service",)


def available(name: str) -> bool:
    """True when module ``name`` can be imported (its parent packages too)."""
    parts = name.split(".")
    return all(find_spec(".".join(parts[: i + 1])) is not None for i in range(len(parts)))


def make_channels(app: App) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    s = app.settings
    if s.telegram_bot_token:
        from bot.telegram.channel import TelegramChannel

        channels["telegram"] = TelegramChannel(app)
    if s.zalo_bot_token:
        from bot.zalo.channel import ZaloChannel

        channels["zalo"] = ZaloChannel(app)
    return channels


async def start_background(app: App, channels: dict[str, Channel]) -> list[Any]:
    stops = []
    for name in BACKGROUND:
        if not available(name):
            continue
        stops.append(await import_module(name).start(app, channels))
    return stops


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def run_channels(settings: Settings, *, serve: bool = False) -> None:
    app = await open_app(settings)
    channels = make_channels(app)
    stop = _stop_event()
    try:
        for ch in channels.values():
            await ch.start(webhook=serve)
        stops = await start_background(app, channels)
        log.info(
            "running %s (%s)",
            ", ".join(channels) or "no channel",
            "webhook" if serve else "polling",
        )
        if serve:
            await _serve(app, channels, stop)
        else:
            await asyncio.gather(*(ch.run_polling(stop) for ch in channels.values()))
        for fn in stops:
            await fn()
    finally:
        for ch in channels.values():
            await ch.stop()
        await app.db.dispose()


async def _serve(app: App, channels: dict[str, Channel], stop: asyncio.Event) -> None:
    import uvicorn

    from bot.web import create_web_app

    routes = [r for ch in channels.values() for r in ch.web_routes()]
    for name in ("compile.web",):
        if available(name):
            routes += import_module(name).routes(app)
    web = create_web_app(app, routes)
    config = uvicorn.Config(
        web, host=app.settings.host, port=app.settings.port, log_level="warning", access_log=False
    )
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign,attr-defined]
    task = asyncio.create_task(server.serve())
    await stop.wait()
    server.should_exit = True
    await task
