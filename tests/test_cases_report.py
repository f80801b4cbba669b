"""Case counts pre-fill the violence section of the unit's report: the officer confirms a
suggested number with one word, or types another."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date

from db import queries
from db.engine import Database
from handlers.cases.stats import case_counts
from tests.answers import ANSWERS, current_question
from tests.cases_helpers import (
    CITIZEN_CALM,
    CITIZEN_URGENT,
    case_keys,  # noqa: F401  (autouse fixture)
    report_case,
)
from tests.chat import Chat, Clock
from tests.conftest import local
from tests.test_report_flow import stored


async def _cases(make_chat: Callable[..., Chat], clock: Clock) -> None:
    """Two cases in Xã Thạch Lạc this year, one there last year, one elsewhere, a draft."""
    clock.set(local("2025-12-31T23:30"))
    await report_case(make_chat("last_year"), CITIZEN_CALM)
    clock.set(local("2026-11-25T09:00"))
    await report_case(make_chat("c1"), CITIZEN_URGENT)  # girl under 16, physical + sexual
    await report_case(make_chat("c2"), CITIZEN_CALM)  # man 18-59, psychological
    other = [line if line != "thach lac" else "dong tien" for line in CITIZEN_CALM]
    other.insert(3, "2")  # "dong tien" matches a village and a commune: pick Xã Đồng Tiến
    await report_case(make_chat("c3"), other)
    for line in CITIZEN_URGENT[:8]:
        await make_chat("c4").send(line)  # a draft: not counted


async def test_case_counts(make_chat: Callable[..., Chat], demo_db: Database, clock: Clock) -> None:
    await _cases(make_chat, clock)
    async with demo_db.session() as s:
        unit = await queries.unit_by_code(s, "28303")
        assert unit is not None and unit.id is not None
        year = await case_counts(s, unit.id, date(2026, 1, 1), date(2026, 12, 31))
        last = await case_counts(s, unit.id, date(2025, 1, 1), date(2025, 12, 31))
        none = await case_counts(s, unit.id, date(2026, 1, 1), date(2026, 6, 30))
    assert year == {
        "vio_cases": 2,
        "vio_physical": 1,
        "vio_psychological": 1,
        "vio_economic": 0,
        "vio_sexual": 1,
        "vio_trafficking": 0,
        "vio_child_marriage": 0,
        "vio_forced_marriage": 0,
        "vio_harassment": 0,
        "victims": {"m": 1, "f": 1},
        "victims_u16": 1,
        "victims_60": 0,
    }
    # 23:30 on 31/12/2025 local is 16:30 UTC: counted in 2025 by the local date.
    assert last["vio_cases"] == 1 and last["victims"] == {"m": 1, "f": 0}
    assert none["vio_cases"] == 0


async def _to_question(chat: Chat, db: Database, target: str) -> None:
    for _ in range(100):
        qid = await current_question(db, chat.channel, chat.user)
        assert qid is not None
        if qid == target:
            return
        await chat.send(ANSWERS[qid][0])
    raise AssertionError(target)


async def test_report_offers_the_counts_and_the_officer_confirms_or_corrects(
    make_chat: Callable[..., Chat], demo_db: Database, clock: Clock
) -> None:
    await _cases(make_chat, clock)
    officer = make_chat("lan")
    await officer.register(demo_db, "28303")
    await officer.send("/baocao")
    await _to_question(officer, demo_db, "trusted_addresses")
    out = await officer.send("3")
    assert "Theo các vụ việc" not in out  # not a violence question
    await _to_question(officer, demo_db, "vio_cases")
    out = officer.log[-1][1]
    assert "Theo các vụ việc đã tiếp nhận qua bot trong kỳ: 2" in out
    assert "Dùng số này — gõ «dùng»" in out
    out = await officer.send("dùng")
    assert "✓ Đã lưu: 2" in out
    assert "Theo các vụ việc đã tiếp nhận qua bot trong kỳ: 1" in out  # vio_physical
    out = await officer.send("3")  # the officer knows of more
    assert "✓ Đã lưu: 3" in out
    await _to_question(officer, demo_db, "victims")
    assert (
        "Theo các vụ việc đã tiếp nhận qua bot trong kỳ: nam 1, nữ 1 — tổng 2" in officer.log[-1][1]
    )
    await officer.send("dùng")
    _, values = await stored(demo_db, "2026")
    assert values["vio_cases"] == 2 and values["vio_physical"] == 3
    assert values["victims"] == {"m": 1, "f": 1}
    # Changing an answered question from the summary shows no suggestion.
    for _ in range(100):
        qid = await current_question(demo_db, officer.channel, officer.user)
        if qid is None:
            break
        await officer.send(ANSWERS[qid][0])
    summary = officer.log[-1][1]
    # The review lists indicators by their short labels (the question asks the long one).
    line = re.search(r"(\d+)\. Số vụ bạo lực được phát hiện: 2", summary)
    assert line, summary
    out = await officer.send(line.group(1))
    assert "Tổng số vụ bạo lực được phát hiện" in out and "Theo các vụ việc" not in out


async def test_no_cases_no_suggestion(make_chat: Callable[..., Chat], demo_db: Database) -> None:
    officer = make_chat("lan")
    await officer.register(demo_db, "28303")
    await officer.send("/baocao")
    await _to_question(officer, demo_db, "vio_cases")
    assert "Theo các vụ việc" not in officer.log[-1][1]
    out = await officer.send("dùng")  # the word means nothing here
    assert "⚠️" in out
