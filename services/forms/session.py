"""One questionnaire conversation as a pure session: ``resume(position, input)`` returns the new
position and the events to show. The session holds no database and does no I/O: the handler
loads the stored answers into it, saves what ``Accepted`` and ``SectionEmpty`` carry, renders
the events in the user's language, and stores the position in the conversation state.

    Ask          put a question (its number, whether it opens a section, its choices)
    Accepted     an answer was read: save it (a ``secret`` carries its text once, to encrypt)
    SectionEmpty "no activity" in a section: its counts are 0
    Invalid      what was typed cannot be read: the message, then the same question again
    Note         something to say before the next question (e.g. "3 places match")
    Summary      every answer, numbered: a number edits that answer
    Violations   the consistency rules that fail, when the user asks to submit
    Submit       all answered and consistent: the handler submits (and says so)

Both the report (handlers/report.py) and the case intake (handlers/cases/intake.py) run on it;
what only one of them needs comes in as data (the form file) or as a hook (``Hooks``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from services.forms import parsers as p
from services.forms.engine import COUNT_TYPES, Form, Option, Question, Section, Violation
from services.forms.parsers import ParseError

# Option keys the engine gives meaning to (buttons and typed aliases map to them).
NONE = "__none__"  # the whole section had no activity
SKIP = "__skip__"
DONE = "__done__"
SUGGEST = "__suggest__"
YES = "yes"
NO = "no"
SUBMIT = "submit"
# Words before a line number in the summary: "sửa 3", "câu 3", "dòng 3", "edit 3".
EDIT_WORDS = ("sua", "edit", "cau", "dong")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class Position(BaseModel):
    """Where the conversation is: the engine's part of a flow's typed state."""

    model_config = ConfigDict(extra="ignore")

    mode: Literal["ask", "summary"] = "ask"
    q: str | None = None  # the question being asked
    sel: list[str] = []  # options ticked so far in a multiple choice
    matches: list[list[Any]] = []  # places offered after a search: [key, label]


# -- inputs ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Answer:
    """A message: a tapped (or typed-and-mapped) option, and/or text."""

    option: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class Next:
    """Ask the first unanswered question, or show the summary when all are answered."""


@dataclass(frozen=True)
class Again:
    """Put the pending step again (after a sticker, a photo, or on coming back)."""


@dataclass(frozen=True)
class ShowSummary:
    pass


Input = Answer | Next | Again | ShowSummary


# -- events ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Ask:
    question: Question
    number: int
    total: int
    section: Section
    opens_section: bool  # first question of its section that applies
    options: list[Option]  # the options offered (relevance applied)
    selected: list[str]  # ticked options of a multiple choice
    matches: list[list[Any]]  # places found by the last search
    suggestion: Any | None  # a value another feature suggests (offered as a choice)
    offer_none: bool  # "no activity" may answer the whole section


@dataclass(frozen=True)
class Accepted:
    question: Question
    value: Any
    secret: str | None = field(default=None, repr=False)  # the text of a secret, once


@dataclass(frozen=True)
class SectionEmpty:
    section: Section
    values: dict[str, Any]


@dataclass(frozen=True)
class Invalid:
    key: str  # catalog key, already the form's own (Form.message)
    params: dict[str, Any]


@dataclass(frozen=True)
class Note:
    key: str
    params: dict[str, Any]


@dataclass(frozen=True)
class Summary:
    rows: list[tuple[int, Question, Any]]


@dataclass(frozen=True)
class Violations:
    violations: list[Violation]
    numbers: dict[str, int]  # question id → its line in the summary


@dataclass(frozen=True)
class Submit:
    values: dict[str, Any]  # the answers of the questions that apply (a snapshot)


Event = Ask | Accepted | SectionEmpty | Invalid | Note | Summary | Violations | Submit


# -- hooks -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Found:
    """A place search found one: its stored value (e.g. ``{"id": 7, "name": "Xã X"}``)."""

    value: Any


@dataclass(frozen=True)
class Candidates:
    """A place search found several: offer them and say so with ``note``."""

    matches: list[list[Any]]
    note: Note


PlaceLookup = Callable[
    [Question, str | None, str | None, list[list[Any]]], Awaitable[Found | Candidates]
]
TextParser = Callable[[str | None, date], Any]
# The option key free words mean ("chồng" → partner), among the keys offered; None if unclear.
Meaning = Callable[[Question, str, list[str]], str | None]
# The options words name in one item of a multiple choice ("bị đánh và chửi" → two).
Meanings = Callable[[Question, str, list[str]], list[str]]


@dataclass
class Hooks:
    """What a conversation lends the engine for its own question types: ``parsers`` read typed
    text for ``age`` and ``when``; ``place`` resolves a tap or searches typed text (it may read
    the database: it is the handler's); ``meaning`` reads free words as an option when loose
    matching found none (after the option ``synonyms`` of the form file)."""

    parsers: Mapping[str, TextParser] = field(default_factory=dict)
    place: PlaceLookup | None = None
    meaning: Meaning | None = None
    meanings: Meanings | None = None


def _number(q: Question, relevant: list[Question], values: Mapping[str, Any]) -> int:
    """ "Câu n/total": a new question is one more than the questions that apply and are
    answered, so the counter moves by exactly what was answered ("không có hoạt động" answers
    its whole section at once) and never goes back, even on a draft whose form gained
    questions before the ones answered; an answered question (edited from the summary) keeps
    its line number. ``total`` is the questions that apply given the answers so far: it grows
    only by what a new answer made relevant (tests/test_progress.py)."""
    if q.id in values:
        return next((i for i, x in enumerate(relevant, 1) if x.id == q.id), len(relevant))
    return 1 + sum(1 for x in relevant if x.id in values)


# -- the session -----------------------------------------------------------------------------
@dataclass
class Session:
    form: Form
    context: dict[str, Any]  # names the form's expressions use besides answers
    values: dict[str, Any]  # the stored answers, by question id
    today: date
    lang: str = "vi"  # typed labels are matched in the user's language
    suggestions: dict[str, Any] = field(default_factory=dict)
    hooks: Hooks = field(default_factory=Hooks)

    @property
    def env(self) -> dict[str, Any]:
        return {**self.context, **self.values}

    def relevant(self) -> list[Question]:
        return self.form.relevant_questions(self.env)

    def next_question(self) -> Question | None:
        return self.form.next_unanswered(self.values, self.context)

    # -- driving -------------------------------------------------------------------------
    async def resume(self, pos: Position, inp: Input) -> tuple[Position, list[Event]]:
        """One step: the input against the current position → the new position and events."""
        pos = pos.model_copy(deep=True)
        events: list[Event] = []
        if isinstance(inp, Next):
            self._advance(pos, events)
        elif isinstance(inp, ShowSummary):
            self._summary(pos, events)
        elif isinstance(inp, Again):
            q = self.form.by_id.get(pos.q or "")
            if pos.mode == "ask" and q is not None:
                events.append(self._ask(pos, q))
            elif pos.mode == "summary":
                self._summary(pos, events)
            else:
                self._advance(pos, events)
        elif pos.mode == "summary":
            self._summary_answer(pos, inp, events)
        else:
            await self._answer(pos, inp, events)
        return pos, events

    def _advance(self, pos: Position, events: list[Event]) -> None:
        pos.sel, pos.matches = [], []
        q = self.next_question()
        if q is None:
            self._summary(pos, events)
        else:
            events.append(self._ask(pos, q))

    def _summary(self, pos: Position, events: list[Event]) -> None:
        pos.mode, pos.q, pos.sel, pos.matches = "summary", None, [], []
        rows = [(i, q, self.values.get(q.id)) for i, q in enumerate(self.relevant(), 1)]
        events.append(Summary(rows))

    def _ask(self, pos: Position, q: Question) -> Ask:
        if pos.mode != "ask" or pos.q != q.id:
            # Newly asked: a multiple choice starts from its current answer.
            current = self.values.get(q.id)
            pos.sel = list(current) if q.type == "multi" and isinstance(current, list) else []
            pos.matches = []
        pos.mode, pos.q = "ask", q.id
        env = self.env
        relevant = self.form.relevant_questions(env)
        number = _number(q, relevant, self.values)
        section = self.form.section_of[q.id]
        applies = {x.id for x in relevant}
        first = next((x for x in section.questions if x.id in applies), None)
        opens = first is not None and first.id == q.id
        suggested = self.suggestions.get(q.id)
        if suggested is not None and (q.id in self.values or q.type not in COUNT_TYPES):
            suggested = None
        return Ask(
            question=q,
            number=number,
            total=len(relevant),
            section=section,
            opens_section=opens,
            options=q.options_for(env),
            selected=list(pos.sel),
            matches=list(pos.matches),
            suggestion=suggested,
            offer_none=section.no_activity and opens,
        )

    def _invalid(self, pos: Position, q: Question, e: ParseError, events: list[Event]) -> None:
        events.append(Invalid(self.form.message(e.key), dict(e.params)))
        events.append(self._ask(pos, q))

    # -- answering a question ------------------------------------------------------------
    async def _answer(self, pos: Position, inp: Answer, events: list[Event]) -> None:
        q = self.form.by_id.get(pos.q or "")
        if q is None:
            self._advance(pos, events)
            return
        if inp.option == NONE and self.form.section_of[q.id].no_activity:
            section = self.form.section_of[q.id]
            zeros = self.form.none_values(section)
            self.values.update(zeros)
            events.append(SectionEmpty(section, zeros))
            self._advance(pos, events)
            return
        secret: str | None = None
        try:
            tapped = inp.option is not None and inp.text is None
            if q.type == "multi" and tapped and inp.option not in (DONE, SKIP, SUGGEST):
                assert inp.option is not None
                self._toggle(pos, q, inp.option, events)
                return
            if q.type == "place" and inp.option != SKIP:
                found = await self._place(q, inp, pos)
                if isinstance(found, Candidates):
                    pos.matches = found.matches
                    events.append(found.note)
                    events.append(self._ask(pos, q))
                    return
                value = found.value
            else:
                value = self.read(q, inp, pos)
                if q.type == "secret" and value is not None:
                    secret, value = value, True
        except ParseError as e:
            self._invalid(pos, q, e, events)
            return
        self.values[q.id] = value
        events.append(Accepted(q, value, secret))
        self._advance(pos, events)

    def _toggle(self, pos: Position, q: Question, key: str, events: list[Event]) -> None:
        """A tapped option of a multiple choice ticks or unticks it; "Xong" ends the answer."""
        if key not in {o.key for o in q.options_for(self.env)}:
            n = len(q.options_for(self.env))
            self._invalid(pos, q, ParseError("err.choice_unknown", n=n), events)
            return
        if key in pos.sel:
            pos.sel.remove(key)
        else:
            pos.sel.append(key)
        events.append(self._ask(pos, q))

    async def _place(self, q: Question, inp: Answer, pos: Position) -> Found | Candidates:
        if self.hooks.place is None:
            raise ValueError(f"{q.id}: a place question needs a place hook")
        return await self.hooks.place(q, inp.option, inp.text, pos.matches)

    def read(self, q: Question, inp: Answer, pos: Position) -> Any:
        """The value an answer gives ``q``, or ParseError."""
        option, text = inp.option, inp.text
        options = q.options_for(self.env)
        if option == SUGGEST and q.id in self.suggestions:
            return self.suggestions[q.id]
        if option == SKIP or (text is not None and option is None and p.is_skip(text)):
            if q.required:
                raise ParseError("err.required")
            return None
        if q.type == "multi" and option == DONE:
            keys = [k for k in pos.sel if any(o.key == k for o in options)]
            return self._multi_value(q, keys)
        if q.type == "yes_no" and option in (YES, NO):
            return option == YES
        if q.type in ("choice", "age", "when") and any(o.key == option for o in options):
            return option
        return self.parse(q, text)

    def _multi_value(self, q: Question, keys: list[str]) -> list[str]:
        if not keys and (q.required or self.form.matching == "loose"):
            raise ParseError("err.choose_one")
        exclusive = {o.key for o in q.options if o.exclusive}
        if len(keys) > 1:
            keys = [k for k in keys if k not in exclusive]
        return keys

    def parse(self, q: Question, text: str | None) -> Any:
        """Typed text → value (types the form engine knows, and the hooks' parsers)."""
        if q.type in self.hooks.parsers:
            return self.hooks.parsers[q.type](text, self.today)
        if q.type == "secret":
            value = _CONTROL.sub("", text or "").strip()
            if not value:
                raise ParseError("err.empty")
            limit = q.max_length or p.MAX_TEXT_DEFAULT
            if len(value) > limit:
                raise ParseError("err.text_too_long", length=len(value), max=limit)
            return value
        if q.type in ("choice", "multi") and self.form.matching == "loose":
            return self._loose(q, text)
        return self.form.parse(q, text, today=self.today)

    def _loose(self, q: Question, text: str | None) -> Any:
        options = q.options_for(self.env)
        if text is None or not text.strip():
            if q.type == "multi":
                raise ParseError("err.choose_one")
            raise ParseError("err.choice_unknown", n=len(options))
        if q.type == "choice":
            return self._loose_one(q, options, text)
        keys: list[str] = []
        offered = [o.key for o in options]
        for item in p.split_list(text):
            named = self.hooks.meanings(q, item, offered) if self.hooks.meanings else []
            for key in named or [self._loose_one(q, options, item)]:
                if key not in keys:
                    keys.append(key)
        return self._multi_value(q, keys)

    def _loose_one(self, q: Question, options: list[Option], text: str) -> str:
        try:
            return loose_match(options, text, self.lang).key
        except ParseError:
            meant = (
                self.hooks.meaning(q, text, [o.key for o in options])
                if self.hooks.meaning
                else None
            )
            if meant is None:
                raise
            return meant

    # -- the summary ---------------------------------------------------------------------
    def _summary_answer(self, pos: Position, inp: Answer, events: list[Event]) -> None:
        if inp.option == SUBMIT:
            missing = self.next_question()
            if missing is not None:
                events.append(self._ask(pos, missing))
                return
            relevant = self.relevant()
            violations = self.form.check_rules(self.values, self.context)
            if violations:
                pos.mode, pos.q = "summary", None
                numbers = {q.id: i for i, q in enumerate(relevant, 1)}
                events.append(Violations(violations, numbers))
                return
            events.append(Submit({q.id: self.values.get(q.id) for q in relevant}))
            return
        word = p.fold(inp.text or "")
        for prefix in EDIT_WORDS:
            word = word.removeprefix(prefix).strip()
        relevant = self.relevant()
        if p.is_number(word) and 1 <= int(word) <= len(relevant):
            events.append(self._ask(pos, relevant[int(word) - 1]))
            return
        events.append(Invalid(self.form.message("err.summary"), {"n": len(relevant)}))
        self._summary(pos, events)


def loose_match(options: list[Option], text: str, lang: str) -> Option:
    """For people who type freely: a number, a yes/no word for yes/no options, a key, a whole
    label or synonym, or a unique part (3 letters or more) of one label."""
    word = p.fold(text).strip(" .!")
    if p.is_number(word):
        n = int(word)
        if 1 <= n <= len(options):
            return options[n - 1]
        raise ParseError("err.choice_unknown", n=len(options))
    keys = {o.key for o in options}
    for yes_no, words in (("yes", p.YES_WORDS), ("no", p.NO_WORDS)):
        if yes_no in keys and word in words:
            return next(o for o in options if o.key == yes_no)
    folded = {o.key: p.fold(o.text(lang)) for o in options}
    for o in options:
        if word in (o.key, folded[o.key]) or word in o.synonyms:
            return o
    partial = [o for o in options if len(word) >= 3 and word in folded[o.key]]
    if len(partial) == 1:
        return partial[0]
    raise ParseError("err.choice_unknown", n=len(options))
