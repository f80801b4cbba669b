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

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date
from html import escape
from typing import Any

from sqlalchemy import delete, update
from sqlmodel import col, select

from db import cases as store
from db.cases import DRAFT, Case, CaseEvent
from db.models import AuditLog, Unit
from handlers.context import Ctx, Safe
from handlers.router import Deps, Router, Routes
from handlers.state import CaseState
from kernel.messages import Choice
from services.cases import routing, texts
from services.cases.config import keyring
from services.cases.parsers import (
    COMMUNE_KINDS,
    MAX_MATCHES,
    Place,
    best_match,
    choice_from_text,
    choices_from_text,
    danger_kinds,
    is_danger_text,
    parse_age,
    parse_when,
    search_places,
)
from services.forms.engine import Form, Question, load_form
from services.forms.expr import Unanswered, evaluate
from services.forms.parsers import ParseError, fold
from services.forms.session import (
    DONE,
    SKIP,
    SUBMIT,
    Accepted,
    Again,
    Answer,
    Ask,
    Candidates,
    Event,
    Found,
    Hooks,
    Input,
    Invalid,
    Next,
    Note,
    Session,
    Submit,
    Summary,
)

routes = Routes()

FLOW = "case"
FORM_ID = "case_intake"
ERASE = "erase"
RESUME = "resume"
RESTART = "restart"
UNIT_PREFIX = "unit:"
UNKNOWN_UNIT = "unit:unknown"
ERASE_WORDS = {"xoa", "/xoa", "xoa het", "xoa di"}


def intake_form() -> Form:
    """The questions of the intake: services/forms/data/case_intake.yaml."""
    return load_form(FORM_ID)


@dataclass(frozen=True)
class Step:
    """A question of the intake and who is asked it: all, citizen or officer."""

    id: str
    who: str


def _who(q: Question) -> str:
    asked = []
    for reporter in ("citizen", "officer"):
        try:
            ok = q.relevant is None or bool(evaluate(q.relevant, {"reporter": reporter}))
        except Unanswered:
            ok = True  # depends on an answer: asked of this reporter when it applies
        if ok:
            asked.append(reporter)
    return "all" if len(asked) == 2 else asked[0]


STEPS = tuple(Step(q.id, _who(q)) for q in intake_form().questions)


def by_officer(case: Case) -> bool:
    return case.reported_by is not None


def reporter_id(ctx: Ctx) -> str:
    return f"{ctx.account.channel}:{ctx.account.user_id}"


def audit_private(ctx: Ctx, action: str, target: str | None, outcome: str = "ok") -> None:
    """An audit row for a citizen's action: without their account, so the log cannot tie a
    messenger account to a case."""
    ctx.s.add(AuditLog(at=ctx.now, action=action, target=target, outcome=outcome))


# -- the case row as answers, and back -----------------------------------------------------------
# Question id → the column that holds its answer, for the questions stored as they are.
_FIELD = {
    "affected": "affected",
    "sex": "victim_sex",
    "age": "age_group",
    "relation": "relation",
    "source": "source",
    "consent": "consent",
    "forms": "forms",
    "help": "help_needed",
    "actions": "actions_taken",
    "unit": "unit_id",
}


def answers(case: Case | None) -> dict[str, Any]:
    """The answers given so far, by question id. A secret is only ``True`` (given) or
    ``None`` (skipped): its text stays encrypted in the row."""
    if case is None:
        return {}
    out: dict[str, Any] = {qid: getattr(case, name) for qid, name in _FIELD.items()}
    out["danger"] = None if case.danger_now is None else ("yes" if case.danger_now else "no")
    out["when"] = case.occurred_on.isoformat() if case.occurred_on else case.occurred
    out["anonymity"] = None if case.anonymous is None else ("anon" if case.anonymous else "contact")
    out["description"] = True if case.description_enc else None
    out["contact"] = True if case.contact_enc else None
    return {qid: out[qid] for qid in case.steps_done if qid in out}


