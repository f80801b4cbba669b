"""The question counter ("Câu n/total") over any sequence of answers, on every report form and
both periods: the total is the questions that apply given the answers so far and grows only by
what the last answer made relevant; n counts the answered questions, so it moves by what was
answered ("không có hoạt động" answers its section at once) and never goes back; the intro's
figure is the first question's total."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.forms.engine import Form, Question, load_form
from services.forms.session import NONE, Answer, Ask, Next, Position, Session, Summary

FORMS = ["bdg_report", "bdg_department"]
KINDS = ["commune", "ward", "special_zone", "department"]


def value(draw: st.DrawFn, q: Question) -> Any:
    """A stored answer of ``q``: small counts, so gates open (> 0) and stay shut (0)."""
    if q.type in ("integer", "money"):
        return draw(st.integers(0, 3))
    if q.type == "sex_count":
        return {"m": draw(st.integers(0, 3)), "f": draw(st.integers(0, 3))}
    if q.type == "yes_no":
        return draw(st.booleans())
    if q.type == "choice":
        return draw(st.sampled_from([o.key for o in q.options]))
    if q.type == "multi":
        return draw(st.lists(st.sampled_from([o.key for o in q.options]), unique=True))
    if q.type == "date":
        return "2026-03-12"
    return draw(st.one_of(st.none(), st.just("Không có")))


def relevant_ids(form: Form, s: Session) -> set[str]:
    return {q.id for q in form.relevant_questions(s.env)}


async def walk(draw: st.DrawFn, form: Form, context: dict[str, Any]) -> None:
    s = Session(form, context, {}, date(2026, 11, 25))
    intro_total = len(s.relevant())  # what handlers/report.py says before the first question
    pos, events = await s.resume(Position(), Next())
    ask = events[-1]
    assert isinstance(ask, Ask) and (ask.number, ask.total) == (1, intro_total)
    for _ in range(200):
        before, answered = relevant_ids(form, s), sum(1 for q in s.relevant() if q.id in s.values)
        assert ask.number == answered + 1 <= ask.total == len(before)
        section_none = ask.offer_none and draw(st.booleans())
        if section_none:
            pos, events = await s.resume(pos, Answer(option=NONE))
        else:  # as if typed and accepted: the parsers have their own tests
            s.values[ask.question.id] = value(draw, ask.question)
            pos, events = await s.resume(pos, Next())
        after = relevant_ids(form, s)
        last = events[-1]
        if isinstance(last, Summary):
            assert all(q.id in s.values for q in s.relevant())
            return
        assert isinstance(last, Ask)
        # The total grows only by what the answer made relevant.
        assert last.total - ask.total <= len(after - before)
        # n moves by the questions just answered, never back.
        assert last.number >= ask.number + 1
        if section_none:  # "không có hoạt động": the section is done
            assert form.section_of[last.question.id] is not form.section_of[ask.question.id]
        ask = last
    raise AssertionError("the form never reached its summary")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    form_id=st.sampled_from(FORMS),
    kind=st.sampled_from(KINDS),
    period=st.sampled_from(["semiannual", "annual"]),
)
def test_the_counter_is_stable(data: st.DataObject, form_id: str, kind: str, period: str) -> None:
    form = load_form(form_id)
    asyncio.run(walk(data.draw, form, {"period_type": period, "unit_kind": kind}))


async def test_a_draft_whose_form_grew_counts_on_from_its_answers() -> None:
    """A draft whose form gained questions before the ones answered: the counter goes on from
    what is answered instead of jumping to the new question's place in the list."""
    form = load_form("bdg_report")
    answered = {q: 0 for q in ("comm_sessions", "comm_news", "comm_materials", "comm_ethnic")}
    s = Session(form, {"period_type": "annual", "unit_kind": "commune"}, answered, date.today())
    _, events = await s.resume(Position(), Next())
    ask = events[-1]
    assert isinstance(ask, Ask) and ask.question.id == "plan_issued"
    assert ask.number == 5  # four answered (comm_participants, comm_channels do not apply)
