"""The intake of a violence case, hotline-style: anyone can start it, without registering.

    /baovuviec → numbers 113 · 111 · 115 · 1900 969 680, then
                 "Câu 1/14: Có ai đang gặp nguy hiểm ngay lúc này không?"
    1 (Có)     → the emergency numbers in full, then "Câu 2/14: Việc xảy ra ở xã/phường nào?"
    thach lac  → "✓ Xã Thạch Lạc" + the commune's duty numbers, "Câu 3/14: …"
    …          → a summary to check (a number edits that line), then "gửi"
    gửi        → "Mã tin báo của bạn: VV-2026-000123" and the numbers again

Each answer is stored at once in the case row (a draft until sent), so nothing typed is lost
and a restart resumes at the first unanswered question. The description and the call-back
contact are encrypted before they reach the database and never kept in the conversation
state. ``/xoa`` deletes the draft at once and explains how to delete the chat on the phone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from sqlalchemy import delete, update
from sqlmodel import col, select

from db import cases as store
from db.cases import DRAFT, Case, CaseEvent
from db.models import AuditLog, Unit
from handlers.context import Ctx, Safe
from handlers.router import Deps, Router, Routes
from kernel.messages import Choice
from services.cases import routing, texts
from services.cases.config import keyring
from services.cases.parsers import (
    COMMUNE_KINDS,
    MAX_MATCHES,
    Place,
    best_match,
    choice_from_text,
    is_danger_text,
    parse_age,
    parse_when,
    search_places,
)
from services.cases.texts import OPTIONS
from services.forms.parsers import (
    NO_WORDS,
    YES_WORDS,
    ParseError,
    fold,
    is_number,
    is_skip,
    split_list,
)

FLOW = "case"
SKIP = "__skip__"
DONE = "__done__"
SUBMIT = "submit"
ERASE = "erase"
RESUME = "resume"
RESTART = "restart"
UNIT_PREFIX = "unit:"
UNKNOWN_UNIT = "unit:unknown"
DESCRIPTION_MAX = 1000
CONTACT_MAX = 200
ERASE_WORDS = {"xoa", "/xoa", "xoa het", "xoa di"}
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


routes = Routes()


@dataclass(frozen=True)
class Step:
    id: str
    kind: str  # choice | multi | unit | age | when | text
    group: str = ""
    who: str = "all"  # all | citizen | officer


STEPS = (
    Step("danger", "choice", "danger"),
    Step("unit", "unit"),
    Step("affected", "choice", "aff", who="citizen"),
    Step("sex", "choice", "sex"),
    Step("age", "age", "age"),
    Step("forms", "multi", "form"),
    Step("relation", "choice", "rel"),
    Step("when", "when", "when"),
    Step("help", "multi", "help"),
    Step("source", "choice", "src", who="officer"),
    Step("actions", "multi", "act", who="officer"),
    Step("description", "text"),
    Step("anonymity", "choice", "anon", who="citizen"),
    Step("contact", "text"),
    Step("consent", "choice", "consent"),
)
BY_ID = {s.id: s for s in STEPS}
# Multi-choice options that mean "nothing" and so cannot go with others.
EXCLUSIVE = {"none"}


def by_officer(case: Case) -> bool:
    return case.reported_by is not None


def applies(step: Step, case: Case) -> bool:
    officer = by_officer(case)
    if step.who == "citizen" and officer or step.who == "officer" and not officer:
        return False
    if step.id == "contact" and not officer:
        return case.anonymous is False
    return True


def steps_for(case: Case) -> list[Step]:
    return [s for s in STEPS if applies(s, case)]


def next_step(case: Case) -> Step | None:
    return next((s for s in steps_for(case) if s.id not in case.steps_done), None)


def options(step: Step, case: Case) -> tuple[str, ...]:
    keys = OPTIONS[step.group]
    if step.id == "consent" and not by_officer(case):
        keys = ("yes", "no")
    return keys


def reporter_id(ctx: Ctx) -> str:
    return f"{ctx.account.channel}:{ctx.account.user_id}"


def audit_private(ctx: Ctx, action: str, target: str | None, outcome: str = "ok") -> None:
    """An audit row for a citizen's action: without their account, so the log cannot tie a
    messenger account to a case."""
    ctx.s.add(AuditLog(at=ctx.now, action=action, target=target, outcome=outcome))


# -- starting ------------------------------------------------------------------------------------
@routes.command(
    "baovuviec",
    help="help.baovuviec",
    roles=("public", "officer"),
    aliases=("baotin", "sos", "cuu"),
    order=5,
)
async def start_intake(ctx: Ctx, _args: str) -> None:
    """/baovuviec: the numbers first, then "is someone in danger right now?"."""
    numbers = ctx.t("case.numbers_line")
    if ctx.conv.flow == FLOW and ctx.state.get("step") not in (None, "resume"):
        case = await _case(ctx)
        if case is not None or ctx.state.get("step") == "danger":
            await _ask_current(ctx, case, prefix=numbers + "\n\n" + ctx.t("case.continuing"))
            return
    draft = await store.draft_for(ctx.s, keyring().tags(reporter_id(ctx)))
    if draft is not None:
        ctx.set_flow(FLOW, step="resume", case_id=draft.id)
        choices = [
            Choice(RESUME, ctx.t("case.resume_yes")),
            Choice(RESTART, ctx.t("case.resume_no")),
        ]
        ctx.say_text(numbers + "\n\n" + ctx.t("case.resume_ask"), choices=choices)
        ctx.remember_menu(choices)
        return
    ctx.set_flow(FLOW, step="danger")
    await ask(ctx, None, BY_ID["danger"], prefix=ctx.t("case.intro", numbers=Safe(numbers)))


routes.menu_item("menu:case", "menu.case", start_intake, order=10)


@routes.welcome_hook
async def danger_welcome(ctx: Ctx) -> bool:
    """For the welcome of someone not registered: when their message has danger words
    ("cứu", "đánh", "bạo lực", "nguy hiểm", "help" …), lead with the emergency numbers and
    the offer to report. Returns True when it said something (the menu follows as usual)."""
    if ctx.officer is not None or not is_danger_text(ctx.inc.text):
        return False
    ctx.say_text(ctx.t("case.danger_welcome", numbers=Safe(ctx.t("case.numbers"))))
    return True


# -- asking ------------------------------------------------------------------------------------
async def _case(ctx: Ctx) -> Case | None:
    case_id = ctx.state.get("case_id")
    if case_id is None:
        return None
    case = await ctx.s.get(Case, case_id)
    return case if case is not None and routing.still_in_intake(case) else None


def _question_key(step: Step, case: Case | None) -> str:
    if step.id in ("sex", "age") and case is not None and case.affected == "self":
        return f"case.ask.{step.id}_self"
    if step.id in ("consent", "contact") and case is not None and by_officer(case):
        return f"case.ask.{step.id}_officer"
    return f"case.ask.{step.id}"


async def ask(ctx: Ctx, case: Case | None, step: Step, prefix: str = "") -> None:
    """Put ``step``'s question with its number, hint and choices."""
    steps = steps_for(case) if case is not None else [s for s in STEPS if applies(s, _blank(ctx))]
    number = next((i for i, s in enumerate(steps, 1) if s.id == step.id), len(steps))
    lines = [prefix, ""] if prefix else []
    lines.append(
        ctx.t(
            "case.question",
            n=number,
            total=len(steps),
            label=Safe(ctx.t(_question_key(step, case))),
        )
    )
    if step.id in ("unit", "age", "when", "forms", "help", "actions", "description", "contact"):
        lines.append("<i>" + ctx.t(f"case.hint.{step.id}") + "</i>")
    choices: list[Choice] = []
    numbered = True
    if step.kind in ("choice", "age", "when"):
        keys = options(step, case) if case is not None else OPTIONS[step.group]
        choices = [Choice(k, texts.label(ctx.lang, step.group, k)) for k in keys]
    elif step.kind == "multi":
        assert case is not None
        if ctx.state.get("step") != step.id:
            ctx.update_state(sel=list(getattr(case, _FIELD[step.id])))
        selected = ctx.state.get("sel", [])
        choices = [
            Choice(k, texts.label(ctx.lang, step.group, k), selected=k in selected)
            for k in OPTIONS[step.group]
        ]
        choices.append(Choice(DONE, ctx.t("case.done"), alias=ctx.t("case.done_alias")))
    elif step.kind == "unit":
        choices = await _unit_choices(ctx)
    else:  # text
        numbered = False
        lines.append(ctx.t("case.optional"))
        choices = [Choice(SKIP, ctx.t("case.skip"), alias="-")]
    lines.append(ctx.t("case.footer"))
    ctx.update_state(step=step.id)
    ctx.say_text("\n".join(lines), choices=choices, numbered=numbered)
    ctx.remember_menu(choices, numbered)