def _store(case: Case, ev: Accepted) -> None:
    """Write one accepted answer into the case row; a secret is encrypted here."""
    qid, value = ev.question.id, ev.value
    if qid == "danger":
        case.danger_now = value == "yes"
    elif qid == "when":
        if value in {o.key for o in ev.question.options}:
            case.occurred, case.occurred_on = value, None
        else:
            case.occurred, case.occurred_on = "date", date.fromisoformat(value)
    elif qid == "anonymity":
        case.anonymous = value == "anon"
        if case.anonymous:  # no contact kept for an anonymous report
            case.contact_enc = None
            case.steps_done = [s for s in case.steps_done if s != "contact"]
    elif ev.question.type == "secret":
        text = ev.secret
        enc = keyring().encrypt(text, f"case:{case.id}:{qid}") if text is not None else None
        setattr(case, f"{qid}_enc", enc)
    else:
        setattr(case, _FIELD[qid], value)
    if qid not in case.steps_done:
        case.steps_done = [*case.steps_done, qid]


def _when(text: str | None, today: date) -> str:
    key, day = parse_when(text, today)
    return day.isoformat() if day is not None else key


def _group(q: Question) -> str:
    """The catalog group of a question's options (case.rel.partner → rel)."""
    return (q.options[0].label_key or "").split(".")[1] if q.options else ""


def _meaning(q: Question, text: str, keys: list[str]) -> str | None:
    """Words that mean an option: "có, đang bị đánh" → yes, "chong" → partner."""
    return choice_from_text(_group(q), text, keys)


def _meanings(q: Question, text: str, keys: list[str]) -> list[str]:
    """Words that name options of a multiple choice: "bị đánh và chửi" → two forms."""
    return list(choices_from_text(_group(q), text, keys) or [])


async def _case(ctx: Ctx, st: CaseState) -> Case | None:
    if st.case_id is None:
        return None
    case = await ctx.s.get(Case, st.case_id)
    return case if case is not None and routing.still_in_intake(case) else None


def _session(ctx: Ctx, st: CaseState, case: Case | None) -> Session:
    officer = by_officer(case) if case is not None else ctx.officer is not None
    return Session(
        form=intake_form(),
        context={"reporter": "officer" if officer else "citizen"},
        values=answers(case),
        today=ctx.today,
        lang=ctx.lang,
        hooks=Hooks(
            parsers={"age": lambda text, _today: parse_age(text), "when": _when},
            place=_place_lookup(ctx, st),
            meaning=_meaning,
            meanings=_meanings,
        ),
    )


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
    numbers = texts.numbers_line(ctx.lang)
    if ctx.conv.flow == FLOW:
        st = ctx.flow_state(CaseState)
        if st.mode == "summary" or (st.mode == "ask" and st.q is not None):
            case = await _case(ctx, st)
            if case is not None or st.q == "danger":
                prefix = numbers + "\n\n" + ctx.t("case.continuing")
                await _step(ctx, st, case, Again(), prefix)
                return
    draft = await store.draft_for(ctx.s, keyring().tags(reporter_id(ctx)))
    if draft is not None:
        ctx.start_flow(CaseState(mode="resume", case_id=draft.id))
        choices = [
            Choice(RESUME, ctx.t("case.resume_yes")),
            Choice(RESTART, ctx.t("case.resume_no")),
        ]
        ctx.say_text(numbers + "\n\n" + ctx.t("case.resume_ask"), choices=choices)
        ctx.remember_menu(choices)
        return
    await _begin(ctx, ctx.t("case.intro", numbers=Safe(numbers)))


async def _begin(ctx: Ctx, prefix: str) -> None:
    """A new intake: the danger question first (the case row is made by its answer)."""
    st = CaseState()
    ctx.start_flow(st)
    await _step(ctx, st, None, Next(), prefix)


routes.menu_item("menu:case", "menu.case", start_intake, order=10)


