"""The web desk over HTTP (the app ``bdg serve`` runs, in process): sign-in from a /web link,
cookie flags, single use and expiry, CSRF, security headers, the overview's counts, scope
refusals and the compiled XLSX."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import Callable
from pathlib import Path

from openpyxl import load_workbook
from sqlmodel import select

from bot.web import calendar, cases, pages
from db.engine import Database
from db.models import AuditLog
from db.web import WebLogin, WebSession
from handlers.dispatch import Dispatcher
from kernel.i18n import catalog
from tests.chat import Chat, Clock
from tests.conftest import local
from tests.test_admin_desk import admin_chat
from tests.test_compile_data import seed_known_case
from tests.web_support import client, csrf_of, sign_in, web_app, web_token


async def audit(db: Database, action: str) -> list[AuditLog]:
    async with db.session() as s:
        return list((await s.exec(select(AuditLog).where(AuditLog.action == action))).all())


async def test_sign_in_sets_a_safe_cookie_and_shows_the_overview(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher, clock: Clock
) -> None:
    await seed_known_case(demo_db)
    clock.set(local("2026-12-20T09:00"))
    admin = await admin_chat(make_chat, demo_db)
    app = web_app(demo_db, dispatcher)
    async with client(app) as http:
        token = await web_token(admin)
        async with demo_db.session() as s:
            stored = (await s.exec(select(WebLogin))).all()
        assert [w.token_hash for w in stored] != [token] and token not in stored[0].token_hash
        # Opening the link only shows a button (a link preview must not use it up).
        page = await http.get(f"/web/login/{token}")
        assert page.status_code == 200 and 'action="/web/login"' in page.text
        r = await http.post("/web/login", data={"token": token})
        assert r.status_code == 303 and r.headers["location"] == "/web/overview"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie
        assert "path=/web" in cookie
        r = await http.get("/web/overview?period=2026")
        assert r.status_code == 200
        html = r.text
        assert "Trần Văn Bình" in html and "Tỉnh Hà Tĩnh" in html
        assert '<b id="submitted">5</b>/<b id="expected">18</b>' in html
        assert '<div class="big" id="rate">27,8%</div>' in html
        assert '<b id="on-time">4</b>' in html
        assert html.count('data-status="missing"') == 13
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "<script>" not in html and " style=" not in html
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["referrer-policy"] == "no-referrer"
        # The same link a second time: refused, and the refusal is audited.
        again = await http.post("/web/login", data={"token": token})
        assert again.status_code == 410 and "Liên kết không còn dùng được" in again.text
    logins = await audit(demo_db, "webdesk.login")
    assert [(a.outcome, a.detail) for a in logins] == [("ok", None), ("refused", "reused")]
    assert [a.target for a in await audit(demo_db, "webdesk.overview")] == ["42:2026"]


async def test_filters_sort_and_accent_free_search(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher, clock: Clock
) -> None:
    await seed_known_case(demo_db)
    clock.set(local("2026-12-20T09:00"))
    admin = await admin_chat(make_chat, demo_db)
    async with client(web_app(demo_db, dispatcher)) as http:
        await sign_in(http, admin)
        late = (await http.get("/web/overview?period=2026&status=late")).text
        assert late.count("<tr data-status=") == 1 and 'data-code="28333"' in late
        found = (await http.get("/web/overview?period=2026&q=thach lac")).text
        assert 'data-code="28303"' in found and found.count("<tr data-status=") == 1
        by_code = (await http.get("/web/overview?period=2026&sort=code&dir=desc")).text
        codes = [c for c in by_code.split('data-code="')[1:]]
        assert [c.split('"')[0] for c in codes] == sorted(
            (c.split('"')[0] for c in codes), reverse=True
        )


async def test_expired_link_and_logout_with_csrf(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher, clock: Clock
) -> None:
    admin = await admin_chat(make_chat, demo_db)
    async with client(web_app(demo_db, dispatcher)) as http:
        token = await web_token(admin)
        clock.advance(minutes=11)
        assert (await http.get(f"/web/login/{token}")).status_code == 410
        assert (await http.post("/web/login", data={"token": token})).status_code == 410
        r = await sign_in(http, admin)
        assert r.status_code == 303
        html = (await http.get("/web/overview")).text
        csrf = csrf_of(html)
        # A form without its token is refused (and audited); the session goes on.
        assert (await http.post("/web/logout", data={})).status_code == 403
        assert (await http.post("/web/logout", data={"csrf": "0" * 64})).status_code == 403
        assert (await http.get("/web/overview")).status_code == 200
        out = await http.post("/web/logout", data={"csrf": csrf})
        assert out.status_code == 303 and out.headers["location"] == "/web/signed-out"
        gone = await http.get("/web/overview")
        assert gone.status_code == 303 and gone.headers["location"] == "/web/signed-out"
    assert [a.detail for a in await audit(demo_db, "webdesk.login") if a.outcome == "refused"] == [
        "expired"
    ]
    assert len([a for a in await audit(demo_db, "webdesk.csrf") if a.outcome == "refused"]) == 2
    async with demo_db.session() as s:
        sessions = (await s.exec(select(WebSession))).all()
    assert len(sessions) == 1 and sessions[0].ended_at is not None


async def test_idle_session_ends_and_rate_limit(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher, clock: Clock
) -> None:
    admin = await admin_chat(make_chat, demo_db)
    async with client(web_app(demo_db, dispatcher)) as http:
        await sign_in(http, admin)
        clock.advance(minutes=20)
        assert (await http.get("/web/overview")).status_code == 200
        clock.advance(minutes=31)
        assert (await http.get("/web/overview")).status_code == 303
    for _ in range(4):
        await web_token(admin)
    out = await admin.send("/web")  # the sixth link within the hour
    assert "/web/login/" not in out and "5 liên kết" in out
    refusals = [a for a in await audit(demo_db, "webdesk.link") if a.outcome == "refused"]
    assert [a.detail for a in refusals] == ["rate limit"]


async def test_no_public_url_no_link(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher
) -> None:
    admin = await admin_chat(make_chat, demo_db)
    dispatcher.services.public_url = None
    out = await admin.send("/web")
    assert (
        "chưa có địa chỉ công khai" in out and "PUBLIC_URL" not in out and "/web/login/" not in out
    )
    public = make_chat(user="stranger")
    out = await public.send("/web")
    assert "/web/login/" not in out


async def test_plain_http_cookie_is_not_secure(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher
) -> None:
    admin = await admin_chat(make_chat, demo_db)
    app = web_app(demo_db, dispatcher, public_url="http://127.0.0.1:8080")
    async with client(app, base="http://127.0.0.1:8080") as http:
        out = await admin.send("/web")
        token = out.split("/web/login/")[1].split()[0]
        r = await http.post("/web/login", data={"token": token})
        assert r.status_code == 303
        assert "httponly" in r.headers["set-cookie"].lower()
        assert "secure" not in r.headers["set-cookie"].lower()


async def test_officer_sees_only_their_commune(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher, clock: Clock
) -> None:
    await seed_known_case(demo_db)
    clock.set(local("2026-12-20T09:00"))
    lan = make_chat(user="lan")
    await lan.register(demo_db, "28303")
    other = make_chat(user="minh")
    await other.register(demo_db, "28390", name="Lê Văn Minh")
    async with client(web_app(demo_db, dispatcher)) as http:
        await sign_in(http, lan)
        html = (await http.get("/web/overview?period=2026")).text
        assert html.count("<tr data-status=") == 1 and 'data-code="28303"' in html
        assert "/web/files/" not in html  # compiled files are the agency's (as /tonghop)
        mine = await http.get("/web/unit/28303?period=2026")
        assert mine.status_code == 200 and "Nguyễn Thị Lan" in mine.text
        assert "BC-2026-28303-1" in mine.text
        theirs = await http.get("/web/unit/28390?period=2026")
        assert theirs.status_code == 403 and "Lê Văn Minh" not in theirs.text
        unknown = await http.get("/web/unit/99999")
        assert unknown.status_code == 403
        files = await http.get("/web/files/xlsx?unit=28303&period=2026")
        assert files.status_code == 403
        # A second person's link signs in that person, whatever cookie the browser holds.
        await sign_in(http, other)
        html = (await http.get("/web/overview?period=2026")).text
        assert "Lê Văn Minh" in html and "Nguyễn Thị Lan" not in html
    refused = [a for a in await audit(demo_db, "webdesk.unit") if a.outcome == "refused"]
    assert [a.target for a in refused] == ["unit:28390", "unit:99999"]
    assert [a.outcome for a in await audit(demo_db, "webdesk.compile")] == ["refused"]


async def test_admin_downloads_the_xlsx_with_the_same_total(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher, clock: Clock
) -> None:
    await seed_known_case(demo_db)
    clock.set(local("2026-12-20T09:00"))
    admin = await admin_chat(make_chat, demo_db)
    async with client(web_app(demo_db, dispatcher)) as http:
        await sign_in(http, admin)
        r = await http.get("/web/files/xlsx?unit=42&period=2026")
        assert r.status_code == 200
        assert "tong-hop-2026-42.xlsx" in r.headers["content-disposition"]
        ws = load_workbook(io.BytesIO(r.content))["Tổng hợp"]
        total = [ws.cell(7 + 18, col).value for col in range(1, ws.max_column + 1)]
        assert total[2] == "Tổng cộng"
        assert 5 + 7 + 11 + 2 + 3 in total  # comm_sessions of the latest versions
        png = await http.get("/web/files/png?unit=42&period=2026&chart=status")
        assert png.status_code == 200 and png.content[:4] == b"\x89PNG"
        commune = await http.get("/web/unit/28345?period=2026")
        assert commune.status_code == 200 and "BC-2026-28345-2" in commune.text
    assert [a.target for a in await audit(demo_db, "webdesk.compile")] == [
        "42:2026:xlsx",
        "42:2026:png",
    ]


def test_every_template_text_is_in_both_catalogs() -> None:
    folder = Path(__file__).parent.parent / "bot" / "web" / "templates"
    keys = {
        k
        for page in folder.glob("*.html")
        for k in re.findall(r"""t\(["']((?:web|admin)\.[a-z_]+)["']\s*[,)]""", page.read_text())
    }
    # Keys built from a value: every status, chart and level the pages can show.
    keys |= {f"web.st_{s}" for s in pages.STATUSES} | {f"web.chart_{c}" for c in pages.CHARTS}
    keys |= {f"admin.kind_{k}" for k in ("commune", "ward", "department", "district", "town")}
    # The other pages' keys built from a value (the cases board, the unit page, the calendar).
    keys |= {f"web.case_saved_{a}" for a in cases.ACTIONS}
    keys |= {f"web.lock_done_{o}" for o in pages.LOCK_OUTCOMES}
    keys |= {f"web.cal_done_{d}" for d in calendar.DONE}
    keys |= {f"web.cal_step_{st}" for st in ("submit", "compile")}
    keys |= {f"web.outbox_{st}" for st in ("pending", "sending", "sent", "failed", "cancelled")}
    assert "web.login_button" in keys
    missing = sorted(k for k in keys if k not in catalog("vi") or k not in catalog("en"))
    assert not missing, missing


async def test_whole_province_file_as_a_job_with_progress(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher, clock: Clock
) -> None:
    await seed_known_case(demo_db)
    clock.set(local("2026-12-20T09:00"))
    admin = await admin_chat(make_chat, demo_db)
    lan = make_chat(user="lan")
    await lan.register(demo_db, "28303")
    async with client(web_app(demo_db, dispatcher)) as http:
        await sign_in(http, admin)
        csrf = csrf_of((await http.get("/web/overview?period=2026")).text)
        r = await http.post(
            "/web/files/jobs", data={"csrf": csrf, "fmt": "xlsx", "unit": "42", "period": "2026"}
        )
        assert r.status_code == 200
        job = r.json()["job"]
        seen = []
        for _ in range(200):
            st = (await http.get(f"/web/files/jobs/{job}")).json()
            seen.append(st["phase"])
            if st["phase"] in ("done", "failed"):
                break
            await asyncio.sleep(0.02)
        assert seen[-1] == "done", seen
        f = await http.get(f"/web/files/jobs/{job}/file")
        assert f.status_code == 200 and "tong-hop-2026-42.xlsx" in f.headers["content-disposition"]
        ws = load_workbook(io.BytesIO(f.content))["Tổng hợp"]
        assert 5 + 7 + 11 + 2 + 3 in [ws.cell(7 + 18, c).value for c in range(1, ws.max_column + 1)]
        assert (await http.get(f"/web/files/jobs/{job}/file")).status_code == 404  # once
        r = await http.post(
            "/web/files/jobs", data={"csrf": csrf, "fmt": "xlsx", "unit": "42", "period": "2026"}
        )
        other_job = r.json()["job"]
        await sign_in(http, lan)  # another officer: neither the job nor a new one
        assert (await http.get(f"/web/files/jobs/{other_job}")).status_code == 404
        csrf = csrf_of((await http.get("/web/overview?period=2026")).text)
        r = await http.post(
            "/web/files/jobs", data={"csrf": csrf, "fmt": "xlsx", "unit": "42", "period": "2026"}
        )
        assert r.status_code == 403
    compiles = await audit(demo_db, "webdesk.compile")
    assert [(a.target, a.outcome, a.detail) for a in compiles] == [
        ("42:2026:xlsx", "ok", "job"),
        ("42:2026:xlsx", "ok", "job"),
        ("unit:42", "refused", "outside scope"),
    ]
