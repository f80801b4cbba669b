"""What a form file may say, checked with pydantic (``extra="forbid"``) when the file loads.

A form file is YAML: sections of questions, consistency rules, and a few form-wide settings.
Every problem is reported at once, one line each, naming the file, the question (or section,
or rule) and the field, so a province that edits its file hears exactly what to fix:

    bdg_report.yaml: question plan_date: requird: unknown field (did you mean 'required'?)
    bdg_report.yaml: question comm_sessions: max: must be a whole number, not 'ten'

``load_spec`` returns the validated ``FormSpec`` or raises ``FormFileError`` with the lines;
``check_file`` returns the lines (empty when the file is good), for ``bdg forms check``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError

from services.forms.expr import ExprError, compile_expr, names_in

QuestionType = Literal[
    "integer",
    "sex_count",
    "yes_no",
    "choice",
    "multi",
    "date",
    "money",
    "text",
    # Case intake: a commune looked up by name, an age (a group, or years typed), when it
    # happened (a choice, or a date typed), and free text kept only encrypted.
    "place",
    "age",
    "when",
    "secret",
]
CHOICE_TYPES = {"choice", "multi", "age", "when"}
NUMBER_TYPES = {"integer", "sex_count", "money"}
NONE_ANSWERS = NUMBER_TYPES | {"yes_no"}  # what "không có hoạt động" answers (0, no)
TEXT_TYPES = {"text", "secret"}
DEFAULT_CONTEXT = ("period_type", "unit_kind")
IDENT = r"^[a-z][a-z0-9_]*$"

# A label is {vi: ..., en: ...}; Vietnamese is required, the other languages are optional.
Label = dict[Literal["vi", "en"], str]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OptionSpec(_Strict):
    key: str = Field(min_length=1, max_length=64)
    label: Label | None = None
    label_key: str | None = None  # a catalog message id instead of an inline label
    # Other words people type for this option (folded before matching): "chồng" for partner.
    synonyms: list[str] = []
    exclusive: StrictBool = False  # in a multi, "none of these" cannot go with another option
    relevant: str | None = None  # offered only when this holds (e.g. reporter == 'officer')


class VariantSpec(_Strict):
    """Another wording of the question when ``relevant`` holds (``affected == 'self'``)."""

    relevant: str
    label: Label | None = None
    label_key: str | None = None


class QuestionSpec(_Strict):
    id: str = Field(pattern=IDENT, max_length=64)
    type: QuestionType
    label: Label | None = None
    label_key: str | None = None
    hint: Label | None = None
    hint_key: str | None = None
    summary_key: str | None = None  # a shorter label for the summary line
    variants: list[VariantSpec] = []
    required: StrictBool = True
    max: StrictInt | None = Field(default=None, ge=0)
    max_length: StrictInt | None = Field(default=None, gt=0)
    options: list[OptionSpec] = []
    relevant: str | None = None
    # The indicator as a noun phrase for documents ("Số buổi truyền thông trực tiếp"), where
    # the label is a question ("… chưa?"); documents fall back to the label without it.
    indicator: Label | None = None
    # Which plan(s) or law ask for this indicator ("003 Sơn Hà", "Luật 13/2022/QH15 đ.2 k.4"),
    # so a province can see why a question is there.
    source: list[str] = []


class SectionSpec(_Strict):
    id: str = Field(pattern=IDENT, max_length=64)
    title: Label
    no_activity: StrictBool = False  # one answer sets all the section's counts to 0
    relevant: str | None = None
    questions: list[QuestionSpec] = Field(min_length=1)


class RuleSpec(_Strict):
    id: str = Field(pattern=IDENT, max_length=64)
    check: str
    fields: list[str] = []
    message: Label


class FormSpec(_Strict):
    id: str = Field(pattern=IDENT, max_length=32)
    version: StrictInt = 1
    title: Label
    # Names that relevance and rules may use besides question ids, given by the conversation.
    context: list[str] = list(DEFAULT_CONTEXT)
    numbered: StrictBool = True  # "Câu 3/14:" before each question
    # exact: a number, a key or a whole label; loose: also yes/no words and a unique part of
    # a label (for people who are not officers and type freely).
    matching: Literal["exact", "loose"] = "exact"
    # Engine messages replaced by the form's own catalog keys (err.choice_unknown → …).
    messages: dict[str, str] = {}
    sections: list[SectionSpec] = Field(min_length=1)
    rules: list[RuleSpec] = []
    # Who answers this form, as documents name them ("xã, phường, đặc khu").
    respondents: Label | None = None
    # The form the calendar names is the default; units of these kinds answer another form
    # instead ({department: bdg_department}), and single units (by code) another still.
    # A report keeps the form it was started on (Report.form_id), so a change here never
    # moves a draft in flight to another form.
    forms_by_kind: dict[str, str] = {}
    forms_by_unit: dict[str, str] = {}


class FormFileError(ValueError):
    """A form file is wrong; ``errors`` holds one line per problem."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


