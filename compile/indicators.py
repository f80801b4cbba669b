"""Compiled columns, derived from the report form (never hard-coded): one per indicator, three
(male, female, total) per sex-disaggregated count, and how each one adds up.

- ``integer`` / ``money``: the sum over the units that submitted;
- ``sex_count``: the sums of men, women and both;
- ``yes_no``: the number of units that answered yes;
- ``choice`` / ``multi`` / ``date``: shown per unit, no total;
- ``text`` (difficulties, recommendations): gathered apart, not in the number table.

Units answer different forms (communes one, departments another: ``merge_forms``), so a
compilation's form holds the questions of all of them. A question id means one indicator in
every form; an indicator only one kind of unit reports (the cases a department handled,
``dept_cases``) has its own id, so its total never mixes with another kind's (the cases the
communes found, ``vio_cases``) and no case is counted twice. ``respondents`` names who reports
an indicator when not every form asks it, for the documents to say which rows come from which
kind of unit; ``Column.indicator`` is the noun phrase for a "Chỉ tiêu" column.

A question that does not apply to the period (``relevant: period_type == 'annual'`` in a
6-month report) gets no column; one that depends on a unit's answers or kind keeps its
column, left blank where it did not apply (and counted as 0 in totals).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from kernel.i18n import t
from services.forms.engine import Form, Question, Section
from services.forms.expr import Unanswered, evaluate

NUMERIC_TYPES = {"integer", "money"}
TABLE_TYPES = {"integer", "money", "sex_count", "yes_no", "choice", "multi", "date"}
PARTS = ("m", "f", "total")
_ROMAN = re.compile(r"^\s*[IVXLC]+\.\s*")


def applies(form: Form, q: Question, period_kind: str) -> bool:
    """False only when the question is known not to apply to this kind of period."""
    sec = form.section_of[q.id]
    for expr in (sec.relevant, q.relevant):
        if expr is None:
            continue
        try:
            if not evaluate(expr, {"period_type": period_kind}):
                return False
        except Unanswered:
            continue
    return True


def section_title(section: Section, lang: str) -> str:
    """The section's title without its Roman numeral (documents renumber them)."""
    return _ROMAN.sub("", section.text(lang))


@dataclass(frozen=True)
class Column:
    question: Question
    part: str | None = None  # m | f | total for a sex-disaggregated count

    @property
    def key(self) -> str:
        return f"{self.question.id}.{self.part}" if self.part else self.question.id

    @property
    def summable(self) -> bool:
        return self.question.type in NUMERIC_TYPES | {"sex_count", "yes_no"}

    def heading(self, lang: str) -> str:
        return self.question.text(lang)

    def indicator(self, lang: str) -> str:
        """The indicator as a noun phrase ("Số vụ bạo lực được phát hiện"), not a question."""
        return self.question.indicator_text(lang)

    def sub_heading(self, lang: str) -> str:
        return t(lang, f"admin.col_{self.part}") if self.part else ""

    def number(self, values: dict[str, Any] | None) -> int:
        """This column's contribution to the total (0 when unanswered or not applicable)."""
        if not values:
            return 0
        v = values.get(self.question.id)
        if v is None:
            return 0
        qt = self.question.type
        if qt == "sex_count":
            m, f = int(v.get("m", 0)), int(v.get("f", 0))
            return {"m": m, "f": f, "total": m + f}[self.part or "total"]
        if qt == "yes_no":
            return 1 if v is True else 0
        if qt in NUMERIC_TYPES:
            return int(v)
        return 0

    def cell(self, values: dict[str, Any] | None, lang: str) -> int | str | None:
        """What one unit's row shows."""
        if not values or values.get(self.question.id) is None:
            return None
        v = values[self.question.id]
        q = self.question
        if q.type in NUMERIC_TYPES or q.type == "sex_count":
            return self.number(values)
        if q.type == "yes_no":
            return t(lang, "value.yes" if v else "value.no")
        if q.type == "choice":
            o = q.option(str(v))
            return o.text(lang) if o else str(v)
        if q.type == "multi":
            return "; ".join(o.text(lang) for k in v if (o := q.option(k)))
        if q.type == "date":
            y, m, d = str(v).split("-")
            return f"{d}/{m}/{y}"
        return str(v)

    def total(self, rows: Iterable[dict[str, Any] | None]) -> int | None:
        if not self.summable:
            return None
        return sum(self.number(v) for v in rows)


def columns(form: Form, period_kind: str) -> list[Column]:
    out: list[Column] = []
    for q in form.questions:
        if q.type not in TABLE_TYPES or not applies(form, q, period_kind):
            continue
        if q.type == "sex_count":
            out.extend(Column(q, p) for p in PARTS)
        else:
            out.append(Column(q))
    return out


def text_questions(form: Form, period_kind: str) -> list[Question]:
    return [q for q in form.questions if q.type == "text" and applies(form, q, period_kind)]


def option_counts(q: Question, rows: Iterable[dict[str, Any] | None]) -> list[tuple[str, int]]:
    """For a choice or multiple-choice question: how many units chose each option."""
    counts = {o.key: 0 for o in q.options}
    for values in rows:
        v = (values or {}).get(q.id)
        chosen = v if isinstance(v, list) else [v] if v is not None else []
        for k in chosen:
            if k in counts:
                counts[k] += 1
    return [(o.key, counts[o.key]) for o in q.options]


def respondents(form: Form, q: Question, lang: str) -> str:
    """Who reports ``q`` in a compilation of several forms ("xã, phường, đặc khu"); empty when
    every form asks it (then its total adds up all units)."""
    askers = [f for f in form.members if q.id in f.by_id]
    if len(askers) == len(form.members):
        return ""
    return "; ".join(f.text_respondents(lang) for f in askers)


_INPUT_HINT = re.compile(r"\s*\((dd/mm/yyyy|dd/mm)\)", re.IGNORECASE)


def without_hint(label: str) -> str:
    """A label for a document: no "(dd/mm/yyyy)" typing hint meant for the chat."""
    return _INPUT_HINT.sub("", label).strip()
