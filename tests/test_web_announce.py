"""Announcements on the web desk over HTTP (admins, as /thongbao): preview with the number of
recipients, one outbox row per account (a second press writes none), the delivery counts
(JSON for the page's refresh), the audit row without the text; a unit outside the subtree
and a commune officer are refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import update
from sqlmodel import col, select

from db.engine import Database
from db.models import AuditLog, Outbox
from handlers.dispatch import Dispatcher
from services.announce import Sent
from tests.chat import Chat
from tests.test_admin_desk import admin_chat
from tests.web_support import client, csrf_of, sign_in, web_app

TEXT = "Họp trực tuyến về số liệu 2026 lúc 14:00 thứ Sáu <b>OTTER-3391</b>"


async def test_announce_preview_send_and_counts(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher
) -> None:
    admin = await admin_chat(make_chat, demo_db)
    lan = make_chat("lan")
    await lan.register(demo_db, "28303")
    minh = make_chat("minh")
    await minh.register(demo_db, "28390", name="Lê Văn Minh")
    async with client(web_app(demo_db, dispatcher)) as http:
        await sign_in(http, admin)
        page = await http.get("/web/announce")
        assert page.status_code == 200
        csrf = csrf_of(page.text)
        preview = await http.post(
            "/web/announce/preview", data={"csrf": csrf, "unit": "28303", "text": TEXT}
        )
        assert preview.status_code == 200
        assert "Gửi tới 1 tài khoản của 1 cán bộ ở 1 đơn vị" in preview.text
        assert "&lt;b&gt;OTTER-3391&lt;/b&gt;" in preview.text  # the text is escaped
        ident = preview.text.split('name="id" value="')[1].split('"')[0]
        form = {"csrf": csrf, "unit": "28303", "text": TEXT, "id": ident}
        sent = await http.post("/web/announce/send", data=form)
        assert sent.status_code == 303 and sent.headers["location"] == "/web/announce?done=sent"
        again = await http.post("/web/announce/send", data=form)
        assert again.status_code == 303
        async with demo_db.session() as s:
            rows = (await s.exec(select(Outbox).where(Outbox.kind == "announcement"))).all()
        assert len(rows) == 1 and "OTTER-3391" in rows[0].text
        batch = rows[0].batch
        counts = (await http.get("/web/announce/counts")).json()
        assert counts == {batch: {"sent": 0, "pending": 1, "failed": 0, "total": 1}}
        async with demo_db.session() as s:
            await s.exec(update(Outbox).values(status="sent"))  # type: ignore[call-overload]
        counts = (await http.get("/web/announce/counts")).json()
        assert counts[batch]["sent"] == 1
        listing = (await http.get("/web/announce")).text
        assert f'data-batch="{batch}"' in listing
    async with demo_db.session() as s:
        audits = (
            await s.exec(
                select(AuditLog)
                .where(AuditLog.action == "desk.announce")
                .order_by(col(AuditLog.id))
            )
        ).all()
    assert [(a.target, a.detail, a.outcome) for a in audits] == [(batch, "unit:28303;n=1", "ok")]
    assert audits[0].account_id is not None
    assert all("OTTER" not in (a.detail or "") for a in audits)


async def test_announce_refusals(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher
) -> None:
    lan = make_chat("lan")
    await lan.register(demo_db, "28303")
    dept = make_chat("dept")
    await dept.register(demo_db, "42-SYT", role="admin", name="Phạm Y Tế")
    async with client(web_app(demo_db, dispatcher)) as http:
        await sign_in(http, lan)
        assert (await http.get("/web/announce")).status_code == 403
        await sign_in(http, dept)
        csrf = csrf_of((await http.get("/web/announce")).text)
        r = await http.post(
            "/web/announce/send",
            data={"csrf": csrf, "unit": "28303", "text": TEXT, "id": "0123456789ab"},
        )
        assert r.status_code == 403
        r = await http.post("/web/announce/preview", data={"unit": "", "text": TEXT})
        assert r.status_code == 403  # no CSRF token
    async with demo_db.session() as s:
        assert (await s.exec(select(Outbox).where(Outbox.kind == "announcement"))).all() == []
        refused = (await s.exec(select(AuditLog).where(AuditLog.action == "desk.announce"))).all()
    assert [(a.target, a.outcome, a.detail) for a in refused] == [
        (None, "refused", "not an admin"),
        ("unit:28303", "refused", "outside subtree"),
    ]


def test_rows_being_sent_count_as_not_delivered_yet() -> None:
    sent = Sent("b", datetime(2026, 12, 1), "x", {"sent": 5, "pending": 1, "sending": 2})
    assert (sent.sent, sent.pending, sent.total) == (5, 3, 8)
