"""A unit's page on the web desk: each version's changes from the one before, the deadline
reminders queued for the unit, and unlocking / locking the report (admins, as /mokhoa and
/khoa: the same audit rows, the unit's officers told of an unlock); a commune officer sees the
lock state but cannot change it."""

from __future__ import annotations

from collections.abc import Callable

from sqlmodel import col, select

from db import queries
from db.engine import Database
from db.models import AuditLog, ChannelAccount, Outbox
from handlers.dispatch import Dispatcher
from tests.chat import Chat, Clock
from tests.conftest import local
from tests.test_admin_desk import admin_chat
from tests.test_compile_data import seed_known_case
from tests.web_support import client, csrf_of, sign_in, web_app


async def test_versions_changes_and_reminders(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher, clock: Clock
) -> None:
    await seed_known_case(demo_db)
    clock.set(local("2026-12-20T09:00"))
    admin = await admin_chat(make_chat, demo_db)
    lan = make_chat("lan")
    await lan.register(demo_db, "28303")
    async with demo_db.session() as s:
        unit = await queries.unit_by_code(s, "28303")
        lan_acc = (
            await s.exec(select(ChannelAccount).where(ChannelAccount.user_id == "lan"))
        ).one()
        s.add(
            Outbox(
                key="remind:2026:2026-12-04:off:1",
                kind="reminder",
                channel=lan_acc.channel,
                chat_id=lan_acc.chat_id,
                account_id=lan_acc.id,
                unit_id=unit.id if unit else None,
                batch="remind:2026:2026-12-04",
                text="Nhắc hạn",
                status="sent",
                not_before=local("2026-12-04T08:00"),
                sent_at=local("2026-12-04T08:01"),
            )
        )
    async with client(web_app(demo_db, dispatcher)) as http:
        await sign_in(http, admin)
        revised = (await http.get("/web/unit/28345?period=2026")).text
        assert "1 thay đổi so với lần 1" in revised
        assert '<td class="old">100</td><td class="new">2</td>' in revised
        mine = (await http.get("/web/unit/28303?period=2026")).text
        assert "08:01 04/12/2026" in mine and "Nguyễn Thị Lan" in mine and "đã gửi" in mine
        other = (await http.get("/web/unit/28318?period=2026")).text
        assert "Chưa có nhắc hạn nào cho kỳ này" in other


async def test_unlock_and_lock_from_the_unit_page(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher, clock: Clock
) -> None:
    await seed_known_case(demo_db)
    clock.set(local("2027-06-01T09:00"))  # long past the 2026 report's lock date
    admin = await admin_chat(make_chat, demo_db)
    lan = make_chat("lan")
    await lan.register(demo_db, "28303")
    async with client(web_app(demo_db, dispatcher)) as http:
        await sign_in(http, lan)
        page = (await http.get("/web/unit/28303?period=2026")).text
        assert 'id="lock-state">🔒' in page and 'id="lock-form"' not in page
        csrf = csrf_of(page)
        form = {"csrf": csrf, "unit": "28303", "period": "2026", "what": "unlock", "reason": "x"}
        assert (await http.post("/web/unit/lock", data=form)).status_code == 403
        await sign_in(http, admin)
        page = (await http.get("/web/unit/28303?period=2026")).text
        csrf = csrf_of(page)
        form = {"csrf": csrf, "unit": "28303", "period": "2026", "what": "unlock", "reason": ""}
        assert (await http.post("/web/unit/lock", data=form)).status_code == 400  # no reason
        form["reason"] = "Xã xin bổ sung số liệu"
        r = await http.post("/web/unit/lock", data=form)
        assert r.status_code == 303
        assert r.headers["location"] == "/web/unit/28303?period=2026&done=unlocked"
        page = (await http.get(r.headers["location"])).text
        assert "Đã mở khóa 7 ngày" in page and "Đang mở lại đến 09:00 08/06/2027" in page
        form.update(what="lock", reason="Đã bổ sung xong")
        r = await http.post("/web/unit/lock", data=form)
        assert r.headers["location"].endswith("done=locked")
        assert 'id="lock-state">🔒' in (await http.get("/web/unit/28303?period=2026")).text
    async with demo_db.session() as s:
        rows = (
            await s.exec(
                select(AuditLog)
                .where(col(AuditLog.action).in_(("desk.unlock", "desk.lock")))
                .order_by(col(AuditLog.id))
            )
        ).all()
        told = (await s.exec(select(Outbox).where(col(Outbox.key).startswith("unlock:")))).all()
    assert [(r.action, r.target, r.outcome) for r in rows] == [
        ("desk.unlock", "unit:28303", "refused"),
        ("desk.unlock", "28303:2026", "ok"),
        ("desk.lock", "28303:2026", "ok"),
    ]
    assert rows[1].detail and rows[1].detail.endswith("; Xã xin bổ sung số liệu")
    assert rows[2].detail == "Đã bổ sung xong"
    assert len(told) == 1  # Lan, in the chat
