"""The calendar on the web desk: upcoming deadlines for everyone; a one-year deadline and an
every-year deadline set and removed by an admin through the chat's functions (the commune's
/lich in the chat shows the new date), bad input refused with the catalog's words, a commune
officer refused."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import col, select

from db.engine import Database
from db.models import AuditLog
from handlers.dispatch import Dispatcher
from tests.chat import Chat, Clock
from tests.conftest import local
from tests.test_admin_desk import admin_chat
from tests.web_support import client, csrf_of, sign_in, web_app


async def test_admin_sets_deadlines_the_commune_sees_them_in_the_chat(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher, clock: Clock
) -> None:
    clock.set(local("2026-11-25T09:00"))
    lan = make_chat(user="lan")
    await lan.register(demo_db, "28303")
    admin = await admin_chat(make_chat, demo_db)
    async with client(web_app(demo_db, dispatcher)) as http:
        await sign_in(http, lan)
        page = await http.get("/web/calendar")
        assert page.status_code == 200 and "07/12/2026" in page.text
        assert 'id="override-form"' not in page.text
        csrf = csrf_of(page.text)
        form = {"csrf": csrf, "kind": "annual", "year": "2026", "due": "27/11/2026"}
        assert (await http.post("/web/calendar/override", data=form)).status_code == 403
        await sign_in(http, admin)
        csrf = csrf_of((await http.get("/web/calendar")).text)
        bad = await http.post(
            "/web/calendar/override",
            data={"csrf": csrf, "kind": "annual", "year": "2026", "due": "31/02/2026"},
        )
        assert bad.status_code == 400
        r = await http.post(
            "/web/calendar/override",
            data={
                "csrf": csrf,
                "kind": "annual",
                "year": "2026",
                "due": "27/11/2026",
                "reason": "Kế hoạch số 12/KH-UBND",
            },
        )
        assert r.status_code == 303 and r.headers["location"] == "/web/calendar?done=override_set"
        html = (await http.get("/web/calendar?done=override_set")).text
        assert "Đã đặt hạn riêng" in html and "Kế hoạch số 12/KH-UBND" in html
        assert "27/11/2026" in html
        r = await http.post(
            "/web/calendar/rule",
            data={"csrf": csrf, "kind": "semiannual", "step": "submit", "dm": "10/06"},
        )
        assert r.headers["location"] == "/web/calendar?done=rule_set"
        assert "10/06" in (await http.get("/web/calendar")).text
    out = await lan.send("/lich")
    assert "27/11/2026" in out
    async with client(web_app(demo_db, dispatcher)) as http:
        await sign_in(http, admin)
        csrf = csrf_of((await http.get("/web/calendar")).text)
        r = await http.post(
            "/web/calendar/override",
            data={"csrf": csrf, "kind": "annual", "year": "2026", "clear": "1"},
        )
        assert r.headers["location"] == "/web/calendar?done=override_cleared"
    assert "27/11/2026" not in await lan.send("/lich")
    async with demo_db.session() as s:
        rows = (
            await s.exec(
                select(AuditLog)
                .where(AuditLog.action == "desk.deadline")
                .order_by(col(AuditLog.id))
            )
        ).all()
    assert [(r.target, r.outcome, r.detail) for r in rows] == [
        (None, "refused", "not an admin"),
        ("42:2026:annual", "ok", "2026-11-27"),
        ("42:semiannual:submit", "ok", "rule 10/06 since 2027"),
        ("42:2026:annual", "ok", "clear"),
    ]