def _blank(ctx: Ctx) -> Case:
    """A case not created yet (before the first answer), to count the questions."""
    return Case(reported_by=ctx.officer.id if ctx.officer else None)


async def _unit_choices(ctx: Ctx) -> list[Choice]:
    matches = ctx.state.get("matches") or []
    choices = [Choice(f"{UNIT_PREFIX}{uid}", name) for uid, name in matches]
    if not matches and ctx.unit is not None and ctx.unit.kind in COMMUNE_KINDS:
        choices.append(Choice(f"{UNIT_PREFIX}{ctx.unit.id}", ctx.unit.name))
    choices.append(Choice(UNKNOWN_UNIT, ctx.t("case.unit_unknown")))
    return choices


async def _ask_current(ctx: Ctx, case: Case | None, prefix: str = "") -> None:
    step_id = ctx.state.get("step")
    if step_id == "confirm" and case is not None:
        await show_summary(ctx, case, prefix)
    elif step_id in BY_ID:
        await ask(ctx, case, BY_ID[step_id], prefix)
    elif case is not None:
        await advance(ctx, case, prefix)


async def advance(ctx: Ctx, case: Case, prefix: str = "") -> None:
    """The next unanswered question, or the summary when all are answered."""
    ctx.update_state(sel=[], matches=[])
    step = next_step(case)
    if step is None:
        await show_summary(ctx, case, prefix)
    else:
        await ask(ctx, case, step, prefix)


