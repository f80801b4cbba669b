"""Local calendars from the chat and the command line (issue 15): an admin sets the province's
yearly deadlines once in /lich, officers see which rule applied, the agency's admin is
reminded of its own compilation until it is marked, and ``bdg calendar rule`` does the same."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlmodel import select

from bot.cli import main
from db import queries
from db.engine import Database
from db.models import Outbox
from services import local_calendar
from services.periods import calendar, period_by_id
from tests.chat import Chat, Clock
from tests.reminders_support import World
from tests.test_admin_desk import admin_chat


def _option(out: str, label: str) -> str:
    m = re.search(rf"(\d+)\. {re.escape(label)}", out)
    assert m, out
    return m.group(1)


async def test_yearly_rules_from_lich_and_the_compilation_reminder(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    lan = make_chat(user="lan")
    await lan.register(demo_db, "28303")
    admin = await admin_chat(make_chat, demo_db)
    out = await admin.send("/lich")
    assert "Hạn rơi vào thứ Bảy, Chủ nhật hoặc ngày lễ được tính đến ngày làm việc kế tiếp" in out
    out = await admin.send(_option(out, "Hạn nộp hằng năm: báo cáo tổng kết năm"))
    assert "Hằng năm, từ năm 2026, các đơn vị của Tỉnh Hà Tĩnh nộp báo cáo tổng kết năm" in out
    out = await admin.send("31/11")
    assert "dạng ngày/tháng" in out and "Căn cứ" not in out  # refused, asked again
    assert "Căn cứ hoặc lý do" in await admin.send("27/11")
    out = await admin.send("KH 12/KH-UBND")
    assert "✓ Hằng năm từ năm 2026" in out and "27/11/2026" in out

    out = await lan.send("/lich")
    assert "Báo cáo tổng kết năm: hạn 27/11/2026 (còn 2 ngày)" in out
    assert "theo lịch hằng năm của Tỉnh Hà Tĩnh (từ năm 2026): trước ngày 27/11" in out
    # The next year's report follows the same rule (27/11/2027 is a Saturday: Monday 29/11).
    async with demo_db.session() as s:
        commune = await queries.unit_by_code(s, "28303")
        assert commune is not None
        p = await period_by_id(s, admin.dispatcher.services, commune, "2027")
        assert p.due.isoformat() == "2027-11-29" and p.nominal_due.isoformat() == "2027-11-27"
        assert calendar(admin.dispatcher.services).due_rule == "next_working_day"

    out = await admin.send("/lich")
    assert "• Nộp báo cáo tổng kết năm: trước 27/11 hằng năm, từ năm 2026" in out
    out = await admin.send(_option(out, "Hạn tổng hợp hằng năm: báo cáo tổng kết năm"))
    assert "cơ quan thường trực của Tỉnh Hà Tĩnh tổng hợp" in out
    await admin.send("10/12")
    out = await admin.send("-")
    assert "✓ Hằng năm từ năm 2026: Tỉnh Hà Tĩnh tổng hợp báo cáo tổng kết năm" in out
    out = await admin.send("/lich")
    assert "• Tổng hợp Báo cáo tổng kết năm 2026: hạn 10/12/2026, chưa tổng hợp." in out
    out = await admin.send("/tinhhinh")
    assert "Hạn tổng hợp gửi cấp trên: 10/12/2026 (còn 15 ngày) — chưa tổng hợp" in out

    w = World(demo_db, clock)
    await w.tick("2026-12-09T08:00")
    async with demo_db.session() as s:
        rows = (await s.exec(select(Outbox).where(Outbox.batch == "compile:2026:2026-12-09"))).all()
    assert len(rows) == 1 and "Nhắc hạn tổng hợp báo cáo" in rows[0].text
    assert "Hạn tổng hợp gửi cấp trên: <b>10/12/2026</b> (còn 1 ngày)" in rows[0].text
    assert "Còn 18 đơn vị chưa gửi báo cáo." in rows[0].text
    async with demo_db.session() as s:
        province = await queries.unit_by_code(s, "42")
        assert province is not None
        await local_calendar.mark_compiled(s, province, "2026", None, "cli")
    await w.send()  # cancelled just before sending: compiled meanwhile
    async with demo_db.session() as s:
        row = (await s.exec(select(Outbox).where(Outbox.batch == "compile:2026:2026-12-09"))).one()
    assert row.status == "cancelled" and row.last_error == "compiled"
    out = await admin.send("/lich")
    assert "• Tổng hợp Báo cáo tổng kết năm 2026: hạn 10/12/2026, đã tổng hợp ngày" in out
    assert "Hạn tổng hợp gửi cấp trên: 10/12/2026 — đã tổng hợp lúc" in await admin.send(
        "/tinhhinh"
    )


def test_cli_rules(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}")
    r = CliRunner()
    assert r.invoke(main, ["seed-demo"]).exit_code == 0
    res = r.invoke(
        main,
        ["calendar", "rule", "set", "--unit", "42", "--kind", "annual", "--due", "27/11"]
        + ["--since", "2026"],
    )
    assert res.exit_code == 0, res.output
    assert "27/11/2026, 29/11/2027*, 27/11/2028" in res.output
    res = r.invoke(main, ["calendar", "rule", "set", "--unit", "42", "--kind", "x", "--due", "1/1"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    res = r.invoke(main, ["calendar", "rule", "list"])
    assert "annual     submit   27/11 since 2026" in res.output
    res = r.invoke(main, ["calendar", "compiled", "--unit", "42", "--period", "2026"])
    assert res.exit_code == 0 and "đã ghi nhận tổng hợp kỳ 2026" in res.output
    res = r.invoke(main, ["calendar", "rule", "clear", "--unit", "42"])
    assert "Đã bỏ 1 lịch hằng năm." in res.output
