"""Invites: single use, expiry, unknown codes; registration by chat; the CLI."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from sqlmodel import select

from db.engine import Database
from db.models import AuditLog, ChannelAccount, Invite, Officer
from handlers.registration import ALPHABET, hash_code, new_invite
from tests.chat import Chat, Clock, choices


async def test_start_without_code_explains_and_offers_menu(
    make_chat: Callable[..., Chat],
) -> None:
    chat = make_chat()
    out = await chat.send("/start")
    assert "mã mời do cơ quan thường trực" in out
    assert "Tôi là cán bộ, có mã mời" in out
    out = await chat.send("2")  # the menu item, by number (1 is reporting violence)
    assert "gõ mã mời" in out


async def test_menu_then_code_then_register(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    chat = make_chat()
    await chat.send("xin chào")
    assert any(c.key == "menu:officer" for c in choices(chat.last))
    await chat.tap("menu:officer")
    code = await new_invite(demo_db, "28318", now=clock())
    out = await chat.send(code.lower().replace("-", " "))  # typed sloppily
    assert "Xã Đồng Tiến" in out
    await chat.send("Trần Văn Bình")
    out = await chat.send("Phó Chủ tịch UBND xã")
    assert "Đăng ký xong" in out
    async with demo_db.session() as s:
        officer = (await s.exec(select(Officer))).one()
        acc = (await s.exec(select(ChannelAccount))).one()
    assert officer.full_name == "Trần Văn Bình" and officer.position == "Phó Chủ tịch UBND xã"
    assert acc.officer_id == officer.id


async def test_code_is_single_use(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    code = await new_invite(demo_db, "28303", now=clock())
    first, second = make_chat("a"), make_chat("b")
    await first.send(f"/start {code}")
    await first.send("Nguyễn Thị Lan")
    await first.send("Công chức")
    out = await second.send(f"/start {code}")
    assert "đã được dùng" in out
    async with demo_db.session() as s:
        inv = (await s.exec(select(Invite))).one()
    assert inv.used_at is not None and inv.used_by is not None


async def test_code_used_while_another_was_registering(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    code = await new_invite(demo_db, "28303", now=clock())
    a, b = make_chat("a"), make_chat("b")
    await a.send(f"/start {code}")
    await b.send(f"/start {code}")
    await a.send("Người A")
    await b.send("Người B")
    assert "Đăng ký xong" in await a.send("Cán bộ")
    assert "đã được dùng" in await b.send("Cán bộ")
    async with demo_db.session() as s:
        assert len((await s.exec(select(Officer))).all()) == 1


async def test_expired_and_unknown_codes(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    code = await new_invite(demo_db, "28303", now=clock(), days=14)
    clock.advance(days=15)
    chat = make_chat()
    out = await chat.send(f"/start {code}")
    assert "đã hết hạn ngày 09/12/2026" in out
    out = await chat.send("/start ZZZZZ-ZZZZZ")
    assert "Mã mời không đúng" in out
    async with demo_db.session() as s:
        refused = (await s.exec(select(AuditLog).where(AuditLog.outcome == "refused"))).all()
    assert refused and all(a.action == "invite.redeem" for a in refused)


async def test_bad_name_is_asked_again(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    code = await new_invite(demo_db, "28303", now=clock())
    chat = make_chat()
    await chat.send(f"/start {code}")
    out = await chat.send("x" * 500)
    assert "quá dài" in out and "Họ và tên" in out
    out = await chat.send("")
    assert "trống" in out
    out = await chat.send("Lê Thị Hồng")
    assert "Chức vụ" in out


async def test_admin_invite_gives_admin_role(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    chat = make_chat()
    out = await chat.register(demo_db, unit_code="42", role="admin")
    assert "quản trị" in out
    async with demo_db.session() as s:
        assert (await s.exec(select(Officer))).one().role == "admin"


def test_codes_are_random_and_do_not_reveal_the_unit() -> None:
    from handlers.registration import new_code

    codes = {new_code() for _ in range(2000)}
    assert len(codes) == 2000
    for c in list(codes)[:50]:
        assert re.fullmatch(rf"[{ALPHABET}]{{5}}-[{ALPHABET}]{{5}}", c)
    assert hash_code("abcde fghjk") == hash_code("ABCDE-FGHJK")


def test_cli_invite_prints_code_last(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "TELEGRAM_BOT_USERNAME": "bdg_demo_bot",
    }
    env.pop("TELEGRAM_BOT_TOKEN", None)
    run = [sys.executable, "-m", "bot"]
    subprocess.run([*run, "seed-demo"], env=env, check=True, capture_output=True)
    res = subprocess.run(
        [*run, "invite", "28303", "--role", "admin"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    lines = res.stdout.strip().splitlines()
    assert re.fullmatch(rf"[{ALPHABET}]{{5}}-[{ALPHABET}]{{5}}", lines[-1])
    assert "28303" not in lines[-1]
    assert f"https://t.me/bdg_demo_bot?start={lines[-1].replace('-', '')}" in res.stdout
    bad = subprocess.run(
        [*run, "invite", "NOPE"], env={**env, "BDG_LOCALE": "en"}, capture_output=True, text=True
    )
    assert bad.returncode == 1 and bad.stderr.strip() == (
        "Error: unknown unit code NOPE (see bdg units list)"
    )
