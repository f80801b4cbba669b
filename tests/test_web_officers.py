"""The web desk's officers page over HTTP (admins, as /canbo and /moi): officers and their
channels, an invite with its QR codes that registers in the chat, deactivating an officer
after a confirmation, and refusals (a commune officer; a unit or an officer outside the
admin's subtree), all audited as in the chat."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlmodel import col, select

from db.engine import Database
from db.models import AuditLog, ChannelAccount, Officer
from handlers.dispatch import Dispatcher
from tests.chat import Chat
from tests.test_admin_desk import admin_chat
from tests.web_support import client, csrf_of, sign_in, web_app


async def _audit(db: Database, prefix: str) -> list[AuditLog]:
    async with db.session() as s:
        rows = (await s.exec(select(AuditLog).order_by(col(AuditLog.id)))).all()
    return [r for r in rows if r.action.startswith(prefix)]


async def test_invite_with_qr_registers_in_the_chat_then_revoke(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher
) -> None:
    dispatcher.services.bot_username = "bdg_test_bot"
    admin = await admin_chat(make_chat, demo_db)
    lan = make_chat("lan")
    await lan.register(demo_db, "28303")
    async with client(web_app(demo_db, dispatcher)) as http:
        await sign_in(http, admin)
        listing = await http.get("/web/officers")
        assert listing.status_code == 200
        assert "Nguyễn Thị Lan" in listing.text and "Xã Thạch Lạc (28303)" in listing.text
        assert "terminal" in listing.text  # the officer's channel
        csrf = csrf_of(listing.text)
        assert (await http.post("/web/officers/invite", data={"unit": "28318"})).status_code == 403
        made = await http.post(
            "/web/officers/invite", data={"unit": "28318", "role": "officer", "csrf": csrf}
        )
        assert made.status_code == 200
        code = re.search(r'id="invite-code">([A-Z0-9-]+)<', made.text).group(1)  # type: ignore[union-attr]
        assert f"https://t.me/bdg_test_bot?start={code.replace('-', '')}" in made.text
        assert made.text.count('src="data:image/svg+xml') == 2  # Telegram and Zalo
        assert code not in str(made.url) and made.headers["cache-control"] == "private, no-store"
        # The code registers in the chat.
        newcomer = make_chat("binh")
        await newcomer.send(f"/start {code}")
        await newcomer.send("Lê Văn Bình")
        assert "Đăng ký xong" in await newcomer.send("Công chức VH-XH")
        assert "Lê Văn Bình" in (await http.get("/web/officers")).text
        async with demo_db.session() as s:
            binh = (await s.exec(select(Officer).where(Officer.full_name == "Lê Văn Bình"))).one()
        # Deactivate: a confirmation first, then done.
        ask = await http.post("/web/officers/revoke", data={"officer": str(binh.id), "csrf": csrf})
        assert ask.status_code == 200 and 'id="revoke-yes"' in ask.text
        async with demo_db.session() as s:
            assert (await s.get(Officer, binh.id)).active  # type: ignore[union-attr]
        done = await http.post(
            "/web/officers/revoke", data={"officer": str(binh.id), "csrf": csrf, "confirm": "yes"}
        )
        assert done.status_code == 303 and done.headers["location"] == "/web/officers?done=revoked"
        assert "Lê Văn Bình" not in (await http.get("/web/officers")).text
    async with demo_db.session() as s:
        assert not (await s.get(Officer, binh.id)).active  # type: ignore[union-attr]
        accounts = (
            await s.exec(select(ChannelAccount).where(ChannelAccount.officer_id == binh.id))
        ).all()
    assert accounts == []
    rows = [(r.action, r.target, r.outcome, r.detail) for r in await _audit(demo_db, "desk.")]
    assert ("desk.invite", "unit:28318", "ok", "role=officer") in rows
    assert ("desk.deactivate", f"officer:{binh.id}", "ok", "accounts=1") in rows
    assert all(r.account_id is not None for r in await _audit(demo_db, "desk."))


async def test_officer_and_outside_subtree_are_refused(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher
) -> None:
    lan = make_chat("lan")
    await lan.register(demo_db, "28303")
    dept = make_chat("dept")
    await dept.register(demo_db, "42-SYT", role="admin", name="Phạm Y Tế")  # a department
    async with client(web_app(demo_db, dispatcher)) as http:
        await sign_in(http, lan)
        r = await http.get("/web/officers")
        assert r.status_code == 403 and "Nguyễn Thị Lan" not in r.text.split("</header>")[1]
        await sign_in(http, dept)
        listing = await http.get("/web/officers")
        assert listing.status_code == 200 and "Nguyễn Thị Lan" not in listing.text
        csrf = csrf_of(listing.text)
        r = await http.post("/web/officers/invite", data={"unit": "28303", "csrf": csrf})
        assert r.status_code == 403
        async with demo_db.session() as s:
            lan_id = (
                await s.exec(select(Officer.id).where(Officer.full_name == "Nguyễn Thị Lan"))
            ).one()
        r = await http.post(
            "/web/officers/revoke", data={"officer": str(lan_id), "csrf": csrf, "confirm": "yes"}
        )
        assert r.status_code == 403
    async with demo_db.session() as s:
        assert (await s.get(Officer, lan_id)).active  # type: ignore[union-attr]
    rows = [(r.action, r.target, r.outcome, r.detail) for r in await _audit(demo_db, "desk.")]
    assert ("desk.officers", None, "refused", "not an admin") in rows
    assert ("desk.invite", "unit:28303", "refused", "outside subtree") in rows
    assert ("desk.deactivate", f"officer:{lan_id}", "refused", "outside subtree") in rows


async def test_a_deactivated_officer_loses_the_web_session(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher
) -> None:
    admin = await admin_chat(make_chat, demo_db)
    lan = make_chat("lan")
    await lan.register(demo_db, "28303")
    app = web_app(demo_db, dispatcher)
    async with client(app) as lan_http, client(app) as admin_http:
        await sign_in(lan_http, lan)
        assert (await lan_http.get("/web/cases")).status_code == 200
        await sign_in(admin_http, admin)
        csrf = csrf_of((await admin_http.get("/web/officers")).text)
        async with demo_db.session() as s:
            lan_id = (
                await s.exec(select(Officer.id).where(Officer.full_name == "Nguyễn Thị Lan"))
            ).one()
        r = await admin_http.post(
            "/web/officers/revoke", data={"officer": str(lan_id), "csrf": csrf, "confirm": "yes"}
        )
        assert r.status_code == 303
        gone = await lan_http.get("/web/cases")
        assert gone.status_code == 303 and gone.headers["location"] == "/web/signed-out"