# -- answering ---------------------------------------------------------------------------------
@routes.flow(FLOW)
async def intake_flow(ctx: Ctx) -> None:
    """Every message while an intake is open."""
    text = ctx.inc.text
    if text is not None and ctx.inc.option is None and fold(text).strip(" .!") in ERASE_WORDS:
        await erase(ctx, "")
        return
    step_id = ctx.state.get("step")
    if step_id == "resume":
        await _resume_answer(ctx)
        return
    case = await _case(ctx)
    if case is None and step_id != "danger":
        # The draft is gone (sent from another device, or erased): start again, kindly.
        ctx.set_flow(FLOW, step="danger")
        await ask(ctx, None, BY_ID["danger"], prefix=ctx.t("case.restarted"))
        return
    if ctx.reprompt:
        await _ask_current(ctx, case)
        return
    if step_id == "confirm" and case is not None:
        await _summary_answer(ctx, case)
        return
    step = BY_ID.get(step_id or "")
    if step is None:
        assert case is not None
        await advance(ctx, case)
        return
    try:
        if step.id == "danger":
            case, ack = await _answer_danger(ctx, case)
        else:
            assert case is not None
            answered = await ANSWER[step.kind](ctx, case, step)
            if answered is None:
                return  # the same question was asked again (a toggle, a list of places)
            ack = answered
    except ParseError as e:
        await ask(ctx, case, step, prefix="⚠️ " + ctx.t(e.key, **e.params))
        return
    if step.id not in case.steps_done:
        case.steps_done = [*case.steps_done, step.id]
    case.updated_at = ctx.now
    reached = await routing.on_answer(ctx.s, case, now=ctx.now, officer_id=_officer_id(ctx))
    ack += "\n\n" + texts.alerted_now(ctx.lang, case, reached.roles) if reached is not None else ""
    await advance(ctx, case, prefix=ack)


def _officer_id(ctx: Ctx) -> int | None:
    return ctx.officer.id if ctx.officer else None


def _typed_choice(ctx: Ctx, step: Step, keys: tuple[str, ...]) -> str:
    return match_choice(ctx.lang, step.group, keys, ctx.inc.option, ctx.inc.text)


