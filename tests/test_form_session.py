"""The form session without a database: inputs in, events out."""

from __future__ import annotations

from datetime import date

from services.forms.engine import load_form
from services.forms.session import (
    DONE,
    NONE,
    SUBMIT,
    Accepted,
    Again,
    Answer,
    Ask,
    Invalid,
    Next,
    Position,
    SectionEmpty,
    Session,
    Submit,
    Summary,
    Violations,
)
from tests.answers import ANSWERS

CONTEXT = {"period_type": "annual", "unit_kind": "commune"}


def session(values: dict | None = None) -> Session:
    return Session(load_form("bdg_report"), CONTEXT, dict(values or {}), date(2026, 11, 25))


async def test_answers_move_on_and_bad_input_asks_again() -> None:
    s = session()
    pos, events = await s.resume(Position(), Next())
    [ask] = events
    assert isinstance(ask, Ask) and ask.question.id == "plan_issued" and ask.number == 1
    assert ask.opens_section and pos.q == "plan_issued"
    pos, events = await s.resume(pos, Answer(text="có lẽ"))
    assert isinstance(events[0], Invalid) and events[0].key == "err.yes_no"
    assert isinstance(events[1], Ask) and pos.q == "plan_issued" and s.values == {}
    pos, events = await s.resume(pos, Answer(option="yes"))
    assert isinstance(events[0], Accepted) and events[0].value is True
    assert isinstance(events[1], Ask) and events[1].question.id == "plan_date"
    pos, events = await s.resume(pos, Answer(text="-"))  # optional
    assert s.values == {"plan_issued": True, "plan_date": None}
    pos, events = await s.resume(pos, Again())
    assert [type(e) for e in events] == [Ask] and pos.q == "focal_point"


async def test_no_activity_zeroes_a_section_and_multi_toggles() -> None:
    first = ("plan_issued", "plan_date", "focal_point", "committee_meetings", "committee_updated")
    s = session({q: ANSWERS[q][1] for q in first})
    pos, events = await s.resume(Position(), Next())
    assert events[0].question.id == "comm_sessions" and events[0].offer_none  # type: ignore[union-attr]
    pos, events = await s.resume(pos, Answer(option=NONE))
    assert isinstance(events[0], SectionEmpty)
    assert events[0].values["comm_participants"] == {"m": 0, "f": 0}
    assert isinstance(events[1], Ask) and events[1].question.id == "training_courses"
    s.values["comm_sessions"] = 3
    assert "comm_channels" not in s.values
    pos = Position(q="comm_channels")
    pos, events = await s.resume(pos, Answer(option="social"))
    assert pos.sel == ["social"] and events[0].selected == ["social"]  # type: ignore[union-attr]
    pos, events = await s.resume(pos, Answer(option=DONE))
    assert isinstance(events[0], Accepted) and events[0].value == ["social"]


async def test_summary_edit_rules_and_submit() -> None:
    values = {q: v for q, (_, v) in ANSWERS.items()}
    s = session(values)
    pos, events = await s.resume(Position(), Next())
    [summary] = events
    assert isinstance(summary, Summary) and pos.mode == "summary"
    number = next(i for i, q, _ in summary.rows if q.id == "training_courses")
    pos, events = await s.resume(pos, Answer(text=f"sửa {number}"))
    assert isinstance(events[0], Ask) and pos.q == "training_courses"
    pos, events = await s.resume(pos, Answer(text="3"))
    assert isinstance(events[-1], Summary) and s.values["training_courses"] == 3
    s.values["victims_u16"] = 9
    pos, events = await s.resume(pos, Answer(option=SUBMIT))
    assert isinstance(events[0], Violations)
    assert {v.rule.id for v in events[0].violations} == {"u16_le_victims", "aged_le_victims"}
    s.values["victims_u16"] = 1
    pos, events = await s.resume(pos, Answer(option=SUBMIT))
    assert isinstance(events[0], Submit) and events[0].values["training_courses"] == 3
