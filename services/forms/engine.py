"""The form engine: loads a questionnaire from YAML, decides which questions apply, parses and
formats answers and checks the form-level consistency rules."""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any

from kernel.i18n import normalise_lang, t
from services.forms import parsers as p
from services.forms.expr import Unanswered, compile_expr, evaluate, names_in
from services.forms.schema import FormFileError, FormSpec, QuestionSpec, load_spec, validate

DATA_DIR = Path(__file__).parent / "data"
TYPES = {"integer", "sex_count", "yes_no", "choice", "multi", "date", "money", "text"}
COUNT_TYPES = {"integer", "sex_count", "money"}
NONE_TYPES = COUNT_TYPES | {"yes_no"}


FormError = FormFileError  # the old name


def _label(d: Any, lang: str) -> str:
    if isinstance(d, str):
        return d
    if not d:
        return ""
    return str(d.get(normalise_lang(lang)) or d.get("vi") or next(iter(d.values())))


@dataclass(frozen=True)
class Option:
    key: str
    label: dict[str, str]
    label_key: str | None = None
    synonyms: tuple[str, ...] = ()
    exclusive: bool = False
    relevant: ast.Expression | None = None

    def text(self, lang: str) -> str:
        return t(lang, self.label_key) if self.label_key else _label(self.label, lang)


@dataclass(frozen=True)
class Variant:
    relevant: ast.Expression
    label: dict[str, str]
    label_key: str | None = None


@dataclass
class Question:
    id: str
    type: str
    label: dict[str, str]
    section_id: str
    hint: dict[str, str] = field(default_factory=dict)
    required: bool = True
    max: int | None = None
    max_length: int | None = None
    options: list[Option] = field(default_factory=list)
    relevant: ast.Expression | None = None
    label_key: str | None = None
    hint_key: str | None = None
    summary_key: str | None = None
    variants: list[Variant] = field(default_factory=list)
    indicator: dict[str, str] = field(default_factory=dict)
    source: tuple[str, ...] = ()

    def text(self, lang: str, env: dict[str, Any] | None = None) -> str:
        """The question's wording; a variant whose condition holds in ``env`` wins."""
        for v in self.variants if env is not None else ():
            if _holds(v.relevant, env or {}):
                return t(lang, v.label_key) if v.label_key else _label(v.label, lang)
        return t(lang, self.label_key) if self.label_key else _label(self.label, lang)

    def indicator_text(self, lang: str) -> str:
        """The indicator as a noun phrase for documents (the label when the form has none)."""
        return _label(self.indicator, lang) if self.indicator else self.text(lang)

    def hint_text(self, lang: str) -> str:
        return t(lang, self.hint_key) if self.hint_key else _label(self.hint, lang)

    @property
    def has_hint(self) -> bool:
        return bool(self.hint or self.hint_key)

    def summary_text(self, lang: str) -> str:
        return t(lang, self.summary_key) if self.summary_key else self.text(lang)

    def option(self, key: str) -> Option | None:
        return next((o for o in self.options if o.key == key), None)

    def options_for(self, env: dict[str, Any]) -> list[Option]:
        """The options offered when ``env`` holds the answers so far and the context."""
        return [o for o in self.options if o.relevant is None or _holds(o.relevant, env)]


@dataclass
class Section:
    id: str
    title: dict[str, str]
    questions: list[Question]
    no_activity: bool = False
    relevant: ast.Expression | None = None

    def text(self, lang: str) -> str:
        return _label(self.title, lang)


@dataclass
class Rule:
    id: str
    check: ast.Expression
    fields: list[str]
    message: dict[str, str]

    def text(self, lang: str) -> str:
        return _label(self.message, lang)


@dataclass
class Violation:
    rule: Rule
    questions: list[Question]


def _lab(d: Mapping[Any, str] | None) -> dict[str, str]:
    return {str(k): v for k, v in (d or {}).items()}