def match_choice(
    lang: str, group: str, keys: tuple[str, ...], option: str | None, text: str | None
) -> str:
    """The option key for a tap, a typed number, a label (or a unique part of one), or a
    yes/no word for yes/no questions."""
    if option in keys:
        return str(option)
    if text is None or not text.strip():
        raise ParseError("case.err.choice", n=len(keys))
    word = fold(text).strip(" .!")
    if is_number(word):
        n = int(word)
        if 1 <= n <= len(keys):
            return keys[n - 1]
        raise ParseError("case.err.choice", n=len(keys))
    if "yes" in keys and word in YES_WORDS:
        return "yes"
    if "no" in keys and word in NO_WORDS:
        return "no"
    labels = {k: fold(texts.label(lang, group, k)) for k in keys}
    for k, lab in labels.items():
        if word in (lab, k):
            return k
    partial = [k for k, lab in labels.items() if len(word) >= 3 and word in lab]
    if len(partial) == 1:
        return partial[0]
    if (meant := choice_from_text(group, text, keys)) is not None:
        return meant  # words that mean an option: "có, đang bị đánh" → yes, "chong" → partner
    raise ParseError("case.err.choice", n=len(keys))


async def _answer_danger(ctx: Ctx, case: Case | None) -> tuple[Case, str]:
    key = _typed_choice(ctx, BY_ID["danger"], OPTIONS["danger"])
    if case is None:
        case = Case(
            status=DRAFT,
            reporter_tag=keyring().tags(reporter_id(ctx))[0],
            reported_by=ctx.officer.id if ctx.officer else None,
            created_at=ctx.now,
            updated_at=ctx.now,
            steps_done=[],
        )
        ctx.s.add(case)
        await ctx.s.flush()
        ctx.update_state(case_id=case.id)
    case.danger_now = key == "yes"
    if not case.danger_now:
        return case, "✓ " + ctx.t("case.danger_no_ack")
    unit = await ctx.s.get(Unit, case.unit_id) if case.unit_id else None
    block = await texts.emergency_block(ctx.s, ctx.lang, unit)
    return case, block + "\n" + ctx.t("case.safety_tip")


async def _answer_choice(ctx: Ctx, case: Case, step: Step) -> str | None:
    key = _typed_choice(ctx, step, options(step, case))
    if step.id == "anonymity":
        case.anonymous = key == "anon"
        if case.anonymous:
            case.contact_enc = None
            case.steps_done = [s for s in case.steps_done if s != "contact"]
    else:
        setattr(case, _FIELD[step.id], key)
    return "✓ " + texts.label(ctx.lang, step.group, key)


async def _answer_age(ctx: Ctx, case: Case, step: Step) -> str | None:
    option = ctx.inc.option
    key = option if option in OPTIONS["age"] else parse_age(ctx.inc.text)
    case.age_group = key
    return "✓ " + texts.label(ctx.lang, "age", key)


async def _answer_when(ctx: Ctx, case: Case, step: Step) -> str | None:
    option = ctx.inc.option
    if option in OPTIONS["when"]:
        key, day = str(option), None
    else:
        key, day = parse_when(ctx.inc.text, ctx.today)
    case.occurred, case.occurred_on = key, day
    shown = ctx.fmt_date(day) if day else texts.label(ctx.lang, "when", key)
    return "✓ " + shown


async def _answer_multi(ctx: Ctx, case: Case, step: Step) -> str | None:
    keys = OPTIONS[step.group]
    option, text = ctx.inc.option, ctx.inc.text
    if option == DONE:
        selected = [k for k in ctx.state.get("sel", []) if k in keys]
    elif option in keys and text is None:
        selected = list(ctx.state.get("sel", []))
        selected.remove(option) if option in selected else selected.append(str(option))
        ctx.update_state(sel=selected)
        await ask(ctx, case, step)
        return None
    else:
        if text is None or not text.strip():
            raise ParseError("case.err.choose_one")
        selected = []
        for item in split_list(text):
            one = match_choice(ctx.lang, step.group, keys, None, item)
            if one not in selected:
                selected.append(one)
    if not selected:
        raise ParseError("case.err.choose_one")
    if len(selected) > 1:
        selected = [k for k in selected if k not in EXCLUSIVE]
    setattr(case, _FIELD[step.id], selected)
    return "✓ " + texts.labels(ctx.lang, step.group, selected)


async def _answer_text(ctx: Ctx, case: Case, step: Step) -> str | None:
    option, text = ctx.inc.option, ctx.inc.text
    limit = DESCRIPTION_MAX if step.id == "description" else CONTACT_MAX
    field = "description_enc" if step.id == "description" else "contact_enc"
    if option == SKIP or (text is not None and is_skip(text)):
        setattr(case, field, None)
        return "✓ " + ctx.t("case.skipped")
    value = _CONTROL.sub("", text or "").strip()
    if not value:
        raise ParseError("case.err.empty")
    if len(value) > limit:
        raise ParseError("case.err.too_long", length=len(value), max=limit)
    setattr(case, field, keyring().encrypt(value, f"case:{case.id}:{step.id}"))
    return "✓ " + ctx.t("case.saved_encrypted")


