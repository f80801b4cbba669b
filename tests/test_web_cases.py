"""The web desk's cases board over HTTP: the open cases of the scope without details, the
details only on a POST (audited with the officer and the account), acknowledge / status / note
/ assign through the chat's functions (the reporter sees the new status in the chat), and
refusals for a case of another scope."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlmodel import col, select

from db.cases import ACKNOWLEDGED, VERIFYING
from db.engine import Database
from db.models import AuditLog, ChannelAccount, Officer, Outbox
from handlers.dispatch import Dispatcher
from services.cases.config import keyring
from tests.cases_helpers import (
    CONTACT,
    DESCRIPTION,
    MARKERS,
    NOTE,
    audit_rows,
    case_by_code,
    case_events,
    case_keys,  # noqa: F401  (autouse fixture)
    report_case,
)
from tests.chat import Chat
from tests.web_support import client, csrf_of, sign_in, web_app


async def _officer(db: Database, name: str) -> Officer:
    async with db.session() as s:
        return (await s.exec(select(Officer).where(Officer.full_name == name))).one()


async def _account_of(db: Database, officer_id: int | None) -> int | None:
    async with db.session() as s:
        acc = (
            await s.exec(select(ChannelAccount).where(ChannelAccount.officer_id == officer_id))
        ).first()
    return acc.id if acc else None


async def test_board_details_on_click_ack_seen_by_the_reporter(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher
) -> None:
    lan = make_chat("lan")
    await lan.register(demo_db, "28303")
    hoa = make_chat("hoa")
    await hoa.register(demo_db, "28303", name="Trần Thị Hoa")
    citizen = make_chat("citizen")
    code = await report_case(citizen)
    async with client(web_app(demo_db, dispatcher)) as http:
        await sign_in(http, lan)
        board = await http.get("/web/cases")
        assert board.status_code == 200
        html = board.text
        assert code in html and "Xã Thạch Lạc" in html and 'class="urgent"' in html
        assert 'class="countdown" data-due="' in html  # the acknowledgement clock runs
        for marker in MARKERS:
            assert marker not in html  # no detail on the board
        assert code not in re.search(r"<title>(.*)</title>", html).group(1)  # type: ignore[union-attr]
        csrf = csrf_of(html)
        # Details: a GET is not a way in; the POST without its token is refused.
        assert (await http.get(f"/web/cases/open?case={code}")).status_code == 405
        assert (await http.post("/web/cases/open", data={"case": code})).status_code == 403
        detail = await http.post("/web/cases/open", data={"case": code, "csrf": csrf})
        assert detail.status_code == 200
        assert DESCRIPTION in detail.text and CONTACT in detail.text
        assert code not in re.search(r"<title>(.*)</title>", detail.text).group(1)  # type: ignore[union-attr]
        # Acknowledge: a 303 to the board (the history holds /web/cases only).
        r = await http.post("/web/cases/act", data={"case": code, "csrf": csrf, "action": "ack"})
        assert r.status_code == 303 and r.headers["location"] == "/web/cases?done=ack"
        again = await http.post(
            "/web/cases/act", data={"case": code, "csrf": csrf, "action": "ack"}
        )
        assert again.status_code == 400 and "đã có người tiếp nhận" in again.text
        # Status with a note, a note alone, assignment to a colleague.
        r = await http.post(
            "/web/cases/act",
            data={"case": code, "csrf": csrf, "action": "status", "to": VERIFYING, "note": NOTE},
        )
        assert r.status_code == 303
        r = await http.post(
            "/web/cases/act", data={"case": code, "csrf": csrf, "action": "note", "note": " "}
        )
        assert r.status_code == 400 and "Tin nhắn trống" in r.text
        hoa_id = (await _officer(demo_db, "Trần Thị Hoa")).id
        r = await http.post(
            "/web/cases/act",
            data={"case": code, "csrf": csrf, "action": "assign", "officer": str(hoa_id)},
        )
        assert r.status_code == 303
        after = (await http.get("/web/cases?done=assign")).text
        assert "Đã giao việc" in after and "Trần Thị Hoa" in after and "đang xác minh" in after
    # The reporter, in the chat, sees the new status.
    out = await citizen.send(f"/vuviec {code}")
    assert "đang xác minh" in out and "Đã có người nhận tin" in out
    case = await case_by_code(demo_db, code)
    lan_officer = await _officer(demo_db, "Nguyễn Thị Lan")
    assert case.acknowledged_by == lan_officer.id and case.assigned_to == hoa_id
    events = await case_events(demo_db, case.id or 0)
    kinds = [(e.kind, e.to_status) for e in events]
    assert ("status", ACKNOWLEDGED) in kinds and ("status", VERIFYING) in kinds
    assert ("assign", None) in kinds
    noted = [e for e in events if e.note_enc]
    assert [keyring().decrypt(e.note_enc or "", f"case:{case.id}:note") for e in noted] == [NOTE]
    # The colleague got the assignment through the outbox: the code only.
    async with demo_db.session() as s:
        sent = (await s.exec(select(Outbox).where(col(Outbox.key).contains(":assign")))).all()
    assert len(sent) == 1 and code in sent[0].text
    assert all(m not in sent[0].text for m in MARKERS)
    # Audit: the chat's actions, with the officer and the account the session came from.
    account = await _account_of(demo_db, lan_officer.id)
    rows = [r for r in await audit_rows(demo_db) if r.officer_id == lan_officer.id]
    assert [(r.action, r.outcome) for r in rows] == [
        ("cases.read", "ok"),
        ("cases.status", "ok"),
        ("cases.status", "ok"),
        ("cases.assign", "ok"),
    ]
    assert {r.account_id for r in rows} == {account} and account is not None
    assert rows[1].detail == "new->acknowledged" and rows[2].detail == "acknowledged->verifying"
    async with demo_db.session() as s:
        web_rows = (
            await s.exec(select(AuditLog).where(col(AuditLog.action).startswith("webdesk.")))
        ).all()
    assert web_rows and all(r.account_id == account for r in web_rows)


async def test_another_scopes_case_is_refused_and_audited(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher
) -> None:
    other = make_chat("binh")
    await other.register(demo_db, "28318", name="Lê Văn Bình")  # Xã Đồng Tiến
    code = await report_case(make_chat("citizen"))
    async with client(web_app(demo_db, dispatcher)) as http:
        await sign_in(http, other)
        board = await http.get("/web/cases")
        assert code not in board.text
        csrf = csrf_of(board.text)
        for path, data in (
            ("/web/cases/open", {"case": code}),
            ("/web/cases/act", {"case": code, "action": "ack"}),
            ("/web/cases/open", {"case": "VV-2026-000999"}),
        ):
            r = await http.post(path, data={**data, "csrf": csrf})
            assert r.status_code == 403
            assert "Không tìm thấy vụ việc này trong phạm vi của anh/chị" in r.text
            assert all(m not in r.text for m in MARKERS) and "Thạch Lạc" not in r.text
    binh = await _officer(demo_db, "Lê Văn Bình")
    rows = [r for r in await audit_rows(demo_db) if r.officer_id == binh.id]
    assert [(r.action, r.target, r.outcome) for r in rows] == [
        ("cases.read", code, "refused"),
        ("cases.update", code, "refused"),
        ("cases.read", "VV-2026-000999", "refused"),
    ]
    case = await case_by_code(demo_db, code)
    assert case.acknowledged_at is None


async def test_assigning_outside_the_case_unit_is_refused(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher
) -> None:
    lan = make_chat("lan")
    await lan.register(demo_db, "28303")
    other = make_chat("binh")
    await other.register(demo_db, "28318", name="Lê Văn Bình")
    code = await report_case(make_chat("citizen"))
    binh = await _officer(demo_db, "Lê Văn Bình")
    async with client(web_app(demo_db, dispatcher)) as http:
        await sign_in(http, lan)
        csrf = csrf_of((await http.get("/web/cases")).text)
        detail = await http.post("/web/cases/open", data={"case": code, "csrf": csrf})
        assert "Lê Văn Bình" not in detail.text  # not offered
        r = await http.post(
            "/web/cases/act",
            data={"case": code, "csrf": csrf, "action": "assign", "officer": str(binh.id)},
        )
        assert r.status_code == 400 and "không phụ trách đơn vị" in r.text
    assert (await case_by_code(demo_db, code)).assigned_to is None