def _holds(expr: ast.Expression, env: dict[str, Any]) -> bool:
    try:
        return bool(evaluate(expr, env))
    except Unanswered:
        return False


class Form:
    """A validated form file, ready to ask: see services/forms/schema.py for what it holds."""

    def __init__(self, spec: FormSpec | dict[str, Any]) -> None:
        if not isinstance(spec, FormSpec):
            spec = validate(spec, str(spec.get("id", "form")) if isinstance(spec, dict) else "")
        self.spec = spec
        self.id: str = spec.id
        self.version = spec.version
        self.title: dict[str, str] = _lab(spec.title)
        self.context = tuple(spec.context)
        self.numbered = spec.numbered
        self.matching = spec.matching
        self.messages = dict(spec.messages)
        self.respondents: dict[str, str] = _lab(spec.respondents)
        self.forms_by_kind = dict(spec.forms_by_kind)
        self.forms_by_unit = dict(spec.forms_by_unit)
        self.sections: list[Section] = []
        self.questions: list[Question] = []
        self.by_id: dict[str, Question] = {}
        for s in spec.sections:
            sec = Section(
                id=s.id,
                title=_lab(s.title),
                questions=[],
                no_activity=s.no_activity,
                relevant=_compile(s.relevant),
            )
            for q in s.questions:
                question = _question(q, sec.id)
                sec.questions.append(question)
                self.questions.append(question)
                self.by_id[question.id] = question
            self.sections.append(sec)
        self.section_of = {q.id: s for s in self.sections for q in s.questions}
        # The forms a compiled (merged) form was made of; a form on its own: itself.
        self.members: tuple[Form, ...] = (self,)
        self.rules: list[Rule] = []
        for r in spec.rules:
            check = _compile(r.check)
            assert check is not None
            fields = r.fields or sorted(names_in(check) & set(self.by_id))
            self.rules.append(Rule(id=r.id, check=check, fields=fields, message=_lab(r.message)))

    def form_id_for(self, unit_kind: str, unit_code: str) -> str:
        """The form a unit answers when the calendar names this one: its own (by code), or
        its kind's, or this form."""
        return self.forms_by_unit.get(unit_code) or self.forms_by_kind.get(unit_kind) or self.id

    def message(self, key: str) -> str:
        """The catalog key this form uses for one of the engine's messages."""
        return self.messages.get(key, key)

    def text(self, lang: str) -> str:
        return _label(self.title, lang)

    def text_respondents(self, lang: str) -> str:
        """Who answers this form ("sở, ban, ngành, đoàn thể"), or its id when unsaid."""
        return _label(self.respondents, lang) or self.id

    # -- which questions apply -----------------------------------------------------------
    def is_relevant(self, q: Question, env: dict[str, Any]) -> bool:
        sec = self.section_of[q.id]
        return _applies(sec.relevant, env) and _applies(q.relevant, env)

    def relevant_questions(self, env: dict[str, Any]) -> list[Question]:
        """The questions that apply; each section's condition is evaluated once (it ran
        again for every question of the section, on every step)."""
        sections: dict[int, bool] = {}
        out = []
        for q in self.questions:
            sec = self.section_of[q.id]
            applies = sections.get(id(sec))
            if applies is None:
                applies = sections[id(sec)] = _applies(sec.relevant, env)
            if applies and _applies(q.relevant, env):
                out.append(q)
        return out

    def next_unanswered(self, values: dict[str, Any], ctx: dict[str, Any]) -> Question | None:
        """The first relevant question with no stored answer. Relevance is re-evaluated as
        answers arrive, so a question gated on an earlier one appears only when it applies."""
        env = {**ctx, **values}
        for q in self.questions:
            if q.id not in values and self.is_relevant(q, env):
                return q
        return None

    # -- answers -------------------------------------------------------------------------
    def parse(self, q: Question, text: str | None, *, today: date | None = None) -> Any:
        """Turn what the user typed into a stored value, or raise ParseError."""
        if text is not None and p.is_skip(text):
            if q.required:
                raise p.ParseError("err.required")
            return None
        if q.type == "integer":
            return p.parse_integer(text, q.max or p.MAX_COUNT_DEFAULT)
        if q.type == "sex_count":
            return p.parse_sex_count(text, q.max or p.MAX_COUNT_DEFAULT)
        if q.type == "yes_no":
            return p.parse_yes_no(text)
        if q.type == "money":
            return p.parse_money(text, q.max or p.MAX_MONEY_DEFAULT)
        if q.type == "date":
            return p.parse_date(text, latest=today)
        if q.type == "text":
            return p.parse_text(text, q.max_length or p.MAX_TEXT_DEFAULT)
        if q.type == "choice":
            return self.match_option(q, p._clean(text)).key
        if q.type == "multi":
            keys: list[str] = []
            for item in p.split_list(p._clean(text)):
                key = self.match_option(q, item).key
                if key not in keys:
                    keys.append(key)
            return keys
        raise ValueError(f"{q.id}: no parser for type {q.type}")

    @staticmethod
    def match_option(q: Question, text: str) -> Option:
        word = text.strip()
        if p.is_number(word):
            n = int(word)
            if 1 <= n <= len(q.options):
                return q.options[n - 1]
            raise p.ParseError("err.choice_range", n=len(q.options))
        folded = p.fold(word)
        for o in q.options:
            if folded == o.key or any(folded == p.fold(v) for v in o.label.values()):
                return o
            if folded in o.synonyms or (o.label_key and folded == p.fold(o.text("vi"))):
                return o
        raise p.ParseError("err.choice_unknown", n=len(q.options))

    def format_value(self, q: Question, value: Any, lang: str) -> str:
        if value is None:
            return t(lang, "value.skipped")
        if q.type == "sex_count":
            return t(
                lang, "value.sex_count", m=value["m"], f=value["f"], total=value["m"] + value["f"]
            )
        if q.type == "yes_no":
            return t(lang, "value.yes" if value else "value.no")
        if q.type == "money":
            return t(lang, "value.money", amount=format_number(int(value)))
        if q.type == "integer":
            return format_number(int(value))
        if q.type == "date":
            y, m, d = str(value).split("-")
            return f"{d}/{m}/{y}"
        if q.type == "choice":
            o = q.option(str(value))
            return o.text(lang) if o else str(value)
        if q.type == "multi":
            labels = [o.text(lang) for k in value if (o := q.option(k))]
            return ", ".join(labels) if labels else t(lang, "value.none_selected")
        return str(value)

    def zero_value(self, q: Question) -> Any:
        if q.type == "yes_no":
            return False
        return {"m": 0, "f": 0} if q.type == "sex_count" else 0

    def none_values(self, section: Section) -> dict[str, Any]:
        """What "không có hoạt động" answers in a section: counts 0, yes/no "no". The schema
        makes every other question of such a section depend on these, so the whole section
        counts as answered."""
        return {q.id: self.zero_value(q) for q in section.questions if q.type in NONE_TYPES}

    # -- consistency ---------------------------------------------------------------------
    def check_rules(self, values: dict[str, Any], ctx: dict[str, Any]) -> list[Violation]:
        env = {**ctx, **values}
        relevant = {q.id for q in self.relevant_questions(env)}
        # An irrelevant count (e.g. victims when there were no cases) counts as 0 in rules.
        for q in self.questions:
            if q.id not in relevant and q.type in COUNT_TYPES:
                env[q.id] = self.zero_value(q)
        out = []
        for rule in self.rules:
            try:
                ok = evaluate(rule.check, env)
            except Unanswered:
                continue
            if not ok:
                out.append(Violation(rule, [self.by_id[f] for f in rule.fields if f in self.by_id]))
        return out


