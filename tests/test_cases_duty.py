"""Duty rosters and explicit scopes (issue 11): an admin sets a commune's roster in the chat
(/truc) or with ``bdg cases duty``; refusals outside the scope are audited; ``bdg invite
--scope`` and ``/moi … @CODE`` give the new officer the subtree they answer for."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable

import pytest
from click.testing import CliRunner
from sqlalchemy.engine import make_url
from sqlmodel import col, select

from db import queries
from db.cases import duty_roster
from db.engine import Database
from db.models import AuditLog, Officer
from db.units import import_units
from services.scope import scope_of
from tests.cases_helpers import case_keys  # noqa: F401  (autouse fixture)
from tests.chat import Chat


async def _roster(db: Database, code: str) -> list[tuple[str, str, int | None, str | None]]:
    async with db.session() as s:
        unit = await queries.unit_by_code(s, code)
        assert unit is not None
        return [
            (e.role, e.shift, e.officer_id, e.phone) for e in await duty_roster(s, unit.id or 0)
        ]


async def test_an_agency_admin_sets_a_roster_in_the_chat(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    admin = make_chat("snv")
    await admin.register(demo_db, "42-SNV", role="admin", name="Sở Nội vụ")
    police = make_chat("police")
    await police.register(demo_db, "28303", name="Trưởng Công an")
    async with demo_db.session() as s:
        pid = (await s.exec(select(Officer.id).where(Officer.full_name == "Trưởng Công an"))).one()
    assert "chưa có danh sách trực" in await admin.send("/truc 28303")
    out = await admin.send(f"/truc 28303 them congan dem #{pid}")
    assert "Đã thêm" in out and "Công an xã · ngoài giờ · #" in out
    out = await admin.send("/truc 28303 them truongthon 0912 000 111")
    assert "trưởng thôn · cả ngày đêm · 📞 0912 000 111" in out
    assert await _roster(demo_db, "28303") == [
        ("police", "night", pid, None),
        ("village_head", "any", None, "0912 000 111"),
    ]
    out = await admin.send("/truc 28303 them giamdoc 0912")
    assert "Chưa hiểu" in out and "Cách dùng" in out
    out = await admin.send("/truc 28303 xoa 1")
    assert "Đã bỏ dòng 1" in out
    assert [r[0] for r in await _roster(demo_db, "28303")] == ["village_head"]


async def test_roster_refusals_are_audited(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    async with demo_db.session() as s:
        await import_units(
            s,
            [
                {"code": "44", "name": "Tỉnh Quảng Bình", "parent_code": "", "kind": "province"},
                {"code": "44001", "name": "Xã Quảng Hòa", "parent_code": "44", "kind": "commune"},
            ],
        )
    admin = make_chat("snv")
    await admin.register(demo_db, "42-SNV", role="admin")
    officer = make_chat("lan")
    await officer.register(demo_db, "28303")
    assert "không thuộc phạm vi" in await admin.send("/truc 44001 them congan 113")
    assert "chỉ dành cho cán bộ quản trị" in await officer.send("/truc 28303")
    async with demo_db.session() as s:
        rows = (
            await s.exec(
                select(AuditLog)
                .where(AuditLog.action == "desk.duty", AuditLog.outcome == "refused")
                .order_by(col(AuditLog.id))
            )
        ).all()
    assert len(rows) == 2 and rows[0].target == "unit:44001"
    assert await _roster(demo_db, "44001") == []


async def test_invite_scope_from_the_chat(
    make_chat: Callable[..., Chat], demo_db: Database
) -> None:
    admin = make_chat("p")
    await admin.register(demo_db, "42", role="admin")
    out = await admin.send("/moi 42-SYT @28303")
    code = re.search(r"[A-Z0-9]{5}-[A-Z0-9]{5}", out)
    assert code is not None, out
    new = make_chat("syt")
    await new.send(f"/start {code.group(0)}")
    await new.send("Bác sĩ Hà")
    await new.send("Cán bộ y tế xã")
    async with demo_db.session() as s:
        officer = (await s.exec(select(Officer).where(Officer.full_name == "Bác sĩ Hà"))).one()
        scope = await scope_of(s, officer)
    assert scope.home.code == "42-SYT" and scope.root.code == "28303"


async def test_bdg_invite_scope_and_cases_duty_cli(
    make_chat: Callable[..., Chat],
    demo_db: Database,
    db_config: dict[str, str | None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if db_config["backend"] != "sqlite":
        pytest.skip("the CLI is exercised once, on SQLite")
    from bot.cli import main
    from kernel.settings import get_settings

    path = make_url(demo_db.url).database
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    get_settings.cache_clear()
    try:
        runner = CliRunner()

        def invoke(args: list[str]):  # type: ignore[no-untyped-def]
            return asyncio.to_thread(runner.invoke, main, args)  # type: ignore[arg-type]

        result = await invoke(["invite", "42-SNV", "--role", "admin", "--scope", "42"])
        assert result.exit_code == 0, result.output
        code = result.output.strip().splitlines()[-1]
        result = await invoke(["invite", "42-SNV", "--scope", "NOPE"])
        assert result.exit_code == 1 and "không có đơn vị mã NOPE" in result.output
        result = await invoke(["cases", "duty", "28303", "--add", "congan dem 0239 111"])
        assert result.exit_code == 0, result.output
        assert "1. police [night] 0239 111" in result.output
        result = await invoke(["cases", "duty", "28303", "--add", "boss 1"])
        assert result.exit_code != 0 and "không có vai trò «boss»" in result.output
        result = await invoke(["cases", "duty", "28303", "--remove", "1"])
        assert "Danh sách trực: (trống)" in result.output
    finally:
        get_settings.cache_clear()
    chat = make_chat("snv")
    await chat.send(f"/start {code}")
    await chat.send("Võ Thị Thường Trực")
    await chat.send("Chuyên viên")
    async with demo_db.session() as s:
        officer = (await s.exec(select(Officer).where(Officer.role == "admin"))).one()
        assert officer.scope_unit_id is not None
        assert (await scope_of(s, officer)).root.code == "42"