# -- loading ---------------------------------------------------------------------------------
def load_spec(path: Path) -> FormSpec:
    """Read and validate a form file; raise FormFileError with every problem found."""
    name = path.name
    try:
        with path.open(encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except OSError as e:
        raise FormFileError([f"{name}: cannot read the file ({e.strerror or e})"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or "not valid YAML"
        raise FormFileError([f"{name}: not valid YAML{where}: {problem}"]) from None
    return validate(raw, name)


def validate(raw: Any, name: str = "form") -> FormSpec:
    """Validate an already parsed form; raise FormFileError with every problem found."""
    if not isinstance(raw, dict):
        raise FormFileError([f"{name}: the file must be a mapping with id, title and sections"])
    try:
        spec = FormSpec.model_validate(raw)
    except ValidationError as e:
        lines = []
        for err in e.errors():
            where, hint = _where(raw, err["loc"])
            lines.append(f"{name}: {where}{_message(err)}{hint}")
        raise FormFileError(lines) from None
    errors = [f"{name}: {line}" for line in _cross_check(spec)]
    if errors:
        raise FormFileError(errors)
    return spec


def check_file(path: Path) -> list[str]:
    """Every problem of a form file, one line each; empty when the file is good."""
    try:
        load_spec(path)
    except FormFileError as e:
        return e.errors
    return []


# -- error lines -----------------------------------------------------------------------------
_FIELDS = {
    "form": set(FormSpec.model_fields),
    "section": set(SectionSpec.model_fields),
    "question": set(QuestionSpec.model_fields),
    "rule": set(RuleSpec.model_fields),
    "option": set(OptionSpec.model_fields),
    "variant": set(VariantSpec.model_fields),
}


_KINDS = {
    "sections": "section",
    "questions": "question",
    "rules": "rule",
    "options": "option",
    "variants": "variant",
}


def _where(raw: Any, loc: tuple[int | str, ...]) -> tuple[str, str]:
    """``question vio_cases: max: `` from a pydantic location, and a "did you mean" hint."""
    parts: list[str] = []
    fields: list[str] = []
    node, kind, i = raw, "form", 0
    while i < len(loc):
        key = loc[i]
        if key in _KINDS and i + 1 < len(loc):
            kind = _KINDS[str(key)]
            node = _child(_child(node, key), loc[i + 1])
            if kind == "question" and parts and parts[-1].startswith("section "):
                parts.pop()  # question ids are unique in a form: the section adds nothing
            parts.append(_name(kind, node, loc[i + 1]))
            fields, i = [], i + 2
            continue
        if key != "[key]":  # a wrong key of a mapping (a label's language)
            fields.append(str(key))
        node, i = _child(node, key), i + 1
    if fields:
        parts.append(".".join(fields))
    return "".join(p + ": " for p in parts), _did_you_mean(kind, fields)


def _child(node: Any, key: int | str) -> Any:
    if isinstance(node, dict) and isinstance(key, str):
        return node.get(key)
    if isinstance(node, list) and isinstance(key, int) and key < len(node):
        return node[key]
    return None


def _name(kind: str, item: Any, index: int | str) -> str:
    """``question plan_date``, or ``option #2`` when the item has no usable id."""
    ident = item.get("key" if kind == "option" else "id") if isinstance(item, dict) else None
    if isinstance(ident, str):
        return f"{kind} {ident}"
    return f"{kind} #{int(index) + 1}"


def _did_you_mean(kind: str, fields: list[str]) -> str:
    if not fields or kind not in _FIELDS or fields[0] in _FIELDS[kind]:
        return ""
    close = difflib.get_close_matches(fields[0], sorted(_FIELDS[kind]), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _message(err: Any) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "missing"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"must be a whole number, not {value!r}"
    if kind in ("bool_type", "bool_parsing"):
        return f"must be true or false, not {value!r}"
    if kind == "string_type":
        return f"must be text, not {value!r} (put it in quotes)"
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{value!r} is not one of {expected}"
    if kind == "string_pattern_mismatch":
        return f"{value!r} must be lower-case letters, digits and _ (starting with a letter)"
    return str(err["msg"]).lower()


# -- checks across fields --------------------------------------------------------------------
def _cross_check(spec: FormSpec) -> list[str]:
    out: list[str] = []
    ids: set[str] = set()
    for sec in spec.sections:
        for q in sec.questions:
            if q.id in ids:
                out.append(f"question {q.id}: id: used twice")
            ids.add(q.id)
    known = ids | set(spec.context)
    out += _one_of("form", "title", spec.title, None)
    for sec in spec.sections:
        out += _one_of(f"section {sec.id}", "title", sec.title, None)
        out += _expr(f"section {sec.id}: relevant", sec.relevant, known)
        for q in sec.questions:
            out += _question(q, known)
            if sec.no_activity and q.type not in NONE_ANSWERS and q.relevant is None:
                # "No activity" answers counts (0) and yes/no (no); anything else must
                # depend on an answer, or the section would still ask it.
                out.append(
                    f"question {q.id}: relevant: a {q.type} question in a no_activity "
                    "section needs a condition"
                )
    for target in (*spec.forms_by_kind.values(), *spec.forms_by_unit.values()):
        if not re.match(IDENT, target):
            out.append(f"forms_by_kind: {target!r} is not a form id")
    for rule in spec.rules:
        out += _one_of(f"rule {rule.id}", "message", rule.message, None)
        out += _expr(f"rule {rule.id}: check", rule.check, known)
        out += [
            f"rule {rule.id}: fields: unknown question {f!r}" for f in rule.fields if f not in ids
        ]
    return out


def _question(q: QuestionSpec, known: set[str]) -> list[str]:
    where = f"question {q.id}"
    out = _one_of(where, "label", q.label, q.label_key)
    out += _expr(f"{where}: relevant", q.relevant, known)
    if q.indicator is not None and "vi" not in q.indicator:
        out.append(f"{where}: indicator: the Vietnamese text (vi) is missing")
    if q.hint is not None and q.hint_key is not None:
        out.append(f"{where}: hint: give hint or hint_key, not both")
    if q.type in ("choice", "multi") and not q.options:
        out.append(f"{where}: options: a {q.type} question needs options")
    if q.options and q.type not in CHOICE_TYPES:
        out.append(f"{where}: options: a {q.type} question has no options")
    if q.max is not None and q.type not in NUMBER_TYPES:
        out.append(f"{where}: max: only for integer, sex_count and money questions")
    if q.max_length is not None and q.type not in TEXT_TYPES:
        out.append(f"{where}: max_length: only for text and secret questions")
    keys: set[str] = set()
    for o in q.options:
        if o.key in keys:
            out.append(f"{where}: option {o.key}: key: used twice")
        keys.add(o.key)
        out += _one_of(f"{where}: option {o.key}", "label", o.label, o.label_key)
        out += _expr(f"{where}: option {o.key}: relevant", o.relevant, known)
        if o.exclusive and q.type != "multi":
            out.append(f"{where}: option {o.key}: exclusive: only in a multi question")
    for n, v in enumerate(q.variants, 1):
        out += _one_of(f"{where}: variant #{n}", "label", v.label, v.label_key)
        out += _expr(f"{where}: variant #{n}: relevant", v.relevant, known)
    return out


def _one_of(where: str, name: str, inline: object, key: str | None) -> list[str]:
    if inline is None and key is None:
        return [f"{where}: {name}: missing (give {name} or {name}_key)"]
    if inline is not None and key is not None:
        return [f"{where}: {name}: give {name} or {name}_key, not both"]
    if isinstance(inline, dict) and "vi" not in inline:
        return [f"{where}: {name}: the Vietnamese text (vi) is missing"]
    return []


def _expr(where: str, source: str | None, known: Iterable[str]) -> list[str]:
    if source is None:
        return []
    try:
        tree = compile_expr(str(source))
    except SyntaxError as e:
        return [f"{where}: not a valid expression ({e.msg})"]
    except ExprError as e:
        return [f"{where}: {e}"]
    unknown = sorted(names_in(tree) - set(known))
    if unknown:
        return [f"{where}: unknown name {', '.join(repr(u) for u in unknown)}"]
    return []
