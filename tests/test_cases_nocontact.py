"""The no-contact order through time (Law 13/2022 art. 25), with a fake clock: the request,
"4 hours left" at 8 hours, the 12-hour escalation to the standing agency, the chair's
decision with its 3-day end and the notices to the police chief and the village head (code
and dates only), and the reminder when the order ends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlmodel import select

from db import queries
from db.engine import Database
from db.models import Officer
from services.cases.duty import DutySpec, add_entry
from services.cases.routing import escalate_due
from tests.cases_helpers import (
    DESCRIPTION,
    case_by_code,
    case_keys,  # noqa: F401  (autouse fixture)
    outbox_rows,
    report_case,
)
from tests.chat import Chat, Clock


async def _officer_id(db: Database, name: str) -> int:
    async with db.session() as s:
        return (await s.exec(select(Officer.id).where(Officer.full_name == name))).one() or 0


async def _tick(db: Database, clock: Clock) -> int:
    async with db.session() as s:
        return await escalate_due(s, clock.now)


async def _nc_rows(db: Database, accounts: dict[int, str]) -> list[tuple[str, str]]:
    """(event, recipient) of the no-contact alerts, in order."""
    return [
        (r.key.split(":")[2], accounts.get(r.account_id or 0, "?"))
        for r in await outbox_rows(db)
        if r.key.split(":")[2].startswith("nc")
    ]


async def test_no_contact_clock_through_time(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    lan = make_chat("lan")
    await lan.register(demo_db, "28303", name="Lan")
    police = make_chat("police")
    await police.register(demo_db, "28303", name="Trưởng Công an xã", position="Trưởng CA")
    agency = make_chat("agency")
    await agency.register(demo_db, "42-SNV", role="admin", name="Sở Nội vụ")
    police_id = await _officer_id(demo_db, "Trưởng Công an xã")
    async with demo_db.session() as s:
        unit = await queries.unit_by_code(s, "28303")
        assert unit is not None
        await add_entry(s, unit, DutySpec(role="police", officer_id=police_id))
        await add_entry(s, unit, DutySpec(role="village_head", phone="0912 000 111"))
    accounts = {}
    async with demo_db.session() as s:
        for user in ("lan", "police", "agency"):
            acc = await queries.account(s, "terminal", user)
            assert acc is not None and acc.id is not None
            accounts[acc.id] = user

    code = await report_case(make_chat("citizen"))
    await lan.send(f"/vuviec {code}")
    out = await lan.send("8")  # record a no-contact request, now
    assert "Đã ghi đề nghị cấm tiếp xúc lúc 09:00 25/11/2026" in out
    assert "trước 21:00 25/11/2026" in out
    case = await case_by_code(demo_db, code)
    assert case.nc_requested_at == clock.now

    clock.advance(hours=7, minutes=59)
    await _tick(demo_db, clock)
    assert await _nc_rows(demo_db, accounts) == []
    clock.advance(minutes=1)  # 8 hours: 4 hours left, to level 0
    await _tick(demo_db, clock)
    rows = await _nc_rows(demo_db, accounts)
    assert sorted(who for ev, who in rows) == ["lan", "police"]
    assert all(ev.endswith("warn") for ev, _ in rows)
    await _tick(demo_db, clock)  # idempotent
    assert len(await _nc_rows(demo_db, accounts)) == 2

    clock.advance(hours=4)  # 12 hours without a decision: up to the standing agency
    await _tick(demo_db, clock)
    rows = await _nc_rows(demo_db, accounts)
    over = sorted(who for ev, who in rows if ev.endswith("over"))
    assert over == ["agency", "lan", "police"]
    out = await lan.send(f"/vuviec {code}")
    assert "Cấm tiếp xúc: QUÁ HẠN quyết định" in out

    clock.advance(hours=1)  # the chair decides (13 hours after the request)
    out = await lan.send("9")
    assert "có hiệu lực đến 22:00 28/11/2026" in out
    assert "Công an xã" in out  # the police chief was notified through the bot
    assert "trưởng thôn 0912 000 111" in out  # the village head only by phone
    case = await case_by_code(demo_db, code)
    assert case.nc_decision == "granted" and case.nc_until is not None
    assert case.nc_until - case.nc_decided_at == timedelta(days=3)
    notices = [r for r in await outbox_rows(demo_db) if r.text.startswith("⛔")]
    assert [accounts[r.account_id or 0] for r in notices] == ["police"]
    assert code in notices[0].text and "22:00 28/11/2026" in notices[0].text
    assert DESCRIPTION not in notices[0].text and "ZEBRA" not in notices[0].text

    clock.advance(days=2, hours=23)
    await _tick(demo_db, clock)
    assert not [ev for ev, _ in await _nc_rows(demo_db, accounts) if ev.endswith("end")]
    clock.advance(hours=1)  # the order ends: reminded
    await _tick(demo_db, clock)
    ended = sorted(who for ev, who in await _nc_rows(demo_db, accounts) if ev.endswith("end"))
    assert ended == ["lan", "police"]
    out = await lan.send(f"/vuviec {code}")
    assert "Cấm tiếp xúc: đã hết hiệu lực lúc 22:00 28/11/2026" in out
    await _tick(demo_db, clock)
    assert len([1 for ev, _ in await _nc_rows(demo_db, accounts) if ev.endswith("end")]) == 2