@routes.welcome_hook
async def danger_welcome(ctx: Ctx) -> bool:
    """For the welcome of someone not registered: when their message has danger words
    ("cứu", "đánh", "bạo lực", "nguy hiểm", "help" …), lead with the emergency numbers and
    the offer to report. Returns True when it said something (the menu follows as usual)."""
    if ctx.officer is not None or not is_danger_text(ctx.inc.text):
        return False
    ctx.say_text(ctx.t("case.danger_welcome", numbers=Safe(texts.numbers(ctx.lang))))
    return True


# -- every message while an intake is open -------------------------------------------------------
@routes.flow(FLOW)
async def intake_flow(ctx: Ctx) -> None:
    """Every message while an intake is open."""
    text = ctx.inc.text
    if text is not None and ctx.inc.option is None and fold(text).strip(" .!") in ERASE_WORDS:
        await erase(ctx, "")
        return
    st = ctx.flow_state(CaseState)
    if st.mode == "resume":
        await _resume_answer(ctx, st)
        return
    case = await _case(ctx, st)
    if case is None and not (st.mode == "ask" and st.q == "danger"):
        # The draft is gone (sent from another device, or erased): start again, kindly.
        await _begin(ctx, ctx.t("case.restarted"))
        return
    if ctx.reprompt:
        await _step(ctx, st, case, Again())
    elif st.mode == "summary" and ctx.inc.option == ERASE:
        await erase(ctx, "")
    else:
        await _step(ctx, st, case, Answer(ctx.inc.option, text))


async def _step(ctx: Ctx, st: CaseState, case: Case | None, inp: Input, prefix: str = "") -> None:
    """Run the session one step, store what it accepted in the case row, say the rest."""
    session = _session(ctx, st, case)
    pos, events = await session.resume(st.position(), inp)
    before, after = "", ""
    for ev in events:
        if isinstance(ev, Accepted):
            first_place = ev.question.id == "unit" and (case is None or case.unit_id is None)
            case = await _accept(ctx, st, case, ev)
            before, after = await _around_answer(ctx, case, ev, first_place)
    for ev in events:
        prefix = await _render(ctx, case, session, ev, prefix)
        if isinstance(ev, Accepted):
            prefix = before + prefix + after
    if ctx.conv.flow == FLOW:
        ctx.save_state(st.moved_to(pos))


async def _around_answer(ctx: Ctx, case: Case, ev: Accepted, first_place: bool) -> tuple[str, str]:
    """What is said before and after the "✓ …" of an answer: the numbers again when the
    typed words speak of danger, the privacy notices, and who was alerted during the intake."""
    before, after = "", ""
    if ev.question.id != "danger" and danger_kinds(ctx.inc.text):
        before = texts.numbers_line(ctx.lang) + "\n"
    if ev.question.id == "age" and ev.value == "u16" and case.affected == "self":
        after += "\n\n" + texts.privacy_child(ctx.lang)  # a child reporter
    if first_place:
        after += "\n\n" + texts.privacy(ctx.lang)  # before the first personal detail
    reached = await routing.on_answer(
        ctx.s, case, now=ctx.now, officer_id=_officer_id(ctx), text=ctx.inc.text
    )
    if reached is not None:  # urgent with a place: told at once, before "gửi"
        after += "\n\n" + texts.alerted_now(ctx.lang, case, reached.roles)
    return before, after


def _officer_id(ctx: Ctx) -> int | None:
    return ctx.officer.id if ctx.officer else None


async def _accept(ctx: Ctx, st: CaseState, case: Case | None, ev: Accepted) -> Case:
    if case is None:  # the first answer makes the draft
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
        st.case_id = case.id
    _store(case, ev)
    case.updated_at = ctx.now
    return case


# -- the place: a commune by name ----------------------------------------------------------------
def _own_commune(ctx: Ctx) -> Unit | None:
    return ctx.unit if ctx.unit is not None and ctx.unit.kind in COMMUNE_KINDS else None


