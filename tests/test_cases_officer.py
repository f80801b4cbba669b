"""/vuviec: the right officer reads the details (audited), an officer of another commune is
refused (audited), a reporter sees only the status; officers move a case along with notes."""

from __future__ import annotations

from collections.abc import Callable

from db.cases import CLOSED
from db.engine import Database
from db.models import Officer
from services.cases.config import keyring
from tests.cases_helpers import (
    CITIZEN_CALM,
    CITIZEN_URGENT,
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
from tests.chat import Chat, Clock, choices


async def _officer_id(db: Database, name: str) -> int:
    from sqlmodel import select

    async with db.session() as s:
        officer = (await s.exec(select(Officer).where(Officer.full_name == name))).one()
    assert officer.id is not None
    return officer.id


async def test_right_officer_reads_details_and_the_read_is_audited(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    officer = make_chat("lan")
    await officer.register(demo_db, "28303")
    code = await report_case(make_chat("citizen"))
    out = await officer.send(f"/vuviec {code}")
    assert f"Vụ việc {code} — Xã Thạch Lạc" in out
    assert DESCRIPTION in out and CONTACT in out
    assert "Mức độ: KHẨN CẤP (đang nguy hiểm, trẻ em, bạo lực tình dục)" in out
    assert "Đồng ý chia sẻ chi tiết với các dịch vụ hỗ trợ" in out
    assert "09:00 25/11/2026: nhận tin báo" in out
    assert "Chuyển sang «đã tiếp nhận»" in out  # what the officer can do next
    rows = await audit_rows(demo_db)
    read = [r for r in rows if r.action == "cases.read"]
    assert len(read) == 1
    assert (read[0].target, read[0].outcome, read[0].detail) == (code, "ok", None)
    assert read[0].officer_id == await _officer_id(demo_db, "Nguyễn Thị Lan")
    # The reporter's creation is audited without their account.
    created = [r for r in rows if r.action == "cases.create"]
    assert [(r.target, r.account_id, r.officer_id) for r in created] == [(code, None, None)]


async def test_officer_of_another_commune_is_refused_and_audited(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    other = make_chat("binh")
    await other.register(demo_db, "28318", name="Lê Văn Bình")  # Xã Đồng Tiến
    dept = make_chat("dept")
    await dept.register(demo_db, "42-SYT", role="admin", name="Phạm Y Tế")  # a department
    code = await report_case(make_chat("citizen"))
    for chat, name in ((other, "Lê Văn Bình"), (dept, "Phạm Y Tế")):
        out = await chat.send(f"/vuviec {code}")
        assert f"Không có vụ việc {code}, hoặc anh/chị không phụ trách" in out
        for marker in MARKERS:
            assert marker not in out
        assert "Thạch Lạc" not in out
        rows = [r for r in await audit_rows(demo_db) if r.action == "cases.read"]
        assert (rows[-1].target, rows[-1].outcome) == (code, "refused")
        assert rows[-1].officer_id == await _officer_id(demo_db, name)
    # A code that does not exist gets the same answer (nothing tells which codes exist).
    out = await other.send("/vuviec VV-2026-000999")
    assert "Không có vụ việc VV-2026-000999, hoặc anh/chị không phụ trách" in out
    # The list of an officer of another commune does not show the case.
    assert code not in await other.send("/vuviec")


async def test_standing_agency_admin_reads_cases_of_its_subtree(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    admin = make_chat("agency")
    await admin.register(demo_db, "42", role="admin", name="Võ Thị Thường Trực")
    code = await report_case(make_chat("citizen"))
    out = await admin.send("/vuviec")
    assert code in out and "Xã Thạch Lạc" in out and "KHẨN CẤP" in out
    out = await admin.send("1")  # open it from the list
    assert DESCRIPTION in out
    assert [r.outcome for r in await audit_rows(demo_db) if r.action == "cases.read"] == ["ok"]


async def test_malformed_code_is_not_stored_anywhere(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    officer = make_chat("lan")
    await officer.register(demo_db, "28303")
    out = await officer.send("/vuviec chồng tôi đánh tôi ZEBRA-7731")
    assert "Mã tin báo có dạng VV-2026-000123" in out
    rows = await audit_rows(demo_db)
    assert [(r.target, r.outcome) for r in rows] == [(None, "refused")]
    assert all("ZEBRA" not in (r.detail or "") for r in rows)


async def test_status_changes_with_notes_and_history(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    officer = make_chat("lan")
    await officer.register(demo_db, "28303")
    code = await report_case(make_chat("citizen"))
    clock.advance(minutes=10)
    await officer.send(f"/vuviec {code}")
    labels = [c.label for c in choices(officer.last)]
    assert labels == [
        "Chuyển sang «đã tiếp nhận»",
        "Chuyển sang «đang xác minh»",
        "Chuyển sang «đang hỗ trợ»",
        "Chuyển sang «đã chuyển tuyến»",
        "Chuyển sang «đã đóng»",
        "Thêm ghi chú",
        "Xong",
        "Ghi nhận đề nghị cấm tiếp xúc (lúc này)",
        "Chủ tịch xã đã quyết định cấm tiếp xúc (3 ngày)",
        "Chủ tịch xã không ra quyết định cấm tiếp xúc",
    ]
    out = await officer.send("2")  # → đang xác minh
    assert "Ghi chú (không bắt buộc" in out
    out = await officer.send(NOTE)
    assert f"{code}: đã chuyển sang «đang xác minh» lúc 09:10 25/11/2026" in out
    case = await case_by_code(demo_db, code)
    assert case.status == "verifying" and case.acknowledged_at is not None
    events = await case_events(demo_db, case.id or 0)
    assert [(e.kind, e.from_status, e.to_status) for e in events] == [
        ("create", None, "new"),
        ("status", "new", "verifying"),
    ]
    assert events[1].note_enc and NOTE not in events[1].note_enc
    assert keyring().decrypt(events[1].note_enc, f"case:{case.id}:note") == NOTE
    status_audit = [r for r in await audit_rows(demo_db) if r.action == "cases.status"]
    assert [(r.target, r.detail) for r in status_audit] == [(code, "new->verifying")]

    # A note alone, then closing.
    out = await officer.send(f"/vuviec {code}")
    assert "2. «đang xác minh» (hiện tại)" in out
    out = await officer.send("2")  # the current status again
    assert "⚠️ Vụ việc đang ở «đang xác minh»" in out
    out = await officer.send("6")  # "Thêm ghi chú"
    assert "Ghi chú cho vụ việc" in out
    out = await officer.send("-")  # a note alone cannot be empty
    assert "⚠️" in out and "Ghi chú cho vụ việc" in out
    out = await officer.send("Gọi lại lần 2")
    assert f"Đã lưu ghi chú cho {code}" in out
    await officer.send(f"/vuviec {code}")
    out = await officer.send("5")  # → đã đóng
    await officer.send("-")
    case = await case_by_code(demo_db, code)
    assert case.status == CLOSED and case.closed_at is not None
    out = await officer.send(f"/vuviec {code}")
    assert "«đang xác minh»" in out and f"«{NOTE}»" in out and "«Gọi lại lần 2»" in out
    assert "Nguyễn Thị Lan chuyển sang «đã đóng»" in out
    assert "Không có vụ việc nào đang mở" in await officer.send("/vuviec")


async def test_bad_input_in_the_officer_flow(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    officer = make_chat("lan")
    await officer.register(demo_db, "28303")
    code = await report_case(make_chat("citizen"))
    await officer.send(f"/vuviec {code}")
    out = await officer.send("11")
    assert "⚠️ Chưa hiểu" in out and f"Cập nhật vụ việc {code}" in out
    await officer.send("1")
    out = await officer.send("x" * 1500)
    assert "dài quá (1500 ký tự, tối đa 1000)" in out
    assert (await case_by_code(demo_db, code)).status == "new"
    out = await officer.send("Đã gọi điện")
    assert "«đã tiếp nhận»" in out
    out = await officer.send("/vuviec")
    out = await officer.send("xyz")
    assert "Gõ /vuviec để xem lại danh sách" in out


async def test_reporter_sees_only_the_status_from_the_same_account(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    citizen = make_chat("citizen")
    code = await report_case(citizen, CITIZEN_CALM)
    out = await citizen.send(f"/vuviec {code.lower().replace('-', ' ')}")
    assert f"Tin báo {code}: mới" in out
    assert "Xã Thạch Lạc" not in out  # status only
    stranger = make_chat("stranger")
    out = await stranger.send(f"/vuviec {code}")
    assert "Không tìm thấy tin báo" in out and ": mới" not in out
    assert "gõ /vuviec kèm mã" in await stranger.send("/vuviec")
    rows = [r for r in await audit_rows(demo_db) if r.action == "cases.status"]
    assert [(r.target, r.outcome, r.account_id) for r in rows] == [
        (code, "ok", None),
        (code, "refused", None),
    ]


async def test_never_in_a_group_chat(make_chat: Callable[..., Chat], demo_db: Database) -> None:
    officer = make_chat("lan")
    await officer.register(demo_db, "28303")
    code = await report_case(make_chat("citizen"))
    for command in (f"/vuviec {code}", "/vuviec", "/baovuviec"):
        out = await officer.send(command, chat_type="group")
        assert "tin nhắn riêng" in out
        assert DESCRIPTION not in out and code not in out
    assert [r for r in await audit_rows(demo_db) if r.action == "cases.read"] == []


async def test_markup_typed_by_the_reporter_is_shown_as_text(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    """The details are Telegram HTML: a "<" in a description or contact is escaped, or
    Telegram would refuse the message and the officer would not see the case at all."""
    officer = make_chat("lan")
    await officer.register(demo_db, "28303")
    typed = "Anh ta đánh <b>nhiều lần</b> & dọa <3 lần"
    script = [typed if line == DESCRIPTION else line for line in CITIZEN_URGENT]
    script = ["0912 <345> 678" if line == CONTACT else line for line in script]
    code = await report_case(make_chat("citizen"), script)
    out = await officer.send(f"/vuviec {code}")
    # The terminal shows the HTML as plain text: escaped markup comes back as typed, markup
    # that was not escaped would be taken as tags and vanish.
    assert f"Mô tả: {typed}" in out
    assert "Liên lạc: 0912 <345> 678" in out