def merge_forms(forms: Sequence[Form]) -> Form:
    """One form holding every question of ``forms``, for compiling units that answer
    different forms (communes and departments): the first form's order, then what each other
    form adds, in its own section's place. A question id means the same indicator in every
    form (a test holds the built-in forms to it), so the compiled columns line up; an indicator
    only one kind of unit reports has its own id, so its total never mixes in another kind's
    (a department's handled cases are never added to the communes' cases found)."""
    if len(forms) == 1:
        return forms[0]
    raw = forms[0].spec.model_dump(exclude_none=True)
    sections: list[dict[str, Any]] = raw["sections"]
    ids = {q["id"] for sec in sections for q in sec["questions"]}
    rule_ids = {r["id"] for r in raw["rules"]}
    for other in forms[1:]:
        after = -1
        for sec in other.spec.model_dump(exclude_none=True)["sections"]:
            new = [q for q in sec["questions"] if q["id"] not in ids]
            ids |= {q["id"] for q in new}
            at = next((i for i, x in enumerate(sections) if x["id"] == sec["id"]), None)
            if at is not None:
                sections[at]["questions"].extend(new)
                after = at
            elif new:
                after += 1
                sections.insert(after, {**sec, "questions": new})
        rules = other.spec.model_dump(exclude_none=True)["rules"]
        raw["rules"] += [r for r in rules if r["id"] not in rule_ids]
        rule_ids |= {r["id"] for r in rules}
    merged = Form(validate(raw, forms[0].id))
    merged.members = tuple(forms)
    return merged


