"""Transcripts of the standing agency's desk: an admin of the demo province (registered for
its standing agency, Sở Nội vụ) invites units, sees who has reported, gets the compiled
files, announces, unlocks a report and sets a deadline for the subtree."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
from openpyxl import load_workbook
from sqlmodel import col, select

from compile import links
from db.engine import Database
from db.models import AuditLog, ChannelAccount, Invite, Officer, Outbox, Report
from handlers.dispatch import Dispatcher
from tests.chat import Chat, Clock
from tests.conftest import local
from tests.test_compile_data import seed_known_case, unit

BOT = "bdg_demo_bot"


async def admin_chat(
    make_chat: Callable[..., Chat], db: Database, channel: str = "terminal"
) -> Chat:
    chat = make_chat(user=f"admin-{channel}", channel=channel)
    out = await chat.register(
        db, "42-SNV", role="admin", name="Trần Văn Bình", position="Chuyên viên Sở Nội vụ"
    )
    assert "Đăng ký xong" in out
    return chat


async def audit(db: Database, action: str) -> list[AuditLog]:
    async with db.session() as s:
        return list((await s.exec(select(AuditLog).where(AuditLog.action == action))).all())


async def test_progress_shows_rates_then_units_not_reported(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    officer = make_chat(user="lan")
    await officer.register(demo_db, "28390")  # registered, but has not reported for 2026
    await seed_known_case(demo_db)
    clock.set(local("2026-12-20T09:00"))
    admin = await admin_chat(make_chat, demo_db)
    out = await admin.send("/tinhhinh")
    assert "Báo cáo tổng kết năm 2026\nTỉnh Hà Tĩnh" in out
    assert "Hạn nộp: 07/12/2026" in out
    assert "Đã nộp: 5/18 (27,8%)" in out
    assert "Đúng hạn: 4/18 (22,2%)" in out
    assert "Chưa nộp (13):" in out
    assert "• Xã Kỳ Anh (28390) — trễ 13 ngày\n  ☎ Nguyễn Thị Lan, Công chức VH-XH" in out
    assert "• Xã Cẩm Xuyên (28360) — trễ 13 ngày, chưa có cán bộ" in out  # only a draft
    assert "Xã Thạch Lạc" not in out  # submitted
    assert max(len(line) for line in out.splitlines()) < 80  # short lines for a phone
    out = await admin.send("/tinhhinh 2026S1")
    assert "Báo cáo sơ kết 6 tháng đầu năm 2026" in out and "Đã nộp: 1/18" in out
    assert [a.target for a in await audit(demo_db, "desk.progress")] == ["42:2026", "42:2026S1"]


async def test_compile_sends_files_or_links_by_channel(
    make_chat: Callable[..., Chat],
    demo_db: Database,
    dispatcher: Dispatcher,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(links.ENV, "test-secret")
    await seed_known_case(demo_db)
    clock.set(local("2026-12-20T09:00"))
    admin = await admin_chat(make_chat, demo_db)
    out = await admin.send("/tonghop")
    assert "Tổng hợp Báo cáo tổng kết năm 2026" in out and "Đã nộp 5/18 đơn vị (27,8%)" in out
    assert admin.last is not None
    files = [f for r in admin.last.replies for f in r.files]
    assert [(name, kind) for name, _, kind in files] == [
        ("tong-hop-2026-42.xlsx", "document"),
        ("bao-cao-tong-hop-2026-42.docx", "document"),
        ("bieu-do-trang-thai-2026-42.png", "photo"),
        ("bieu-do-bao-luc-2026-42.png", "photo"),
        ("bieu-do-nguoi-tham-gia-2026-42.png", "photo"),
    ]
    ws = load_workbook(io.BytesIO(files[0][1]))["Tổng hợp"]
    assert ws.cell(7 + 18, 3).value == "Tổng cộng"

    zalo = await admin_chat(make_chat, demo_db, channel="zalo")
    dispatcher.services.public_url = None
    out = await zalo.send("/tonghop")
    assert "chưa có địa chỉ công khai" in out and "PUBLIC_URL" not in out and "https://" not in out
    assert zalo.last is not None and not [f for r in zalo.last.replies for f in r.files]
    dispatcher.services.public_url = "https://bdg.example.vn/"
    out = await zalo.send("/tonghop")
    assert "liên kết dùng đến 09:00 21/12/2026" in out
    urls = re.findall(r"https://bdg\.example\.vn/files/(\S+)", out)
    assert len(urls) == 5
    claims = [links.read_token(u, now=clock()) for u in urls]
    async with demo_db.session() as s:
        province = await unit(s, "42")
        me = (
            await s.exec(select(Officer).where(Officer.unit_id == (await unit(s, "42-SNV")).id))
        ).all()
    assert {c["u"] for c in claims} == {province.id}
    assert {c["f"] for c in claims} == {"xlsx", "docx", "png"}
    assert {c["o"] for c in claims} <= {o.id for o in me}


async def test_invites_for_units_of_the_subtree(
    make_chat: Callable[..., Chat], demo_db: Database, dispatcher: Dispatcher
) -> None:
    dispatcher.services.bot_username = BOT
    admin = await admin_chat(make_chat, demo_db)
    out = await admin.send("/moi")
    assert "/moi tất cả" in out and "(18 đơn vị của Tỉnh Hà Tĩnh)" in out
    out = await admin.send("/moi 28318 28333")
    assert "Đã tạo 2 mã mời (cán bộ báo cáo)" in out
    codes = re.findall(r"Xã (?:Đồng Tiến|Thạch Khê) \(\d+\): ([A-Z0-9]{5}-[A-Z0-9]{5})", out)
    assert len(codes) == 2
    for code in codes:
        assert f"https://t.me/{BOT}?start={code.replace('-', '')}" in out
    newcomer = make_chat(user="new")
    await newcomer.send(f"/start {codes[0].replace('-', '')}")  # the deep link's parameter
    await newcomer.send("Lê Thị Hoa")
    assert "Xã Đồng Tiến" in await newcomer.send("Công chức VH-XH")
    out = await admin.send("/moi tất cả")
    assert "Đã tạo 16 mã mời" in out  # 18 units, minus the two with pending or used codes
    assert "Xã Đồng Tiến" not in out and "Xã Thạch Khê" not in out
    out = await admin.send("/moi tất cả")
    assert "đã có cán bộ hoặc đã có mã mời đang chờ" in out
    out = await admin.send("/moi 28303 admin")
    assert "(quản trị)" in out
    async with demo_db.session() as s:
        invites = (await s.exec(select(Invite))).all()
    assert len(invites) == 1 + 2 + 16 + 1  # the admin's own, then these
    assert [i.role for i in invites].count("admin") == 2
    assert len(await audit(demo_db, "desk.invite")) == 19
    assert "Không tìm thấy đơn vị có mã 99999" in await admin.send("/moi 99999")


async def test_officers_list_and_deactivation_with_confirmation(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    lan = make_chat(user="lan")
    await lan.register(demo_db, "28303")
    admin = await admin_chat(make_chat, demo_db)
    out = await admin.send("/canbo")
    async with demo_db.session() as s:
        officer = (await s.exec(select(Officer).where(Officer.full_name == "Nguyễn Thị Lan"))).one()
        me = (await s.exec(select(Officer).where(Officer.role == "admin"))).one()
    assert f"#{officer.id} Nguyễn Thị Lan — Công chức VH-XH · Xã Thạch Lạc (28303)" in out
    assert f"#{me.id} Trần Văn Bình" in out and "· quản trị" in out
    await admin.send("/thongbao Họp trực tuyến lúc 14:00")
    await admin.send("1")  # one pending announcement for Lan
    out = await admin.send(f"/canbo ngung {officer.id}")
    assert "Ngừng cán bộ" in out and "Nguyễn Thị Lan" in out
    assert "Đã hủy" in await admin.send("2")
    assert "đã đăng ký" not in await lan.send("/baocao")  # still active
    await lan.send("/huy")
    await admin.send(f"/canbo ngung {officer.id}")
    assert "Đã ngừng Nguyễn Thị Lan" in await admin.send("1")
    async with demo_db.session() as s:
        assert not (await s.get(Officer, officer.id)).active  # type: ignore[union-attr]
        acc = (await s.exec(select(ChannelAccount).where(ChannelAccount.user_id == "lan"))).one()
        rows = (await s.exec(select(Outbox).where(Outbox.account_id == acc.id))).all()
    assert acc.officer_id is None
    assert [r.status for r in rows] == ["cancelled"]
    assert "dành cho cán bộ đã đăng ký" in await lan.send("/baocao")  # no longer an officer
    assert "không thể tự ngừng" in await admin.send(f"/canbo ngung {me.id}")
    assert "Không có cán bộ đang hoạt động mang số" in await admin.send(
        f"/canbo ngung {officer.id}"
    )
    [entry] = await audit(demo_db, "desk.deactivate")
    assert entry.target == f"officer:{officer.id}" and entry.outcome == "ok"


async def test_announcement_preview_confirm_outbox_and_delivery_counts(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    officers = []
    for user, code, channel in (
        ("o1", "28303", "terminal"),
        ("o2", "28318", "telegram"),
        ("o3", "42-SYT", "zalo"),
    ):
        chat = make_chat(user=user, channel=channel)
        await chat.register(demo_db, code)
        officers.append(chat)
    admin = await admin_chat(make_chat, demo_db)
    out = await admin.send("/thongbao")
    assert "chưa có thông báo nào" in out and "Gõ nội dung thông báo" in out
    out = await admin.send("Đề nghị gửi báo cáo <trước> 05/12.")
    assert "📢 Thông báo của Sở Nội vụ tỉnh Hà Tĩnh\nĐề nghị gửi báo cáo <trước> 05/12." in out
    assert "Gửi tới 3 tài khoản của 3 cán bộ ở 3 đơn vị?" in out
    assert "Đã xếp 3 tin vào hàng gửi" in await admin.send("1")
    async with demo_db.session() as s:
        rows = (await s.exec(select(Outbox).order_by(col(Outbox.id)))).all()
        accounts = {a.id: a for a in (await s.exec(select(ChannelAccount))).all()}
    assert len(rows) == 3 and len({r.batch for r in rows}) == 1
    batch = rows[0].batch
    assert batch is not None and re.fullmatch(r"announce:[0-9a-f]{12}", batch)
    assert [r.key for r in rows] == [f"{batch}:acc:{r.account_id}" for r in rows]
    assert {accounts[r.account_id].user_id for r in rows if r.account_id} == {"o1", "o2", "o3"}
    assert {r.channel for r in rows} == {"terminal", "telegram", "zalo"}
    assert all(r.kind == "announcement" and r.status == "pending" for r in rows)
    assert "&lt;trước&gt;" in rows[0].text  # the admin's text is escaped for Telegram HTML
    [entry] = await audit(demo_db, "desk.announce")
    assert entry.target == batch and entry.detail == "unit:42;n=3"
    assert "Đề nghị" not in (entry.detail or "")  # the text stays out of the audit log
    async with demo_db.session() as s:
        first, second = (await s.exec(select(Outbox).order_by(col(Outbox.id)))).all()[:2]
        first.status, second.status = "sent", "failed"
    out = await admin.send("/thongbao")
    assert "«Đề nghị gửi báo cáo <trước> 05/12.»" in out
    assert "đã gửi 1/3, đang chờ 1, lỗi 1" in out
    assert "Đã dừng" in await admin.send("/huy")  # leaves the "type the text" step
    await admin.send("/thongbao Thông báo thứ hai")
    assert "Đã hủy" in await admin.send("2")
    async with demo_db.session() as s:
        assert len((await s.exec(select(Outbox))).all()) == 3


async def test_unlock_and_lock_a_report_with_a_reason(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    lan = make_chat(user="lan")
    await lan.register(demo_db, "28303")
    admin = await admin_chat(make_chat, demo_db)
    out = await admin.send("/mokhoa 28303 2026 xin bổ sung")
    assert "chưa khóa" in out and "01/01/2027" in out  # before the lock date: nothing to do
    clock.set(local("2027-01-05T09:00"))
    assert "đã khóa từ ngày 01/01/2027" in await lan.send("/baocao 2026")
    assert "Mở khóa báo cáo của một đơn vị" in await admin.send("/mokhoa")
    out = await admin.send("/mokhoa 28303 2026")
    assert "Lý do" in out
    out = await admin.send("Xã xin bổ sung số liệu tập huấn")
    assert "Đã mở khóa Báo cáo tổng kết năm 2026 của Xã Thạch Lạc đến 09:00 12/01/2027" in out
    async with demo_db.session() as s:
        report = (await s.exec(select(Report).where(Report.period == "2026"))).one()
        notices = (await s.exec(select(Outbox).where(Outbox.kind == "alert"))).all()
    assert report.unlocked_until == local("2027-01-12T09:00")
    assert len(notices) == 1 and "đã được mở khóa đến 09:00 12/01/2027" in notices[0].text
    [entry] = await audit(demo_db, "desk.unlock")
    assert entry.target == "28303:2026" and "Xã xin bổ sung số liệu tập huấn" in (
        entry.detail or ""
    )
    out = await lan.send("/baocao 2026")
    assert "Câu 1/" in out  # the officer can work on it again
    await lan.send("/huy")
    out = await admin.send("/khoa 28303 2026 Đã bổ sung xong")
    assert "Đã khóa Báo cáo tổng kết năm 2026 của Xã Thạch Lạc" in out
    assert "đã khóa từ ngày 01/01/2027" in await lan.send("/baocao 2026")
    [entry] = await audit(demo_db, "desk.lock")
    assert entry.detail == "Đã bổ sung xong"
    assert "không phải đơn vị báo cáo" in await admin.send("/mokhoa 42 2026 thử")


async def test_admin_calendar_sets_the_subtrees_deadline(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    from services.overrides import for_unit

    lan = make_chat(user="lan")
    await lan.register(demo_db, "28303")
    assert "Đặt hạn nộp riêng" not in await lan.send("/lich")
    admin = await admin_chat(make_chat, demo_db)
    out = await admin.send("/lich")
    assert "Báo cáo tổng kết năm: hạn 07/12/2026" in out
    assert "Đặt hạn nộp riêng cho các đơn vị của Tỉnh Hà Tĩnh? Chọn báo cáo:" in out
    assert "1. Hạn báo cáo tổng kết năm 2026" in out
    out = await admin.send("1")
    assert "Hạn nộp mới của Báo cáo tổng kết năm 2026" in out and "Lịch chung: 05/12/2026" in out
    out = await admin.send("31/02/2026")
    assert "Căn cứ" not in out  # refused; still asking for the date
    out = await admin.send("27/11/2026")
    assert "Căn cứ hoặc lý do" in out
    out = await admin.send("Kế hoạch số 12/KH-UBND")
    assert "✓ Hạn nộp Báo cáo tổng kết năm 2026 của Tỉnh Hà Tĩnh" in out and "27/11/2026" in out
    async with demo_db.session() as s:
        assert (await for_unit(s, await unit(s, "28303"), 2026))[
            "annual"
        ].isoformat() == "2026-11-27"
    out = await admin.send("/tinhhinh")
    assert "Hạn nộp: 27/11/2026" in out and "còn 2 ngày" in out
    out = await admin.send("/lich")
    assert "27/11/2026 (đặt cho Tỉnh Hà Tĩnh)" in out
    out = await admin.send("tinhhinh")  # a command word while the offer is open
    assert "Đã nộp: 0/18" in out
