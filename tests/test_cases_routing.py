"""Who hears of a case: the commune's officers and the standing agency get only the code,
the commune, the urgency and the age group; an unacknowledged urgent case climbs the tree;
a child's 12-hour clock is shown and reminded. Time travels with the tests' clock."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest

from db.engine import Database
from db.models import ChannelAccount, Officer
from db.units import import_units
from handlers.dispatch import Dispatcher
from kernel.i18n import t
from kernel.settings import Services
from services.cases.routing import escalate_due
from tests.cases_helpers import (
    CITIZEN_CALM,
    CITIZEN_URGENT,
    MARKERS,
    case_by_code,
    case_keys,  # noqa: F401  (autouse fixture)
    outbox_rows,
    report_case,
)
from tests.chat import Chat, Clock
from tests.conftest import local

UNITS = [
    {"code": "P", "name": "Tỉnh Thử", "parent_code": "", "kind": "province", "reports": "0"},
    {"code": "D", "name": "Huyện Thử", "parent_code": "P", "kind": "district", "reports": "1"},
    {"code": "C1", "name": "Xã An Hòa", "parent_code": "D", "kind": "commune", "reports": "1"},
    {"code": "C2", "name": "Xã Bình Yên", "parent_code": "D", "kind": "commune", "reports": "1"},
    {"code": "V1", "name": "Thôn Đồng Xanh", "parent_code": "C1", "kind": "village"},
]


@dataclass
class World:
    db: Database
    clock: Clock
    dispatcher: Dispatcher
    chats: dict[str, Chat]

    def chat(self, user: str) -> Chat:
        if user not in self.chats:
            self.chats[user] = Chat(self.dispatcher, user=user)
        return self.chats[user]

    async def accounts(self) -> dict[int, str]:
        """Account id → terminal user name."""
        async with self.db.session() as s:
            from sqlmodel import select

            return {a.id or 0: a.user_id for a in (await s.exec(select(ChannelAccount))).all()}

    async def tick(self) -> int:
        async with self.db.session() as s:
            return await escalate_due(s, self.clock.now)


@pytest.fixture
async def world(db: Database, clock: Clock) -> World:
    async with db.session() as s:
        await import_units(s, UNITS)
    w = World(db, clock, Dispatcher(db, Services(), clock=clock), {})
    people = [
        ("c1a", "C1", "officer"),
        ("c1b", "C1", "officer"),
        ("c2", "C2", "officer"),
        ("d_officer", "D", "officer"),
        ("d_admin", "D", "admin"),
        ("p_admin", "P", "admin"),
    ]
    for user, unit, role in people:
        out = await w.chat(user).register(db, unit, role=role, name=f"Cán bộ {user}")
        assert "Đăng ký xong" in out
    return w


SCRIPT_C1 = [line if line != "thach lac" else "an hoa" for line in CITIZEN_URGENT]


async def recipients(w: World, since: int = 0) -> dict[str, list[str]]:
    names = await w.accounts()
    out: dict[str, list[str]] = {}
    for row in (await outbox_rows(w.db))[since:]:
        out.setdefault(names[row.account_id or 0], []).append(row.key)
    return out


async def test_new_case_alert_has_only_code_commune_urgency_and_age(world: World) -> None:
    code = await report_case(world.chat("citizen"), SCRIPT_C1)
    rows = await outbox_rows(world.db)
    names = await world.accounts()
    # The commune's officers and the nearest standing agency; nobody else.
    assert sorted(names[r.account_id or 0] for r in rows) == ["c1a", "c1b", "d_admin"]
    # The alert left as soon as "danger now" and the place were known, before the age was.
    expected = t(
        "vi",
        "case.alert_new",
        code=code,
        unit="Xã An Hòa",
        urgency="KHẨN CẤP",
        age=t("vi", "case.age.unknown"),
    )
    for row in rows:
        assert row.text == expected
        assert row.kind == "case" and row.status == "pending"
        assert row.key == f"case:{code}:new:acc:{row.account_id}"
        assert row.choices == []
    for forbidden in (*MARKERS, "tình dục", "thể chất", "Nữ", "nguy hiểm", "Vợ, chồng"):
        assert all(forbidden not in r.text for r in rows), forbidden


async def test_a_village_name_routes_to_its_commune(world: World) -> None:
    script = [line if line != "thach lac" else "dong xanh" for line in CITIZEN_CALM]
    code = await report_case(world.chat("citizen"), script)
    case = await case_by_code(world.db, code)
    async with world.db.session() as s:
        from db import queries

        unit = await queries.unit_by_code(s, "C1")
    assert unit is not None and case.unit_id == unit.id
    assert sorted(await recipients(world)) == ["c1a", "c1b", "d_admin"]
    expected = t("vi", "case.alert_new", code=code, unit="Xã An Hòa", urgency="thường",
                 age="18–59 tuổi")  # fmt: skip
    assert {r.text for r in await outbox_rows(world.db)} == {expected}


async def test_unacknowledged_urgent_case_escalates_level_by_level(world: World) -> None:
    start = local("2026-11-25T09:00")
    code = await report_case(world.chat("citizen"), SCRIPT_C1)
    sent = len(await outbox_rows(world.db))
    world.clock.set(start + timedelta(minutes=29))
    assert await world.tick() == 0
    world.clock.set(start + timedelta(minutes=30))
    assert await world.tick() == 3  # the district admin, and the commune again
    esc1 = await recipients(world, sent)
    assert sorted(esc1) == ["c1a", "c1b", "d_admin"]
    assert all(k.startswith(f"case:{code}:esc1:acc:") for ks in esc1.values() for k in ks)
    rows = (await outbox_rows(world.db))[sent:]
    assert rows[0].text == t(
        "vi",
        "case.alert_escalated",
        code=code,
        unit="Xã An Hòa",
        urgency="KHẨN CẤP",
        age="Dưới 16 tuổi",
        minutes=30,
    )
    assert await world.tick() == 0  # the same moment twice writes nothing
    sent = len(await outbox_rows(world.db))
    world.clock.set(start + timedelta(minutes=61))
    assert await world.tick() == 3
    assert sorted(await recipients(world, sent)) == ["c1a", "c1b", "p_admin"]
    world.clock.set(start + timedelta(hours=5))
    sent = len(await outbox_rows(world.db))
    assert await world.tick() == 0  # the top of the tree was reached
    case = await case_by_code(world.db, code)
    assert case.escalation_level == 2

    # Acknowledged by the commune: the levels that were alerted hear it; no more escalation.
    officer = world.chat("c1a")
    out = await officer.send(f"/vuviec {code}")
    assert "Tiếp nhận: QUÁ HẠN 4 giờ 30 phút" in out
    await officer.send("1")  # → đã tiếp nhận
    out = await officer.send("-")
    assert "đã chuyển sang «đã tiếp nhận»" in out
    assert sorted(await recipients(world, sent)) == ["d_admin", "p_admin"]
    world.clock.set(start + timedelta(hours=9))
    sent = len(await outbox_rows(world.db))
    assert await world.tick() == 3  # only the child's 12-hour clock (4 hours left) now
    later = await recipients(world, sent)
    assert all(":child8h:" in k for ks in later.values() for k in ks)
    out = await officer.send(f"/vuviec {code}")
    assert "Đã tiếp nhận lúc 14:00 25/11/2026" in out


async def test_escalation_skips_missing_levels_and_catches_up(world: World) -> None:
    """A tick that comes late sends every level that became due; a case in C2 where the
    officer is away still reaches the agency."""
    start = local("2026-11-25T09:00")
    script = [line if line != "thach lac" else "binh yen" for line in CITIZEN_URGENT]
    code = await report_case(world.chat("citizen"), script)
    sent = len(await outbox_rows(world.db))
    world.clock.set(start + timedelta(minutes=95))
    assert await world.tick() == 4  # esc1 (d_admin + c2) and esc2 (p_admin + c2 again)
    keys = sorted(k.split(":")[2] for ks in (await recipients(world, sent)).values() for k in ks)
    assert keys == ["esc1", "esc1", "esc2", "esc2"]
    assert (await case_by_code(world.db, code)).escalation_level == 2


async def test_non_urgent_case_is_not_escalated(world: World) -> None:
    script = [line if line != "thach lac" else "an hoa" for line in CITIZEN_CALM]
    await report_case(world.chat("citizen"), script)
    sent = len(await outbox_rows(world.db))
    world.clock.advance(days=3)
    assert await world.tick() == 0
    assert len(await outbox_rows(world.db)) == sent


async def test_child_twelve_hour_clock(world: World) -> None:
    start = local("2026-11-25T09:00")
    # A child, no danger now, not sexual: urgent because a child.
    script = list(SCRIPT_C1)
    script[1] = "2"
    script[6] = "2"  # psychological
    code = await report_case(world.chat("citizen"), script)
    case = await case_by_code(world.db, code)
    assert case.child and case.urgent and not case.danger_now
    officer = world.chat("c1b")
    out = await officer.send(f"/vuviec {code}")
    assert "Can thiệp khẩn cấp cho trẻ em (12 giờ): còn 12 giờ 0 phút (hạn 21:00 25/11/2026)" in out
    assert "Tiếp nhận (trong 30 phút): còn 30 phút" in out
    await officer.send("1")  # acknowledged: the escalation stops, the child clock does not
    await officer.send("-")

    world.clock.set(start + timedelta(hours=7, minutes=59))
    sent = len(await outbox_rows(world.db))
    assert await world.tick() == 0
    world.clock.set(start + timedelta(hours=8))
    assert await world.tick() == 3
    found = await recipients(world, sent)
    assert sorted(found) == ["c1a", "c1b", "d_admin"]
    assert all(":child8h:" in k for ks in found.values() for k in ks)
    row = (await outbox_rows(world.db))[-1]
    assert "còn 4 giờ" in row.text and code in row.text
    out = await officer.send("/vuviec")
    assert "còn 4 giờ 0 phút" in out and code in out

    world.clock.set(start + timedelta(hours=12, minutes=5))
    sent = len(await outbox_rows(world.db))
    assert await world.tick() == 3
    assert await world.tick() == 0
    out = await officer.send(f"/vuviec {code}")
    assert "(12 giờ): QUÁ HẠN 5 phút" in out
    await officer.send("3")  # → đang hỗ trợ (the list offers every status but new and current)
    await officer.send("Đã đưa cháu đến nhà tạm lánh")
    out = await officer.send(f"/vuviec {code}")
    assert "Đã can thiệp (hỗ trợ) lúc 21:05 25/11/2026" in out
    world.clock.advance(days=1)
    sent = len(await outbox_rows(world.db))
    assert await world.tick() == 0


async def test_officers_and_admins_only_of_the_tree(world: World) -> None:
    """Deactivated officers and unreachable accounts get nothing."""
    async with world.db.session() as s:
        from sqlmodel import select

        lan = (await s.exec(select(Officer).where(Officer.full_name == "Cán bộ c1b"))).one()
        lan.active = False
        acc = (await s.exec(select(ChannelAccount).where(ChannelAccount.user_id == "c1a"))).one()
        acc.unreachable = True
    await report_case(world.chat("citizen"), SCRIPT_C1)
    assert sorted(await recipients(world)) == ["d_admin"]
