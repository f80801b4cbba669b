"""A real headless Chromium (the Debian ``chromium`` package, driven by Playwright) against the
web desk served by uvicorn in the test's event loop. No browser is ever downloaded: when
``/usr/bin/chromium`` cannot start, the test fails (``.ci/run`` installs it)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import uvicorn
from playwright.async_api import Browser, async_playwright

from bot.app import App
from bot.web import create_web_app, desk

CHROMIUM = os.environ.get("BDG_CHROMIUM", "/usr/bin/chromium")
SCREENS = Path(__file__).resolve().parent.parent / "out" / "screens"


@asynccontextmanager
async def serve(app: App, port: int) -> AsyncIterator[str]:
    """``bdg serve``'s web app on 127.0.0.1:port for the duration of the block."""
    web = create_web_app(app, desk.routes(app))
    server = uvicorn.Server(
        uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign,attr-defined]
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(200):
            if server.started:
                break
            await asyncio.sleep(0.05)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            await browser.close()


def screen(name: str) -> str:
    SCREENS.mkdir(parents=True, exist_ok=True)
    return str(SCREENS / f"{name}.png")
