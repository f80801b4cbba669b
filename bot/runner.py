"""Runs the messenger channels that have tokens, the scheduler, and (for ``bdg serve``) the
web server that receives webhooks. Telegram, Zalo and the Zalo OA can run in the same process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

import uvicorn

from bot import downloads
from bot.app import URGENT_JOBS, App, open_app
from bot.mail import EmailChannel
from bot.single import only_process
from bot.web import create_web_app, desk
from kernel.channel import Channel
from kernel.settings import Settings
from scheduler.service import SchedulerService

log = logging.getLogger("bdg.runner")


def make_channels(app: App) -> dict[str, Channel]:
    channels: dict[str, Channel] = {}
    s = app.settings
    if s.telegram_bot_token:
        from bot.telegram.channel import TelegramChannel

        channels["telegram"] = TelegramChannel(app)
    if s.zalo_bot_token:
        from bot.zalo.channel import ZaloChannel

        channels["zalo"] = ZaloChannel(app)
    if s.zalo_oa.enabled:
        from bot.zalo_oa.channel import ZaloOAChannel

        channels["zalo_oa"] = ZaloOAChannel(app)
    if s.smtp.enabled:
        channels["email"] = EmailChannel(app.db, app.dispatcher.services, s.smtp)
    return channels


async def _nothing() -> None:
    return None


async def start_scheduler(app: App, channels: dict[str, Channel]) -> Callable[[], Awaitable[None]]:
    """Start the planner, the urgent jobs and the outbox dispatcher; returns the function that
    stops them."""
    settings = app.settings.scheduler
    if not settings.enabled:
        log.info("scheduler disabled (BDG_SCHEDULER=0)")
        return _nothing
    services = app.dispatcher.services
    service = SchedulerService(
        app.db,
        channels,
        clock=app.clock,
        timezone=services.timezone,
        calendar_file=services.calendar_file,
        settings=settings,
        urgent_jobs=URGENT_JOBS,
    )
    await service.start()
    app.dispatcher.outbox_written = service.dispatcher.wakeup.set
    # One limiter per channel: the channels' own messages are counted in the outbox's budget.
    for name, channel in channels.items():
        use_budget = getattr(channel, "use_budget", None)
        if use_budget is not None and name in service.dispatcher.gates:
            use_budget(service.dispatcher.gates[name].charge)
    return service.stop


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def run_channels(settings: Settings, *, serve: bool = False) -> None:
    """Serve the configured channels until SIGINT/SIGTERM. On SQLite only one such process may
    run (``bot.single``); several workers need PostgreSQL."""
    with only_process(settings.database_url):
        await _run_channels(settings, serve=serve)


async def _run_channels(settings: Settings, *, serve: bool) -> None:
    app = await open_app(settings)
    channels = make_channels(app)
    stop = _stop_event()
    try:
        for ch in channels.values():
            await ch.start(webhook=serve)
        stop_scheduler = await start_scheduler(app, channels)
        log.info(
            "running %s (%s)",
            ", ".join(channels) or "no channel",
            "webhook" if serve else "polling",
        )
        if serve:
            await _serve(app, channels, stop)
        else:
            await asyncio.gather(*(ch.run_polling(stop) for ch in channels.values()))
        await stop_scheduler()
    finally:
        for ch in channels.values():
            await ch.stop()
        await app.db.dispose()


async def _serve(app: App, channels: dict[str, Channel], stop: asyncio.Event) -> None:
    routes = [r for ch in channels.values() for r in ch.web_routes()]
    routes += downloads.routes(app)
    routes += desk.routes(app)
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
