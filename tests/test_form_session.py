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


def intake(values: dict | None = None, reporter: str = "citizen") -> Session:
    return Session(
        load_form("case_intake"), {"reporter": reporter}, dict(values or {}), date(2026, 11, 25)
    )


async def test_intake_on_the_same_engine_loose_matching_and_exclusive_none() -> None:
    s = intake({"danger": "no", "unit": 5, "affected": "other", "sex": "f", "age": "u16"})
    s.values.update({"forms": ["physical"], "relation": "partner", "when": "today"})
    pos, events = await s.resume(Position(), Next())
    [ask] = events
    assert isinstance(ask, Ask) and ask.question.id == "help"
    assert (ask.number, ask.total) == (9, 12)  # no officer questions, no contact yet
    pos, events = await s.resume(pos, Answer(text="y tế, chưa cần"))  # a part of two labels
    assert isinstance(events[0], Accepted) and events[0].value == ["health"]  # "none" dropped
    pos, events = await s.resume(pos, Answer(text="Chồng tôi đánh tôi ZEBRA-1"))
    accepted = events[0]
    assert isinstance(accepted, Accepted) and accepted.question.id == "description"
    assert accepted.value is True and accepted.secret == "Chồng tôi đánh tôi ZEBRA-1"
    assert s.values["description"] is True and "ZEBRA" not in pos.model_dump_json()
    pos, events = await s.resume(pos, Answer(text="để lại"))  # "Để lại cách liên lạc"
    assert s.values["anonymity"] == "contact"
    assert isinstance(events[-1], Ask) and events[-1].question.id == "contact"
    pos, events = await s.resume(pos, Answer(text="-"))
    assert s.values["contact"] is None
    assert isinstance(events[-1], Ask) and events[-1].question.id == "consent"
    assert [o.key for o in events[-1].options] == ["yes", "no"]  # "not asked": officers only
    pos, events = await s.resume(pos, Answer(text="3"))
    assert isinstance(events[0], Invalid) and events[0].key == "case.err.choice"
    assert events[0].params == {"n": 2}


async def test_officer_wording_and_options_come_from_relevance() -> None:
    s = intake({"danger": "no"}, reporter="officer")
    q = s.form.by_id["consent"]
    assert [o.key for o in q.options_for(s.env)] == ["yes", "no", "not_asked"]
    assert q.text("vi", s.env) != q.text("vi", {"reporter": "citizen"})
    assert [x.id for x in s.relevant()][:3] == ["danger", "unit", "sex"]  # no "who is affected"
