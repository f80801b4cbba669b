"""``scheduler.decide``: what the planner sends, decided from plain values, without a database.

Province P (1) with communes C1 (2) and C2 (3), district D (4) with commune C3 (5); officers
11 (C1, Zalo), 12 (C2, Telegram), 13 (C3, Zalo, Action Month alerts muted); admins 14 (P) and
15 (D). The dates are those of docs/reminders.md for 2026 with the built-in calendar."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from db.schedule import DeadlineOverride
from kernel.calendar import Calendar, load_calendar
from scheduler.decide import (
    Alert,
    Deadline,
    Decision,
    Digest,
    Facts,
    Notice,
    Recipient,
    UnitInfo,
    decide,
)

CAL = load_calendar()
UNITS = {
    1: UnitInfo(1, "Tỉnh P", "/1/", False),
    2: UnitInfo(2, "Xã C1", "/1/2/", True),
    3: UnitInfo(3, "Xã C2", "/1/3/", True),
    4: UnitInfo(4, "Huyện D", "/1/4/", False),
    5: UnitInfo(5, "Xã C3", "/1/4/5/", True),
}
COMMUNES = (2, 3, 5)
PERIODS = ("2025S1", "2025", "2026S1", "2026")


def rcp(oid: int, unit: int, role: str = "officer", *, muted: bool = False) -> Recipient:
    channel = "telegram" if oid % 2 == 0 else "zalo"
    return Recipient(oid, unit, f"Cán bộ {oid}", role, muted, 100 + oid, channel, str(oid), "vi")


RECIPIENTS = (
    rcp(11, 2),
    rcp(12, 3),
    rcp(13, 5, muted=True),
    rcp(14, 1, "admin"),
    rcp(15, 4, "admin"),
)


def facts(
    submitted: Iterable[tuple[int, str]] = (),
    *,
    overrides: Iterable[tuple[int, int, str, date]] = (),
    existing: Iterable[str] = (),
    answered: dict[tuple[int, str], int] | None = None,
    recipients: Iterable[Recipient] = RECIPIENTS,
    **kw: Any,
) -> Facts:
    """Facts as the planner loads them: ``pending`` lists the units that have not submitted."""
    done = set(submitted)
    answered = answered or {}
    return Facts(
        units=UNITS,
        overrides=[DeadlineOverride(unit_id=u, year=y, kind=k, due=d) for u, y, k, d in overrides],
        pending={
            (u, p): answered.get((u, p), 0) for u in COMMUNES for p in PERIODS if (u, p) not in done
        },
        recipients=list(recipients),
        existing=frozenset(existing),
        **kw,
    )


def at(iso: str) -> datetime:
    return datetime.fromisoformat(iso)


def keys(d: Decision) -> set[str]:
    return {m.key for m in d.messages}


def remind(period: str, day: str, *officers: int) -> set[str]:
    return {f"remind:{period}:{day}:off:{o}" for o in officers}


def action(month: str, day: str, *officers: int) -> set[str]:
    return {f"action:{month}:{day[:4]}:{day}:off:{o}" for o in officers}


def digest(day: str, *officers: int) -> set[str]:
    return {f"digest:{day}:off:{o}" for o in officers}


D27 = (4, 2026, "annual", date(2026, 11, 27))  # district D reports the annual report on 27/11

CASES: list[tuple[str, str, Facts, set[str]]] = [
    (
        "7 days before the 6-month report",
        "2026-05-29T08:00",
        facts(),
        remind("2026S1", "2026-05-29", 11, 12, 13),
    ),
    (
        "caught up later the same day",
        "2026-05-29T20:59",
        facts(),
        remind("2026S1", "2026-05-29", 11, 12, 13),
    ),
    (
        "a unit that submitted hears nothing",
        "2026-06-02T08:00",
        facts([(2, "2026S1")]),
        remind("2026S1", "2026-06-02", 12, 13),
    ),
    (
        "a submitted report of another period does not count",
        "2026-06-02T08:00",
        facts([(2, "2025S1")]),
        remind("2026S1", "2026-06-02", 11, 12, 13),
    ),
    (
        "heads-up before June's Action Month, muted officer left out",
        "2026-05-27T08:00",
        facts(),
        action("dv_month", "2026-05-27", 11, 12),
    ),
    (
        "late 1 and 3 days meet on Monday 08/06, with the weekly prompt and the digests",
        "2026-06-08T08:00",
        facts(),
        remind("2026S1", "2026-06-08", 11, 12, 13)
        | action("dv_month", "2026-06-08", 11, 12)
        | digest("2026-06-08", 14, 15),
    ),
    (
        "the district's admin hears nothing when its commune submitted",
        "2026-06-08T08:00",
        facts([(5, "2026S1")]),
        remind("2026S1", "2026-06-08", 11, 12)
        | action("dv_month", "2026-06-08", 11, 12)
        | digest("2026-06-08", 14),
    ),
    ("no digest on a Saturday", "2026-06-13T08:00", facts(), set()),
    (
        "override: only the district's commune 7 days before 27/11",
        "2026-11-20T08:00",
        facts(overrides=[D27]),
        remind("2026", "2026-11-20", 13),
    ),
    ("without the override nothing on 20/11", "2026-11-20T08:00", facts(), set()),
    (
        "override: C3 late on 30/11 while C1 and C2 hear 7 days before 07/12",
        "2026-11-30T08:00",
        facts(overrides=[D27]),
        remind("2026", "2026-11-30", 11, 12, 13)
        | action("ge_month", "2026-11-30", 11, 12)
        | digest("2026-11-30", 14, 15),
    ),
    (
        "an override of another year changes nothing",
        "2026-11-20T08:00",
        facts(overrides=[(4, 2025, "annual", date(2025, 11, 27))]),
        set(),
    ),
    (
        "annual report: 3 and 1 days before meet on Friday 04/12",
        "2026-12-04T08:00",
        facts(),
        remind("2026", "2026-12-04", 11, 12, 13),
    ),
    ("nothing on Sunday 06/12", "2026-12-06T08:00", facts(), set()),
    (
        "kick-off of the November month on Monday 16/11",
        "2026-11-16T08:00",
        facts(),
        action("ge_month", "2026-11-16", 11, 12),
    ),
    (
        "keys written by an earlier tick are left out",
        "2026-05-29T08:00",
        facts(existing=remind("2026S1", "2026-05-29", 11)),
        remind("2026S1", "2026-05-29", 12, 13),
    ),
    ("nothing after last year's lock date", "2026-01-04T08:00", facts(), set()),
]


@pytest.mark.parametrize(
    ("local", "given", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_decide(local: str, given: Facts, expected: set[str]) -> None:
    decision = decide(CAL, at(local), given)
    assert keys(decision) == expected
    assert len(decision.messages) == len(expected)  # one message per key


@pytest.mark.parametrize(
    ("local", "given", "idle"),
    [
        ("2026-05-29T07:59", facts(), "outside hours"),
        ("2026-05-29T21:00", facts(), "outside hours"),
        ("2026-05-28T08:00", facts(), "nothing due today"),
        ("2026-06-02T08:00", facts([(u, "2026S1") for u in COMMUNES]), "everyone has submitted"),
    ],
)
def test_idle(local: str, given: Facts, idle: str) -> None:
    decision = decide(CAL, at(local), given)
    assert (decision.messages, decision.idle) == ([], idle)


def test_existing_keys_are_counted() -> None:
    written = remind("2026S1", "2026-05-29", 11, 12)
    decision = decide(CAL, at("2026-05-29T08:00"), facts(existing=written))
    assert decision.existing == 2
    assert (
        keys(decide(CAL, at("2026-05-29T10:00"), facts(existing=written | keys(decision)))) == set()
    )


def test_reminder_content_follows_the_unit_override_and_the_draft() -> None:
    decision = decide(
        CAL,
        at("2026-11-30T08:00"),
        facts(overrides=[D27], answered={(5, "2026"): 4}),
    )
    content = {m.to.officer_id: m.content for m in decision.messages if m.kind == "reminder"}
    assert isinstance(content[13], Deadline) and isinstance(content[11], Deadline)
    assert (content[13].period.due, content[13].answered) == (date(2026, 11, 27), 4)
    assert (content[11].period.due, content[11].answered) == (date(2026, 12, 7), 0)


def test_kickoff_mentions_each_unit_own_annual_deadline() -> None:
    unmuted = [rcp(11, 2), rcp(13, 5)]
    decision = decide(CAL, at("2026-11-16T08:00"), facts(overrides=[D27], recipients=unmuted))
    mentions = {}
    for m in decision.messages:
        assert isinstance(m.content, Alert) and m.content.occurrence == "kickoff"
        assert m.content.mention is not None
        mentions[m.to.officer_id] = m.content.mention.due
    assert mentions == {11: date(2026, 12, 7), 13: date(2026, 11, 27)}


def test_digest_lists_late_units_below_each_admin() -> None:
    decision = decide(CAL, at("2026-06-15T08:00"), facts([(3, "2026S1")]))
    digests = {m.to.officer_id: m.content for m in decision.messages if m.kind == "digest"}
    assert set(digests) == {14, 15}
    p, d = digests[14], digests[15]
    assert isinstance(p, Digest) and isinstance(d, Digest)
    assert sorted((x.unit.name, x.days) for x in p.late) == [("Xã C1", 10), ("Xã C3", 10)]
    assert [(x.unit.name, x.period.period) for x in d.late] == [("Xã C3", "2026S1")]
    assert all(m.to.role == "admin" for m in decision.messages if m.kind == "digest")


def test_unreachable_accounts_reach_the_admins_above_once() -> None:
    notice = Notice(officer_id=13, unit_id=5, channel="zalo", at=at("2026-05-27T09:00"))
    gone = Notice(officer_id=99, unit_id=2, channel="telegram", at=at("2026-05-27T10:00"))
    given = facts(notices=[notice, gone], names={99: "Người đã nghỉ"})
    decision = decide(CAL, at("2026-05-28T08:00"), given)  # nothing else due that Thursday
    lost = {m.to.officer_id: m.content for m in decision.messages}
    assert keys(decision) == digest("2026-05-28", 14, 15)
    p, d = lost[14], lost[15]
    assert isinstance(p, Digest) and isinstance(d, Digest)
    assert sorted((x.name, x.unit_name, x.channel) for x in p.lost) == [
        ("Cán bộ 13", "Xã C3", "Zalo"),
        ("Người đã nghỉ", "Xã C1", "Telegram"),
    ]
    assert [x.name for x in d.lost] == ["Cán bộ 13"]
    # Admin 14 had a digest after both notices: only admin 15 hears of them.
    later = facts(notices=[notice, gone], last_digest={14: at("2026-05-27T11:00")})
    assert keys(decide(CAL, at("2026-05-28T08:00"), later)) == digest("2026-05-28", 15)
    # Not on a Saturday.
    assert decide(CAL, at("2026-05-30T08:00"), given).idle == "nothing due today"


def tet_calendar() -> Calendar:
    raw = {
        "reports": [
            {
                "id": "annual",
                "period": "{year}",
                "form": "bdg_report",
                "label": {"vi": "Báo cáo đầu năm", "en": "Early report"},
                "opens": "01/01",
                "due": "24/02",
                "lock_days": 10,
            }
        ],
        "action_months": [],
    }
    return Calendar(raw)


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ("2026-02-13T08:00", remind("2026", "2026-02-13", 11, 12, 13)),  # 7 and 3 days before
        ("2026-02-17T08:00", set()),  # Tết: moved to Friday 13/02
        ("2026-02-21T08:00", set()),  # Saturday
        ("2026-02-23T08:00", remind("2026", "2026-02-23", 11, 12, 13)),
        (
            "2026-02-25T08:00",
            remind("2026", "2026-02-25", 11, 12, 13) | digest("2026-02-25", 14, 15),
        ),
    ],
)
def test_tet_moves_reminders_to_the_previous_working_day(local: str, expected: set[str]) -> None:
    assert keys(decide(tet_calendar(), at(local), facts())) == expected


# -- properties ----------------------------------------------------------------------------------

PAIRS = [(u, p) for u in COMMUNES for p in PERIODS]


@settings(max_examples=150, deadline=None)
@given(
    day=st.dates(date(2026, 1, 1), date(2026, 12, 31)),
    hour=st.integers(8, 20),
    submitted=st.sets(st.sampled_from(PAIRS)),
    muted=st.sets(st.sampled_from([11, 12, 13])),
)
def test_no_submitted_unit_is_reminded_and_keys_are_unique(
    day: date, hour: int, submitted: set[tuple[int, str]], muted: set[int]
) -> None:
    people = [
        Recipient(**{**r.__dict__, "muted": r.officer_id in muted})  # type: ignore[arg-type]
        for r in RECIPIENTS
    ]
    decision = decide(CAL, datetime.combine(day, time(hour)), facts(submitted, recipients=people))
    found = [m.key for m in decision.messages]
    assert len(found) == len(set(found))
    reminded = set()
    for m in decision.messages:
        assert m.key == f"{m.batch}:off:{m.to.officer_id}"
        if m.kind == "reminder":
            assert isinstance(m.content, Deadline) and m.unit.id == m.to.unit_id
            reminded.add((m.unit.id, m.content.period.period))
        elif m.kind == "alert":
            assert not m.to.muted and m.to.role == "officer"
        else:
            assert m.kind == "digest" and m.to.role == "admin"
    # Exactly the pending units on their periods' reminder days (the calendar says which).
    due_today = {
        p.period
        for y in (day.year - 1, day.year)
        for p in CAL.periods(y)
        if day in CAL.deadline_days(p)
    }
    assert reminded == {(u, p) for u in COMMUNES for p in due_today if (u, p) not in submitted}


def test_an_agency_admin_hears_of_the_subtree_they_answer_for() -> None:
    agency = UnitInfo(6, "Sở Nội vụ", "/1/6/", False)  # beside the communes, under P
    units = {**UNITS, 6: agency}
    admin = rcp(16, 6, "admin")
    given = facts(recipients=[*RECIPIENTS, admin])
    given.units = units
    assert keys(decide(CAL, at("2026-06-08T08:00"), given)) >= digest("2026-06-08", 14, 15)
    assert not keys(decide(CAL, at("2026-06-08T08:00"), given)) & digest("2026-06-08", 16)
    given.scopes = {16: 1}  # services.scope: the agency's admins answer for the province
    decision = decide(CAL, at("2026-06-08T08:00"), given)
    (msg,) = [m for m in decision.messages if m.to.officer_id == 16]
    assert isinstance(msg.content, Digest) and msg.unit == agency
    assert sorted(x.unit.name for x in msg.content.late) == ["Xã C1", "Xã C2", "Xã C3"]
