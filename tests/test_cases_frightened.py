"""Frightened people (issue 11): transcripts of people in danger who stop half-way, type only
words, type without accents, are children, are being trafficked, write at night, live where
nobody uses the bot, or where only the standing agency does — and what each duty person
received. Run on SQLite and PostgreSQL like every database test.

The world: Xã Thạch Lạc (28303) has a duty roster — the commune chair (bot user, office
hours), the commune police (bot user, day and night), a night contact (bot user, nights) and
the village head (phone only) — and an officer in charge (Lan). The standing agency 42-SNV
(a sibling of the communes) has an admin, who answers for the whole province.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlmodel import select

from db import queries
from db.cases import NEW
from db.engine import Database
from db.models import Officer
from services.cases.duty import DutySpec, add_entry
from services.cases.routing import escalate_due
from tests.cases_helpers import (
    CODE,
    all_cases,
    case_by_code,
    case_keys,  # noqa: F401  (autouse fixture)
    outbox_rows,
)
from tests.chat import Chat, Clock
from tests.conftest import local

TOLD = "Đã báo ngay cho"
NOBODY = "Hiện chưa liên lạc được với ai"


@dataclass
class World:
    db: Database
    clock: Clock
    make_chat: Callable[..., Chat]
    names: dict[int, str]  # account id → user

    async def received(self, since: int = 0) -> dict[str, list[str]]:
        """user → the events of the case alerts they received (new, esc1, ack, …)."""
        out: dict[str, list[str]] = {}
        for row in (await outbox_rows(self.db))[since:]:
            if row.kind == "case":
                out.setdefault(self.names.get(row.account_id or 0, "?"), []).append(
                    row.key.split(":")[2]
                )
        return out

    async def tick(self) -> int:
        async with self.db.session() as s:
            return await escalate_due(s, self.clock.now)


async def _people(
    db: Database, make_chat: Callable[..., Chat], people: list[tuple[str, str, str]]
) -> dict[int, str]:
    names: dict[int, str] = {}
    for user, unit, role in people:
        out = await make_chat(user).register(db, unit, role=role, name=f"CB {user}")
        assert "Đăng ký xong" in out, out
    async with db.session() as s:
        for user, _, _ in people:
            acc = await queries.account(s, "terminal", user)
            assert acc is not None and acc.id is not None
            names[acc.id] = user
    return names


@pytest.fixture
async def world(demo_db: Database, clock: Clock, make_chat: Callable[..., Chat]) -> World:
    names = await _people(
        demo_db,
        make_chat,
        [
            ("chair", "28303", "officer"),
            ("police", "28303", "officer"),
            ("night", "28303", "officer"),
            ("lan", "28303", "officer"),
            ("agency", "42-SNV", "admin"),
        ],
    )
    async with demo_db.session() as s:
        unit = await queries.unit_by_code(s, "28303")
        assert unit is not None
        ids = {o.full_name: o.id for o in (await s.exec(select(Officer))).all()}
        await add_entry(s, unit, DutySpec("chair", "day", ids["CB chair"]))
        await add_entry(s, unit, DutySpec("police", "any", ids["CB police"]))
        await add_entry(s, unit, DutySpec("other", "night", ids["CB night"]))
        await add_entry(s, unit, DutySpec("village_head", "any", phone="0912 000 111"))
    return World(demo_db, clock, make_chat, names)


async def _say(chat: Chat, lines: list[str]) -> str:
    out = ""
    for line in lines:
        out = await chat.send(line)
    return out


DAY_TEAM = ["agency", "chair", "lan", "night", "police"]


async def test_stops_right_after_the_place(world: World) -> None:
    """Danger now, the commune, then silence (phone taken): everyone on duty already knows."""
    chat = world.make_chat("victim")
    out = await _say(chat, ["/baovuviec", "1", "thach lac"])
    assert TOLD in out and "Chủ tịch UBND xã" in out and "Công an xã" in out
    code = CODE.search(out)
    assert code is not None
    got = await world.received()
    # Office hours: the chair (day), the police (always), the officer in charge, the agency;
    # the night contact is not on duty now. The village head has only a phone.
    assert sorted(got) == ["agency", "chair", "lan", "police"]
    assert all(events == ["new"] for events in got.values())
    case = await case_by_code(world.db, code.group(0))
    assert case.status == NEW and case.urgent and case.submitted_at is None
    # Hours later nobody took it: it went up, and the draft was never deleted.
    world.clock.advance(minutes=31)
    await world.tick()
    assert (await world.received())["agency"] == ["new", "esc1"]
    world.clock.advance(days=5)
    await world.tick()
    assert [c.code for c in await all_cases(world.db)] == [code.group(0)]


async def test_only_free_text(world: World) -> None:
    chat = world.make_chat("victim")
    out = await _say(
        chat,
        [
            "/baovuviec",
            "có, chồng chị ấy đang đánh chị ấy",
            "thach lac",
            "chị tôi",
            "nữ",
            "30 tuổi",
            "bị đánh",
            "chồng",
            "đang xảy ra",
            "công an",
            "-",
            "ẩn danh",
            "đồng ý",
            "gửi",
        ],
    )
    code = CODE.search(out)
    assert code is not None, out
    case = await case_by_code(world.db, code.group(0))
    assert case.danger_now and case.affected == "other" and case.victim_sex == "f"
    assert case.forms == ["physical"] and case.relation == "partner"
    assert case.help_needed == ["police"] and case.anonymous and case.consent == "yes"
    got = await world.received()
    assert sorted(got) == ["agency", "chair", "lan", "police"]  # once each, not again at "gửi"
    assert all(events == ["new"] for events in got.values())


async def test_no_accents(world: World) -> None:
    chat = world.make_chat("victim")
    out = await _say(
        chat,
        ["baovuviec", "co", "thach lac", "nguoi khac", "nu", "14 tuoi", "danh", "chong"],
    )
    assert "⚠️" not in out
    out = await _say(chat, ["hom nay", "y te", "-", "an danh", "dong y", "gui"])
    code = CODE.search(out)
    assert code is not None, out
    case = await case_by_code(world.db, code.group(0))
    assert case.age_group == "u16" and case.child and case.relation == "partner"
    assert sorted(await world.received()) == ["agency", "chair", "lan", "police"]


async def test_a_child_is_urgent_as_soon_as_the_age_is_known(world: World) -> None:
    chat = world.make_chat("child")
    out = await _say(chat, ["/baovuviec", "không", "thach lac", "tôi", "nữ"])
    assert await world.received() == {}  # not urgent yet: nobody alerted
    out = await chat.send("12 tuổi")
    assert TOLD in out
    code = CODE.search(out)
    assert code is not None
    assert sorted(await world.received()) == ["agency", "chair", "lan", "police"]
    # The 12-hour intervention clock runs from that moment.
    world.clock.advance(hours=8)
    await world.tick()
    assert "child8h" in (await world.received())["lan"]


async def test_trafficking_is_urgent(world: World) -> None:
    chat = world.make_chat("sister")
    await _say(chat, ["/baovuviec", "không", "thach lac", "người khác", "nữ", "20 tuổi"])
    assert await world.received() == {}
    out = await chat.send("bị bán sang Trung Quốc")
    assert TOLD in out
    got = await world.received()
    assert sorted(got) == ["agency", "chair", "lan", "police"]
    case = (await all_cases(world.db))[0]
    assert case.forms == ["trafficking"] and case.urgent


async def test_night_time(world: World) -> None:
    world.clock.set(local("2026-11-25T23:10"))
    chat = world.make_chat("victim")
    out = await _say(chat, ["/baovuviec", "co", "thach lac"])
    got = await world.received()
    # Nights: the police and the night contact, not the chair's office-hours line.
    assert sorted(got) == ["agency", "lan", "night", "police"]
    out = await _say(
        chat,
        ["người khác", "nữ", "30", "1", "1", "1", "1", "-", "1", "1", "gửi"],
    )
    assert "ngoài giờ làm việc" in out and "không phải đường dây khẩn cấp" in out
    assert "07:30 26/11/2026" in out  # when an officer will likely read it
    assert out.count(TOLD) == 1


async def test_nobody_anywhere(demo_db: Database, make_chat: Callable[..., Chat]) -> None:
    chat = make_chat("victim")
    out = await _say(chat, ["/baovuviec", "1", "thach lac"])
    assert TOLD not in out  # nobody to tell: no false claim
    out = await _say(chat, ["2", "1", "30", "1", "1", "1", "1", "-", "1", "1", "gửi"])
    assert out.count(NOBODY) == 1 and TOLD not in out
    assert "113" in out and "1900 969 680" in out and "có tính cước" in out
    assert [r for r in await outbox_rows(demo_db) if r.kind == "case"] == []


async def test_only_the_agency_uses_the_bot(
    demo_db: Database, make_chat: Callable[..., Chat]
) -> None:
    names = await _people(demo_db, make_chat, [("agency", "42-SNV", "admin")])
    chat = make_chat("victim")
    out = await _say(chat, ["/baovuviec", "1", "thach lac"])
    assert "✅ Đã báo ngay cho: cơ quan thường trực." in out
    rows = [r for r in await outbox_rows(demo_db) if r.kind == "case"]
    assert [names[r.account_id or 0] for r in rows] == ["agency"]
    code = CODE.search(out)
    assert code is not None
    out = await make_chat("agency").send("/vuviec")
    assert code.group(0) in out


async def test_reporter_asks_the_status(world: World) -> None:
    chat = world.make_chat("victim")
    out = await _say(chat, ["/baovuviec", "1", "thach lac"])
    code = CODE.search(out)
    assert code is not None
    await chat.send("/huy")
    out = await chat.send(f"/vuviec {code.group(0)}")
    assert "Chưa có ai xác nhận đã nhận tin" in out
    police = world.make_chat("police")
    await police.send(f"/vuviec {code.group(0)}")
    await police.send("1")  # acknowledged
    await police.send("-")
    out = await chat.send(f"/vuviec {code.group(0)}")
    assert "Đã có người nhận tin lúc" in out


async def test_quiet_draft_becomes_an_incomplete_notification(world: World) -> None:
    chat = world.make_chat("neighbour")
    await _say(chat, ["/baovuviec", "không", "thach lac", "người khác"])
    assert await world.received() == {}
    world.clock.advance(minutes=119)
    await world.tick()
    assert await world.received() == {}
    world.clock.advance(minutes=2)
    await world.tick()
    got = await world.received()
    assert sorted(got) == ["agency", "chair", "lan", "police"]
    rows = [r for r in await outbox_rows(world.db) if r.kind == "case"]
    assert all("chưa hoàn tất" in r.text for r in rows)
    case = (await all_cases(world.db))[0]
    assert case.incomplete and case.status == NEW and not case.urgent


async def test_erase_after_the_alert_keeps_the_case_for_the_responders(world: World) -> None:
    chat = world.make_chat("victim")
    out = await _say(chat, ["/baovuviec", "1", "thach lac", "2", "1", "30", "1", "1", "1"])
    out = await _say(chat, ["1", "Chồng đánh tôi PANGOLIN-1"])
    code = CODE.search(" ".join([out]))
    out = await chat.send("/xoa")
    assert "Đã dừng" in out
    case = (await all_cases(world.db))[0]
    assert case.status == NEW and case.reporter_tag is None and case.description_enc is None
    out = await world.make_chat("lan").send(f"/vuviec {case.code}")
    assert "Thạch Lạc" in out and "PANGOLIN" not in out
    assert code is None or code.group(0) == case.code


async def test_unknown_place_reaches_the_agency(world: World) -> None:
    chat = world.make_chat("victim")
    await _say(chat, ["/baovuviec", "1", "hà nội xa lắm"])
    out = await chat.send("1")  # "Không rõ xã/phường nào"
    assert "✅ Đã báo ngay cho: cơ quan thường trực." in out
    assert sorted(await world.received()) == ["agency"]
