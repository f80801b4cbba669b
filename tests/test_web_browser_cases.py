"""The cases board in a real headless Chromium: the clocks count down, a case's details show
only after the click (audited), acknowledging it changes what the reporter reads in the chat,
and no URL, title or history entry of the browser names the case."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

from playwright.async_api import Error as PlaywrightError
from playwright.async_api import Page
from sqlalchemy import update
from sqlmodel import select

from db.engine import Database
from db.models import AuditLog, Outbox
from handlers.dispatch import Dispatcher
from tests.browser import chromium, screen, serve
from tests.cases_helpers import (
    DESCRIPTION,
    MARKERS,
    case_keys,  # noqa: F401  (autouse fixture)
    report_case,
)
from tests.chat import Chat
from tests.processes import free_port
from tests.test_admin_desk import admin_chat
from tests.test_web_browser import link
from tests.web_support import web_app


async def settled_content(page: Page) -> str:
    """The page's HTML once a navigation (going back) has settled."""
    for _ in range(50):
        try:
            await page.wait_for_load_state("domcontentloaded")
            return await page.content()
        except PlaywrightError:
            await asyncio.sleep(0.1)
    return await page.content()


async def test_ack_an_urgent_case_and_the_reporter_sees_it(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher
) -> None:
    lan = make_chat("lan")
    await lan.register(demo_db, "28303")
    citizen = make_chat("citizen")
    code = await report_case(citizen)
    assert "đã tiếp nhận" not in await citizen.send(f"/vuviec {code}")
    port = free_port()
    app = web_app(demo_db, dispatcher, public_url=f"http://127.0.0.1:{port}")
    async with serve(app, port) as base, chromium() as browser:
        page = await (await browser.new_context(viewport={"width": 1366, "height": 768})).new_page()
        await page.goto(await link(lan, base))
        await page.click("#signin")
        await page.wait_for_url(f"{base}/web/overview")
        await page.click("nav a[href='/web/cases']")
        await page.wait_for_url(f"{base}/web/cases")
        row = page.locator(f"tr[data-code='{code}']")
        assert "urgent" in (await row.get_attribute("class") or "")
        countdown = await row.locator(".countdown").first.text_content()
        assert re.fullmatch(r"−?\d+:\d\d:\d\d", countdown or ""), countdown
        body = await page.content()
        assert all(m not in body for m in MARKERS)
        await page.screenshot(path=screen("10-cases-board"), full_page=True)

        await row.locator("button.open").click()
        await page.wait_for_url(f"{base}/web/cases/open")
        assert DESCRIPTION in (await page.text_content("#private") or "")
        assert code not in await page.title()
        await page.screenshot(path=screen("11-case-details"), full_page=True)

        await page.click("button.ack")
        await page.wait_for_url(f"{base}/web/cases?done=ack")
        assert await page.is_visible("#saved")
        await page.screenshot(path=screen("12-case-acknowledged"), full_page=True)
        history = await page.evaluate("history.length")
        assert history >= 3
        # What the browser keeps: the URLs it went through name no case, and going back to
        # the details does not show them again (a no-store POST result is not kept).
        assert code not in page.url
        try:
            await page.go_back()
        except PlaywrightError as err:
            assert "ERR_CACHE_MISS" in str(err)
        assert code not in page.url
        assert DESCRIPTION not in await settled_content(page)
    out = await citizen.send(f"/vuviec {code}")
    assert "đã tiếp nhận" in out and "Đã có người nhận tin" in out
    async with demo_db.session() as s:
        reads = (await s.exec(select(AuditLog).where(AuditLog.action == "cases.read"))).all()
    assert [(r.target, r.outcome, r.detail) for r in reads] == [(code, "ok", "web")]
    assert reads[0].officer_id is not None and reads[0].account_id is not None


async def test_invite_qr_is_drawn_and_the_code_registers(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher
) -> None:
    dispatcher.services.bot_username = "bdg_test_bot"
    admin = await admin_chat(make_chat, demo_db)
    port = free_port()
    app = web_app(demo_db, dispatcher, public_url=f"http://127.0.0.1:{port}")
    async with serve(app, port) as base, chromium() as browser:
        page = await (await browser.new_context(viewport={"width": 1366, "height": 768})).new_page()
        await page.goto(await link(admin, base))
        await page.click("#signin")
        await page.wait_for_url(f"{base}/web/overview")
        await page.click("nav a[href='/web/officers']")
        await page.fill("#invite-unit", "28318")
        await page.click("#invite-form button[type=submit]")
        await page.wait_for_url(f"{base}/web/officers/invite")
        for img in ("#qr-telegram", "#qr-zalo"):
            width = await page.eval_on_selector(img, "i => i.complete ? i.naturalWidth : 0")
            assert width > 100, img  # the SVG was drawn (the CSP allowed it)
        code = await page.text_content("#invite-code") or ""
        await page.screenshot(path=screen("13-invite-qr"), full_page=True)
    newcomer = make_chat("binh")
    await newcomer.send(f"/start {code}")
    await newcomer.send("Lê Văn Bình")
    assert "Đăng ký xong" in await newcomer.send("Công chức VH-XH")


async def test_announcement_sent_and_its_counts_refresh(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher
) -> None:
    admin = await admin_chat(make_chat, demo_db)
    lan = make_chat("lan")
    await lan.register(demo_db, "28303")
    port = free_port()
    app = web_app(demo_db, dispatcher, public_url=f"http://127.0.0.1:{port}")
    async with serve(app, port) as base, chromium() as browser:
        page = await (await browser.new_context(viewport={"width": 1366, "height": 768})).new_page()
        await page.goto(await link(admin, base))
        await page.click("#signin")
        await page.wait_for_url(f"{base}/web/overview")
        await page.click("nav a[href='/web/announce']")
        await page.fill("#announce-unit", "28303")
        await page.fill("#announce-text", "Họp trực tuyến lúc 14:00 thứ Sáu")
        await page.click("#announce-form button[type=submit]")
        await page.wait_for_url(f"{base}/web/announce/preview")
        assert "Gửi tới 1 tài khoản" in (await page.text_content("#recipients") or "")
        await page.screenshot(path=screen("14-announce-preview"), full_page=True)
        await page.click("#announce-send")
        await page.wait_for_url(f"{base}/web/announce?done=sent")
        cell = page.locator("#deliveries tr[data-batch] [data-k=pending]").first
        assert await cell.text_content() == "1"
        # The outbox delivers; the page's counts follow without a reload.
        async with demo_db.session() as s:
            await s.exec(update(Outbox).values(status="sent"))  # type: ignore[call-overload]
        sent = page.locator("#deliveries tr[data-batch] [data-k=sent]").first
        await page.wait_for_function(
            "() => document.querySelector('#deliveries [data-k=sent]').textContent === '1'",
            timeout=15000,
        )
        assert await sent.text_content() == "1"
        await page.screenshot(path=screen("15-announce-counts"), full_page=True)