def _place_lookup(
    ctx: Ctx, st: CaseState
) -> Callable[[Question, str | None, str | None, list[list[Any]]], Awaitable[Found | Candidates]]:
    async def lookup(
        q: Question, option: str | None, text: str | None, matches: list[list[Any]]
    ) -> Found | Candidates:
        """A tapped place, or the places whose name holds what was typed."""
        allowed = {f"{UNIT_PREFIX}{uid}" for uid, _ in matches}
        own = _own_commune(ctx)
        if own is not None:
            allowed.add(f"{UNIT_PREFIX}{own.id}")
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
            found = search_places(text, places)
            if not found:
                raise ParseError("case.err.search_none", query=(text or "").strip()[:40])
            best = best_match(found)
            if best is None:
                shown = found[:MAX_MATCHES]
                key = "case.unit_matches" if len(found) <= len(shown) else "case.unit_many"
                return Candidates(
                    matches=[[m.unit_id, m.label] for m in shown],
                    note=Note(key, {"n": len(found), "shown": len(shown)}),
                )
            unit = await ctx.s.get(Unit, best.unit_id)
        if unit is None:
            raise ParseError("case.err.search_none", query="")
        return Found(unit.id)

    return lookup


# -- what is said --------------------------------------------------------------------------------
# Said after an answer to these questions, instead of "✓ <answer>" (the safety hooks).
OnAnswer = Callable[[Ctx, Case, Any], Awaitable[str]]


async def _after_danger(ctx: Ctx, case: Case, value: Any) -> str:
    """Someone in danger now: the emergency numbers at once, with a safety tip."""
    if value != "yes":
        return "✓ " + ctx.t("case.danger_no_ack")
    unit = await ctx.s.get(Unit, case.unit_id) if case.unit_id else None
    block = await texts.emergency_block(ctx.s, ctx.lang, unit)
    late = texts.after_hours(ctx.lang, ctx.now)
    return block + "\n" + ctx.t("case.safety_tip") + ("\n\n" + late if late else "")


async def _after_place(ctx: Ctx, case: Case, value: Any) -> str:
    """The commune chosen; when someone is in danger, its duty numbers straight away."""
    unit = await ctx.s.get(Unit, value)
    assert unit is not None
    ack = "✓ " + ctx.t("case.unit_chosen", unit=unit.name)
    if case.danger_now:
        local = await texts.duty_contacts(ctx.s, unit)
        if local is not None:
            ack += "\n" + ctx.t("case.numbers_local", unit=local[0].name, numbers=local[1])
    return ack


ON_ANSWER: dict[str, OnAnswer] = {"danger": _after_danger, "unit": _after_place}


async def _value_text(ctx: Ctx, q: Question, value: Any, summary: bool = False) -> str:
    """An answer as the reporter reads it; a secret only says whether it was given."""
    if q.type == "secret":
        if summary:
            return ctx.t("case.value_given" if value else "case.value_none")
        return ctx.t("case.saved_encrypted" if value else "case.skipped")
    if value is None or value == []:
        return ctx.t("case.value_none")
    if q.type == "place":
        unit = await ctx.s.get(Unit, value)
        return unit.name if unit else ctx.t("case.value_none")
    if q.type == "multi":
        return ", ".join(_option_text(ctx, q, k) for k in value)
    if q.type == "when" and q.option(value) is None:
        return ctx.fmt_date(date.fromisoformat(value))
    return _option_text(ctx, q, value)


def _option_text(ctx: Ctx, q: Question, key: str) -> str:
    o = q.option(key)
    return o.text(ctx.lang) if o is not None else key