async def _answer_unit(ctx: Ctx, case: Case, step: Step) -> str | None:
    option, text = ctx.inc.option, ctx.inc.text
    allowed = {f"{UNIT_PREFIX}{c_id}" for c_id, _ in ctx.state.get("matches") or []}
    if ctx.unit is not None and ctx.unit.kind in COMMUNE_KINDS:
        allowed.add(f"{UNIT_PREFIX}{ctx.unit.id}")
    unit: Unit | None
    if option == UNKNOWN_UNIT:
        unit = (
            await ctx.s.exec(
                select(Unit).where(col(Unit.parent_id).is_(None)).order_by(col(Unit.path))
            )
        ).first()
    elif option is not None and option in allowed:
        unit = await ctx.s.get(Unit, int(option.removeprefix(UNIT_PREFIX)))
    else:
        units = (await ctx.s.exec(select(Unit))).all()
        places = [Place(u.id or 0, u.name, u.code, u.kind, u.parent_id) for u in units]
        matches = search_places(text, places)
        if not matches:
            raise ParseError("case.err.search_none", query=(text or "").strip()[:40])
        best = best_match(matches)
        if best is not None:
            unit = await ctx.s.get(Unit, best.unit_id)
        else:
            shown = matches[:MAX_MATCHES]
            ctx.update_state(matches=[[m.unit_id, m.label] for m in shown])
            key = "case.unit_matches" if len(matches) <= len(shown) else "case.unit_many"
            await ask(ctx, case, step, prefix=ctx.t(key, n=len(matches), shown=len(shown)))
            return None
    if unit is None:
        raise ParseError("case.err.search_none", query="")
    case.unit_id = unit.id
    ack = "✓ " + ctx.t("case.unit_chosen", unit=unit.name)
    if case.danger_now:
        local = await texts.duty_contacts(ctx.s, unit)
        if local is not None:
            ack += "\n" + ctx.t("case.numbers_local", unit=local[0].name, numbers=local[1])
    return ack


ANSWER = {
    "choice": _answer_choice,
    "multi": _answer_multi,
    "unit": _answer_unit,
    "age": _answer_age,
    "when": _answer_when,
    "text": _answer_text,
}
_FIELD = {
    "affected": "affected",
    "sex": "victim_sex",
    "relation": "relation",
    "source": "source",
    "consent": "consent",
    "forms": "forms",
    "help": "help_needed",
    "actions": "actions_taken",
}


# -- summary and sending -----------------------------------------------------------------------
async def _value_text(ctx: Ctx, case: Case, step: Step) -> str:
    lang = ctx.lang
    if step.id == "danger":
        return texts.label(lang, "danger", "yes" if case.danger_now else "no")
    if step.id == "unit":
        unit = await ctx.s.get(Unit, case.unit_id) if case.unit_id else None
        return unit.name if unit else ctx.t("case.value_none")
    if step.id == "age":
        return texts.label(lang, "age", case.age_group)
    if step.id == "when":
        if case.occurred_on is not None:
            return ctx.fmt_date(case.occurred_on)
        return texts.label(lang, "when", case.occurred)
    if step.id == "anonymity":
        return texts.label(lang, "anon", "anon" if case.anonymous else "contact")
    if step.id in ("description", "contact"):
        stored = case.description_enc if step.id == "description" else case.contact_enc
        return ctx.t("case.value_given" if stored else "case.value_none")
    value = getattr(case, _FIELD[step.id])
    if isinstance(value, list):
        return texts.labels(lang, step.group, value)
    return texts.label(lang, step.group, value)


async def show_summary(ctx: Ctx, case: Case, prefix: str = "") -> None:
    """Everything answered, numbered: a number edits that answer, "gửi" sends."""

    lines = [prefix, ""] if prefix else []
    lines.append(ctx.t("case.summary_title"))
    for i, step in enumerate(steps_for(case), 1):
        value = escape(await _value_text(ctx, case, step))
        lines.append(f"{i}. {ctx.t(f'case.sum.{step.id}')}: <b>{value}</b>")
    lines.append("")
    lines.append(ctx.t("case.summary_help"))
    choices = [
        Choice(SUBMIT, ctx.t("case.submit"), alias=ctx.t("case.submit_alias")),
        Choice(ERASE, ctx.t("case.erase_choice"), alias=ctx.t("case.erase_alias")),
    ]
    ctx.update_state(step="confirm", sel=[], matches=[])
    ctx.say_text("\n".join(lines), choices=choices, numbered=False)
    ctx.remember_menu(choices, numbered=False)


