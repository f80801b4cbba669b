"""An admin acts only on their own subtree: another province's units cannot be seen,
exported, locked, announced to, invited or deactivated, and every attempt is refused and
kept in the audit log. A non-admin gets a short "not allowed" (audited too)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlmodel import col, select

from db.engine import Database
from db.models import AuditLog, ChannelAccount, Invite, Officer, Outbox, Report
from db.units import import_units
from tests.chat import Chat
from tests.test_compile_data import unit

REFUSED = "không thuộc phạm vi quản lý của anh/chị"
NOT_ALLOWED = "Lệnh này chỉ dành cho cán bộ quản trị"
COMMANDS = (
    "/moi 28303",
    "/canbo",
    "/tinhhinh",
    "/tonghop",
    "/thongbao",
    "/khoa 28303 2026 x",
    "/mokhoa 28303 2026 x",
)


@pytest.fixture
async def two_provinces(demo_db: Database) -> Database:
    async with demo_db.session() as s:
        await import_units(
            s,
            [
                {
                    "code": "44",
                    "name": "Tỉnh Quảng Bình",
                    "parent_code": "",
                    "kind": "province",
                    "reports": "0",
                },
                {"code": "44001", "name": "Xã Quảng Hòa", "parent_code": "44", "kind": "commune"},
                {"code": "44002", "name": "Xã Quảng Lộc", "parent_code": "44", "kind": "commune"},
            ],
        )
    return demo_db


async def refusals(db: Database) -> list[AuditLog]:
    async with db.session() as s:
        return list(
            (
                await s.exec(
                    select(AuditLog)
                    .where(AuditLog.outcome == "refused", col(AuditLog.action).startswith("desk."))
                    .order_by(col(AuditLog.id))
                )
            ).all()
        )


async def test_an_admin_cannot_reach_another_subtree(
    make_chat: Callable[..., Chat], two_provinces: Database
) -> None:
    db = two_provinces
    other = make_chat(user="qb")
    await other.register(db, "44001", name="Hoàng Thị Mai")
    admin = make_chat(user="ht-admin")
    await admin.register(db, "42-SNV", role="admin", name="Trần Văn Bình")
    async with db.session() as s:
        mai = (await s.exec(select(Officer).where(Officer.full_name == "Hoàng Thị Mai"))).one()
    attempts = {
        "/tinhhinh 44": "desk.progress",  # see
        "/tonghop 2026 44001": "desk.compile",  # export
        "/mokhoa 44001 2026 xin mở": "desk.unlock",  # unlock
        "/khoa 44001 2026 khóa lại": "desk.lock",  # lock
        "/thongbao @44 Họp khẩn": "desk.announce",  # announce
        "/moi 44002": "desk.invite",  # invite
        "/canbo 44": "desk.officers",  # list officers
        f"/canbo ngung {mai.id}": "desk.deactivate",  # deactivate
    }
    for command in attempts:
        out = await admin.send(command)
        assert REFUSED in out, command
        assert admin.last is not None and not any(r.files for r in admin.last.replies)
        assert "Hoàng Thị Mai" not in out and "Quảng Lộc" not in out
    entries = await refusals(db)
    assert [e.action for e in entries] == list(attempts.values())
    assert all(e.officer_id is not None and e.detail == "outside subtree" for e in entries)
    assert entries[0].target == "unit:44" and entries[-1].target == f"officer:{mai.id}"
    async with db.session() as s:
        assert (await s.get(Officer, mai.id)).active  # type: ignore[union-attr]
        assert not (await s.exec(select(Outbox))).all()
        assert not (await s.exec(select(Report))).all()
        q2 = await unit(s, "44002")
        assert not (await s.exec(select(Invite).where(Invite.unit_id == q2.id))).all()
    # Its own announcement reaches only its own subtree.
    out = await admin.send("/thongbao Họp giao ban")
    assert "Chưa có cán bộ nào của Tỉnh Hà Tĩnh đăng ký" in out
    lan = make_chat(user="lan")
    await lan.register(db, "28303")
    assert "Gửi tới 1 tài khoản của 1 cán bộ ở 1 đơn vị?" in await admin.send("/thongbao Họp")
    await admin.send("1")
    async with db.session() as s:
        rows = (await s.exec(select(Outbox))).all()
        accounts = (
            await s.exec(select(ChannelAccount).where(ChannelAccount.user_id == "lan"))
        ).all()
    assert [r.account_id for r in rows] == [accounts[0].id]


async def test_a_commune_admin_sees_only_its_commune(
    make_chat: Callable[..., Chat], two_provinces: Database
) -> None:
    admin = make_chat(user="xa-admin")
    await admin.register(two_provinces, "28303", role="admin")
    out = await admin.send("/tinhhinh")
    assert "Xã Thạch Lạc" in out and "Đã nộp: 0/1" in out
    assert REFUSED in await admin.send("/tinhhinh 42")
    assert REFUSED in await admin.send("/tonghop 28318")
    assert [e.target for e in await refusals(two_provinces)] == ["unit:42", "unit:28318"]


async def test_officers_and_strangers_are_not_allowed(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    officer = make_chat(user="lan")
    await officer.register(demo_db, "28303")
    stranger = make_chat(user="stranger")
    for chat in (officer, stranger):
        for command in COMMANDS:
            out = await chat.send(command)
            assert out.startswith(NOT_ALLOWED), (command, out)
            assert "28303" not in out
    async with demo_db.session() as s:
        entries = (await s.exec(select(AuditLog).where(AuditLog.detail == "not an admin"))).all()
        assert not (await s.exec(select(Outbox))).all()
        assert len((await s.exec(select(Invite))).all()) == 1  # the officer's own invite
    assert len(entries) == 2 * len(COMMANDS)
    assert all(e.outcome == "refused" for e in entries)
    help_text = await officer.send("/trogiup")
    assert "/baocao" in help_text and "/tonghop" not in help_text and "/moi" not in help_text


async def test_admin_help_lists_the_desk(make_chat: Callable[..., Chat], demo_db: Database) -> None:
    admin = make_chat(user="a")
    await admin.register(demo_db, "42-SNV", role="admin")
    out = await admin.send("/trogiup")
    for name in ("moi", "canbo", "tinhhinh", "tonghop", "thongbao", "khoa", "mokhoa"):
        assert f"/{name} — " in out, name
    async with demo_db.session() as s:
        acc = (await s.exec(select(ChannelAccount).where(ChannelAccount.user_id == "a"))).one()
    assert acc.officer_id is not None