def format_number(n: int) -> str:
    """Vietnamese grouping: 1.500.000."""
    return f"{n:,}".replace(",", ".")


def _compile(src: str | None) -> ast.Expression | None:
    # The schema compiled every expression already; this cannot fail on a validated form.
    return None if src is None else compile_expr(str(src))


def _question(q: QuestionSpec, section_id: str) -> Question:
    return Question(
        id=q.id,
        type=q.type,
        label=_lab(q.label or {}),
        section_id=section_id,
        hint=_lab(q.hint or {}),
        required=q.required,
        max=q.max,
        max_length=q.max_length,
        options=[
            Option(
                key=o.key,
                label=_lab(o.label or {}),
                label_key=o.label_key,
                synonyms=tuple(p.fold(w) for w in o.synonyms),
                exclusive=o.exclusive,
                relevant=_compile(o.relevant),
            )
            for o in q.options
        ],
        relevant=_compile(q.relevant),
        label_key=q.label_key,
        hint_key=q.hint_key,
        summary_key=q.summary_key,
        indicator=_lab(q.indicator),
        source=tuple(q.source),
        variants=[
            Variant(
                relevant=_compile(v.relevant) or compile_expr("True"),
                label=_lab(v.label or {}),
                label_key=v.label_key,
            )
            for v in q.variants
        ],
    )


@lru_cache(maxsize=8)
def load_form(form_id: str, form_dir: str | None = None) -> Form:
    """The form ``form_id`` from ``form_dir`` (or the built-in folder); FormFileError (one line
    per problem) when the file is wrong."""
    folder = Path(form_dir) if form_dir else DATA_DIR
    return Form(load_spec(folder / f"{form_id}.yaml"))


def form_id_for_unit(
    form_id: str, unit_kind: str, unit_code: str, form_dir: str | None = None
) -> str:
    """The form a unit starts a report on when the calendar names ``form_id``: the one the
    form file sets for the unit's code or kind (``forms_by_unit``, ``forms_by_kind``), else
    ``form_id``. Kept in ``Report.form_id`` from then on: a draft never changes form."""
    return load_form(form_id, form_dir).form_id_for(unit_kind, unit_code)


def _applies(expr: ast.Expression | None, env: dict[str, Any]) -> bool:
    """A relevance condition: true when absent; false while it depends on an answer not
    given yet."""
    return expr is None or _holds(expr, env)
