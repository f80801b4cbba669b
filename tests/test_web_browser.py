"""Journeys in a real headless Chromium: sign in from a /web link sent in the chat, read the
overview's counts for the seeded province, filter and sort the units, download the XLSX and
check a total, open a unit; a commune officer cannot open another commune by URL; a used link
is refused. Screenshots go to out/screens/ (git-ignored)."""

from __future__ import annotations

import io
from collections.abc import Callable

from openpyxl import load_workbook
from sqlmodel import select

from db.engine import Database
from db.models import AuditLog
from handlers.dispatch import Dispatcher
from tests.browser import chromium, screen, serve
from tests.chat import Chat, Clock
from tests.conftest import local
from tests.processes import free_port
from tests.test_admin_desk import admin_chat
from tests.test_compile_data import seed_known_case
from tests.web_support import web_app


async def link(chat: Chat, base: str) -> str:
    out = await chat.send("/web")
    url = next(w for w in out.split() if "/web/login/" in w)
    assert url.startswith(base)
    return url


async def test_admin_journey_in_chromium(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher, clock: Clock
) -> None:
    await seed_known_case(demo_db)
    clock.set(local("2026-12-20T09:00"))
    admin = await admin_chat(make_chat, demo_db)
    port = free_port()
    app = web_app(demo_db, dispatcher, public_url=f"http://127.0.0.1:{port}")
    async with serve(app, port) as base, chromium() as browser:
        ctx = await browser.new_context(viewport={"width": 1366, "height": 768})
        page = await ctx.new_page()
        url = await link(admin, base)
        await page.goto(url)
        await page.screenshot(path=screen("01-login"))
        await page.click("#signin")
        await page.wait_for_url(f"{base}/web/overview")
        assert "/web/login/" not in page.url and "token" not in await page.title()
        await page.goto(f"{base}/web/overview?period=2026")
        assert await page.text_content("#submitted") == "5"
        assert await page.text_content("#expected") == "18"
        assert await page.text_content("#rate") == "27,8%"
        await page.screenshot(path=screen("02-overview-1366"), full_page=True)

        # Filter in place (plain JS): accent-free search, then a status.
        await page.fill("#q", "thach lac")
        assert await page.text_content("#shown") == "1"
        assert await page.is_visible('tr[data-code="28303"]')
        assert not await page.is_visible('tr[data-code="28390"]')
        await page.fill("#q", "")
        await page.select_option("#status", "missing")
        assert await page.text_content("#shown") == "13"
        await page.screenshot(path=screen("03-overview-missing"), full_page=True)
        await page.select_option("#status", "")
        # Sort by code, then by code again (descending), without a reload.
        await page.click('a.sort[data-key="code"]')
        first = await page.get_attribute("#units tbody tr", "data-code")
        await page.click('a.sort[data-key="code"]')
        last_first = await page.get_attribute("#units tbody tr", "data-code")
        codes = await page.eval_on_selector_all(
            "#units tbody tr", "rows => rows.map(r => r.dataset.code)"
        )
        assert first == min(codes) and last_first == max(codes)

        # The compiled workbook: the same totals as the submitted values.
        async with page.expect_download() as info:
            await page.click("#dl-xlsx")
        download = await info.value
        assert download.suggested_filename == "tong-hop-2026-42.xlsx"
        # It came through a job whose progress the page showed (the script's path).
        assert await page.is_visible("#dl-state")
        assert await page.eval_on_selector("#dl-progress", "p => p.value === p.max")
        await page.screenshot(path=screen("04b-download-progress"))
        path = await download.path()
        ws = load_workbook(io.BytesIO(path.read_bytes()))["Tổng hợp"]
        total = [ws.cell(7 + 18, col).value for col in range(1, ws.max_column + 1)]
        assert total[2] == "Tổng cộng" and 5 + 7 + 11 + 2 + 3 in total

        await page.click('a[href^="/web/unit/28345"]')
        await page.wait_for_url(f"{base}/web/unit/28345?period=2026")
        assert "BC-2026-28345-2" in await page.content()
        await page.screenshot(path=screen("04-unit"), full_page=True)

        phone = await browser.new_context(viewport={"width": 390, "height": 844})
        await phone.add_cookies(await ctx.cookies())
        small = await phone.new_page()
        await small.goto(f"{base}/web/overview?period=2026")
        assert await small.text_content("#submitted") == "5"
        await small.screenshot(path=screen("05-overview-phone"), full_page=True)

        # The link that signed in cannot sign in again.
        again = await (await browser.new_context()).new_page()
        response = await again.goto(url)
        assert response is not None and response.status == 410
        assert await again.is_visible("h1") and not await again.is_visible("#signin")
        await again.screenshot(path=screen("06-link-used"))


async def test_commune_officer_cannot_open_another_commune(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher, clock: Clock
) -> None:
    await seed_known_case(demo_db)
    clock.set(local("2026-12-20T09:00"))
    lan = make_chat(user="lan")
    await lan.register(demo_db, "28303")
    port = free_port()
    app = web_app(demo_db, dispatcher, public_url=f"http://127.0.0.1:{port}")
    async with serve(app, port) as base, chromium() as browser:
        page = await (await browser.new_context()).new_page()
        await page.goto(await link(lan, base))
        await page.click("#signin")
        await page.wait_for_url(f"{base}/web/overview")
        assert await page.text_content("#expected") == "1"
        await page.screenshot(path=screen("07-officer-overview"), full_page=True)
        response = await page.goto(f"{base}/web/unit/28390?period=2026")
        assert response is not None and response.status == 403
        await page.screenshot(path=screen("08-officer-refused"))
    async with demo_db.session() as s:
        refused = (
            await s.exec(
                select(AuditLog).where(
                    AuditLog.action == "webdesk.unit", AuditLog.outcome == "refused"
                )
            )
        ).all()
    assert [a.target for a in refused] == ["unit:28390"]