async def _summary_answer(ctx: Ctx, case: Case) -> None:
    option = ctx.inc.option
    if option == SUBMIT:
        missing = next_step(case)
        if missing is not None:
            await ask(ctx, case, missing)
            return
        await _submit(ctx, case)
        return
    if option == ERASE:
        await erase(ctx, "")
        return
    word = fold(ctx.inc.text or "")
    for prefix in ("sua", "cau", "dong", "edit"):
        word = word.removeprefix(prefix).strip()
    steps = steps_for(case)
    if is_number(word) and 1 <= int(word) <= len(steps):
        ctx.update_state(matches=[], sel=[])
        await ask(ctx, case, steps[int(word) - 1])
        return
    await show_summary(ctx, case, prefix="⚠️ " + ctx.t("case.err.summary", n=len(steps)))


async def _submit(ctx: Ctx, case: Case) -> None:
    unit = await ctx.s.get(Unit, case.unit_id) if case.unit_id else None
    assert unit is not None
    officer_id = ctx.officer.id if ctx.officer else None
    told = await routing.submit(ctx.s, case, unit, now=ctx.now, officer_id=officer_id)
    assert case.code is not None
    if ctx.officer is not None:
        ctx.audit("cases.create", target=case.code)
    else:
        audit_private(ctx, "cases.create", case.code)
    ctx.clear_flow()
    block = await texts.emergency_block(ctx.s, ctx.lang, unit)
    ctx.say_text(
        texts.receipt(
            ctx.lang,
            code=case.code,
            time=ctx.fmt_date(case.alerted_at or ctx.now),
            roles=told.roles,
            block=block,
            now=ctx.now,
            acknowledged=case.acknowledged_at is not None,
        )
    )


async def _resume_answer(ctx: Ctx) -> None:
    option = ctx.inc.option
    case = await _case(ctx)
    if option == RESUME and case is not None:
        await advance(ctx, case, prefix=ctx.t("case.resumed"))
        return
    if option == RESTART or case is None:
        if case is not None:
            await _delete_draft(ctx, case)
        ctx.set_flow(FLOW, step="danger")
        await ask(ctx, None, BY_ID["danger"], prefix=ctx.t("case.numbers_line"))
        return
    choices = [Choice(RESUME, ctx.t("case.resume_yes")), Choice(RESTART, ctx.t("case.resume_no"))]
    ctx.say_text(ctx.t("case.resume_ask"), choices=choices)
    ctx.remember_menu(choices)


# -- erasing -----------------------------------------------------------------------------------
async def _delete_draft(ctx: Ctx, case: Case) -> None:
    if case.status != DRAFT:
        return  # alerted already: it stays with the people told (services.cases.routing)
    await ctx.s.exec(delete(CaseEvent).where(col(CaseEvent.case_id) == case.id))  # type: ignore[call-overload]
    await ctx.s.delete(case)
    await ctx.s.flush()


@routes.command("xoa", help="help.xoa", roles=("public", "officer"), aliases=("xoá",), order=7)
async def erase(ctx: Ctx, _args: str) -> None:
    """/xoa: stop at once, delete the unfinished report, and unlink this account from the
    cases it sent (they stay with the officers, but this phone can no longer look them up).
    Then say how to delete the chat on the phone."""
    tags = keyring().tags(reporter_id(ctx))
    drafts = (
        await ctx.s.exec(select(Case).where(Case.status == DRAFT, col(Case.reporter_tag).in_(tags)))
    ).all()
    for case in drafts:
        await _delete_draft(ctx, case)
    await routing.reporter_erased(ctx.s, tags, ctx.now)
    await ctx.s.exec(  # type: ignore[call-overload]
        update(Case)
        .where(col(Case.reporter_tag).in_(tags), col(Case.status) != DRAFT)
        .values(reporter_tag=None)
    )
    ctx.clear_flow()
    ctx.say("case.erased")
    ctx.say("case.numbers_line")


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
