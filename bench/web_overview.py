"""The web desk's overview of 3,321 communes (the nation after 1 July 2025, every commune with
a full annual report): server-side render time per page (p50/p99 over N requests through
the ASGI app, session check + gather + HTML), SQL statements per page, and the time to first
paint in headless Chromium (the Debian package, through Playwright).

    .venv/bin/python bench/web_overview.py [--units 3321] [--requests 30] [--no-browser]

SQLite in a temporary folder; set BDG_BENCH_DATABASE_URL (postgresql://…) for PostgreSQL.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import secrets
import socket
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from sqlalchemy import event  # noqa: E402

from bench.outputs import seed  # noqa: E402
from bot.app import App  # noqa: E402
from bot.web import create_web_app, desk  # noqa: E402
from db import queries  # noqa: E402
from db.engine import Database  # noqa: E402
from db.models import Officer  # noqa: E402
from db.web import WebSession  # noqa: E402
from handlers.dispatch import Dispatcher  # noqa: E402
from kernel.clock import to_utc  # noqa: E402
from kernel.settings import Services, Settings  # noqa: E402
from services.websessions import digest  # noqa: E402

NOW = to_utc(datetime(2026, 12, 20, 9, 0), "Asia/Ho_Chi_Minh")
URL = "/web/overview?period=2026"


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


async def signed_in_admin(db: Database, root_code: str) -> str:
    """A session of an admin of the root (the cookie value)."""
    sid = secrets.token_urlsafe(32)
    async with db.session() as s:
        root = await queries.unit_by_code(s, root_code)
        assert root is not None and root.id is not None
        officer = Officer(unit_id=root.id, full_name="Bench", position="Bench", role="admin")
        s.add(officer)
        await s.flush()
        assert officer.id is not None
        s.add(
            WebSession(
                sid_hash=digest(sid),
                officer_id=officer.id,
                created_at=NOW,
                last_seen=NOW,
                expires_at=NOW + timedelta(days=1),
            )
        )
    return sid


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def server_side(app: App, sid: str, n: int) -> tuple[list[float], int, int]:
    web = create_web_app(app, desk.routes(app))
    statements = 0

    def count(*_: Any) -> None:
        nonlocal statements
        statements += 1

    event.listen(app.db.engine.sync_engine, "before_cursor_execute", count)
    times: list[float] = []
    size = 0
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web),
        base_url="http://bench",
        headers={"cookie": f"bdg_web={sid}"},
    ) as http:
        r = await http.get(URL)  # warm-up (templates compiled, caches filled)
        assert r.status_code == 200, r.status_code
        statements = 0
        r = await http.get(URL)
        per_page = statements
        size = len(r.content)
        for _ in range(n):
            t0 = time.perf_counter()
            r = await http.get(URL)
            times.append(time.perf_counter() - t0)
            assert r.status_code == 200
    event.remove(app.db.engine.sync_engine, "before_cursor_execute", count)
    return times, per_page, size


async def gather_only(app: App, root_code: str, n: int) -> list[float]:
    """The same read without the web: ``compile.data.gather``, as /tinhhinh runs it."""
    from compile.data import gather

    times = []
    for _ in range(n):
        async with app.db.session() as s:
            root = await queries.unit_by_code(s, root_code)
            assert root is not None
            t0 = time.perf_counter()
            await gather(s, root, "2026", services=Services(), now=NOW, values=False)
            times.append(time.perf_counter() - t0)
    return times


async def first_paint(app: App, sid: str) -> tuple[float, float]:
    from playwright.async_api import async_playwright

    port = free_port()
    web = create_web_app(app, desk.routes(app))
    server = uvicorn.Server(
        uvicorn.Config(web, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started:
            break
        await asyncio.sleep(0.05)
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path="/usr/bin/chromium", args=["--no-sandbox"]
            )
            ctx = await browser.new_context(viewport={"width": 1366, "height": 768})
            await ctx.add_cookies(
                [{"name": "bdg_web", "value": sid, "domain": "127.0.0.1", "path": "/web"}]
            )
            page = await ctx.new_page()
            await page.goto(f"http://127.0.0.1:{port}{URL}")
            await page.goto(f"http://127.0.0.1:{port}{URL}")  # second visit: CSS/JS cached
            paints = await page.evaluate(
                "() => Object.fromEntries(performance.getEntriesByType('paint')"
                ".map(e => [e.name, e.startTime]))"
            )
            nav = await page.evaluate(
                "() => performance.getEntriesByType('navigation')[0].responseStart"
            )
            await browser.close()
    finally:
        server.should_exit = True
        await task
    return float(paints.get("first-contentful-paint", paints.get("first-paint", -1))), float(nav)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--units", type=int, default=3321)
    ap.add_argument("--requests", type=int, default=30)
    ap.add_argument("--no-browser", action="store_true")
    args = ap.parse_args()
    import os

    with tempfile.TemporaryDirectory() as tmp:
        url = os.environ.get("BDG_BENCH_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp}/b.sqlite3"
        schema = f"bench_web_{secrets.token_hex(4)}" if url.startswith("postgresql") else None
        db = Database(url, schema)
        await db.upgrade()
        root = await seed(db, args.units, random.Random(7))
        sid = await signed_in_admin(db, root)
        clock = lambda: NOW  # noqa: E731
        app = App(Settings(), db, Dispatcher(db, Services(), clock=clock), clock)
        times, statements, size = await server_side(app, sid, args.requests)
        print(f"overview of {args.units} units on {url.split(':')[0]}, {args.requests} requests")
        print(
            f"server render: p50 {statistics.median(times) * 1000:.0f} ms, "
            f"p99 {pct(times, 99) * 1000:.0f} ms, page {size / 1024:.0f} KiB"
        )
        print(f"SQL statements per overview page: {statements}")
        g = await gather_only(app, root, max(3, args.requests // 3))
        print(
            f"of which compile.data.gather alone (as /tinhhinh): p50 {statistics.median(g) * 1000:.0f} ms"
        )
        if not args.no_browser:
            fcp, ttfb = await first_paint(app, sid)
            print(f"headless Chromium: first contentful paint {fcp:.0f} ms (TTFB {ttfb:.0f} ms)")
        if schema:
            from sqlalchemy import text

            async with db.engine.begin() as conn:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        await db.dispose()


if __name__ == "__main__":
    asyncio.run(main())