async def _render(ctx: Ctx, case: Case | None, session: Session, ev: Event, prefix: str) -> str:
    """Say one event; returns the text that leads the next message."""
    form = session.form
    if isinstance(ev, Accepted):
        hook = ON_ANSWER.get(ev.question.id)
        if hook is not None and case is not None:
            return await hook(ctx, case, ev.value)
        return "✓ " + await _value_text(ctx, ev.question, ev.value)
    if isinstance(ev, Invalid):
        return "⚠️ " + ctx.t(ev.key, **ev.params)
    if isinstance(ev, Note):
        return ctx.t(ev.key, **ev.params)
    if isinstance(ev, Ask):
        _say_question(ctx, form, session, ev, prefix)
    elif isinstance(ev, Summary):
        await _say_summary(ctx, ev, prefix)
    elif isinstance(ev, Submit) and case is not None:
        await _submit(ctx, case)
    return ""


def _say_question(ctx: Ctx, form: Form, session: Session, ev: Ask, prefix: str) -> None:
    """Put the question with its number, hint and choices."""
    q = ev.question
    lines = [prefix, ""] if prefix else []
    label = Safe(q.text(ctx.lang, session.env))
    lines.append(
        ctx.t("case.question", n=ev.number, total=ev.total, label=label) if form.numbered else label
    )
    if q.has_hint:
        # A catalog hint through ctx.t: its "_buttons" wording only where there are buttons.
        hint = ctx.t(q.hint_key) if q.hint_key else q.hint_text(ctx.lang)
        lines.append("<i>" + hint + "</i>")
    choices: list[Choice] = []
    numbered = True
    if q.type in ("choice", "age", "when"):
        choices = [Choice(o.key, o.text(ctx.lang)) for o in ev.options]
    elif q.type == "multi":
        choices = [
            Choice(o.key, o.text(ctx.lang), selected=o.key in ev.selected) for o in ev.options
        ]
        choices.append(Choice(DONE, ctx.t("case.done"), alias=ctx.t("case.done_alias")))
    elif q.type == "place":
        choices = [Choice(f"{UNIT_PREFIX}{uid}", name) for uid, name in ev.matches]
        own = _own_commune(ctx)
        if not ev.matches and own is not None:
            choices.append(Choice(f"{UNIT_PREFIX}{own.id}", own.name))
        choices.append(Choice(UNKNOWN_UNIT, ctx.t("case.unit_unknown")))
    else:  # free text, optional
        numbered = False
        lines.append(ctx.t("case.optional"))
        choices = [Choice(SKIP, ctx.t("case.skip"), alias="-")]
    lines.append(ctx.t("case.footer"))
    ctx.say_text("\n".join(lines), choices=choices, numbered=numbered)
    ctx.remember_menu(choices, numbered)


async def _say_summary(ctx: Ctx, ev: Summary, prefix: str) -> None:
    """Everything answered, numbered: a number edits that answer, "gửi" sends."""
    lines = [prefix, ""] if prefix else []
    lines.append(ctx.t("case.summary_title"))
    for i, q, value in ev.rows:
        shown = escape(await _value_text(ctx, q, value, summary=True))
        lines.append(f"{i}. {q.summary_text(ctx.lang)}: <b>{shown}</b>")
    lines.append("")
    lines.append(ctx.t("case.summary_help"))
    choices = [
        Choice(SUBMIT, ctx.t("case.submit"), alias=ctx.t("case.submit_alias")),
        Choice(ERASE, ctx.t("case.erase_choice"), alias=ctx.t("case.erase_alias")),
    ]
    ctx.say_text("\n".join(lines), choices=choices, numbered=False)
    ctx.remember_menu(choices, numbered=False)


# -- sending -------------------------------------------------------------------------------------
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


async def _resume_answer(ctx: Ctx, st: CaseState) -> None:
    option = ctx.inc.option
    case = await _case(ctx, st)
    if option == RESUME and case is not None:
        await _step(
            ctx,
            st.model_copy(update={"mode": "ask", "q": None}),
            case,
            Next(),
            ctx.t("case.resumed"),
        )
        return
    if option == RESTART or case is None:
        if case is not None:
            await _delete_draft(ctx, case)
        await _begin(ctx, texts.numbers_line(ctx.lang))
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
