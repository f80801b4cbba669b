"""What officers do with cases, in a private chat: list their open cases with the clocks,
read one case (every read is audited), and move it along.

    /vuviec                 → the open cases of the officer's unit (an admin: of the subtree)
    /vuviec VV-2026-000123  → the details, decrypted, with the history; then
    2 (đang xác minh)       → "Ghi chú (không bắt buộc)?" → saved with who and when

Who may read a case: an officer of the case's unit, or an admin of that unit or of a unit
above it. Anyone else gets the same answer as for a code that does not exist, and the attempt
is audited. A citizen who sends ``/vuviec <code>`` from the account that reported it sees only
its status.
"""

from __future__ import annotations

import logging
from datetime import datetime
from html import escape

from db import cases as store
from db.cases import (
    CLOSED,
    DRAFT,
    INTERVENED_STATUSES,
    NEW,
    STATUSES,
    Case,
    CaseEvent,
)
from db.crypto import CryptoError
from db.models import Officer, Unit
from handlers.cases.intake import audit_private, reporter_id
from handlers.context import Ctx
from handlers.router import Deps, Router, Routes
from kernel.messages import Choice
from services.cases import nocontact, routing, texts
from services.cases.config import config, keyring
from services.cases.parsers import parse_code
from services.forms.parsers import fold, is_skip
from services.scope import scope_of

log = logging.getLogger("bdg.cases")

FLOW = "case_officer"
NOTE = "__note__"
NC_REQUEST = "__nc_request__"
NC_GRANT = "__nc_grant__"
NC_REFUSE = "__nc_refuse__"
DONE = "__done__"
SKIP = "__skip__"
OPEN_PREFIX = "open:"
LIST_MAX = 20
NOTE_MAX = 1000


routes = Routes()


async def can_access(ctx: Ctx, case_unit: Unit) -> bool:
    """An officer (or admin) whose scope holds the case's unit (``services.scope``)."""
    if ctx.officer is None or ctx.unit is None:
        return False
    return (await scope_of(ctx.s, ctx.officer, ctx.unit)).holds(case_unit)


async def _authorised(ctx: Ctx, case: Case | None) -> tuple[Case, Unit] | None:
    if case is None or case.status == DRAFT or case.unit_id is None or case.code is None:
        return None
    if ctx.officer is None or ctx.unit is None:
        return None
    unit = await ctx.s.get(Unit, case.unit_id)
    if unit is None or not await can_access(ctx, unit):
        return None
    return case, unit


def _is_reporter(ctx: Ctx, case: Case | None) -> bool:
    if case is None or case.status == DRAFT or case.reporter_tag is None:
        return False
    return case.reporter_tag in keyring().tags(reporter_id(ctx))


@routes.command(
    "vuviec", help="help.vuviec", roles=("public", "officer"), aliases=("cases",), order=6
)
async def case_cmd(ctx: Ctx, args: str) -> None:
    """/vuviec [code]: an officer's open cases, or one case; a reporter's case status."""
    typed = args.strip()
    code = parse_code(typed) if typed else None
    if typed and code is None:
        if ctx.officer is not None:
            ctx.audit("cases.read", outcome="refused", detail="malformed code")
        ctx.say("case.code_bad")
        return
    if ctx.officer is None:
        if code is None:
            ctx.say("case.status_how")
            return
        await citizen_status(ctx, code)
        return
    if code is None:
        await list_open(ctx)
        return
    await show_case(ctx, code)


async def citizen_status(ctx: Ctx, code: str) -> None:
    case = await store.by_code(ctx.s, code)
    if not _is_reporter(ctx, case):
        audit_private(ctx, "cases.status", code, outcome="refused")
        ctx.say("case.citizen_unknown", code=code)
        return
    assert case is not None
    audit_private(ctx, "cases.status", code)
    lines = [
        ctx.t(
            "case.citizen_status",
            code=code,
            status=texts.label(ctx.lang, "status", case.status),
            time=ctx.fmt_date(case.updated_at),
        )
    ]
    if case.acknowledged_at is not None:
        lines.append(ctx.t("case.citizen_taken", time=ctx.fmt_date(case.acknowledged_at)))
    elif case.status != CLOSED:
        lines.append(ctx.t("case.citizen_waiting"))
    lines.append(texts.numbers_line(ctx.lang))
    ctx.say_text("\n".join(lines))


async def list_open(ctx: Ctx) -> None:
    """The officer's open cases, urgent first, with their clocks; a number opens one."""
    assert ctx.officer is not None
    if ctx.unit is None:
        ctx.say("reg.need_officer")
        return
    scope = await scope_of(ctx.s, ctx.officer, ctx.unit)
    found = list(await store.open_cases_in(ctx.s, scope.root))
    if not found:
        ctx.clear_flow()
        ctx.say("case.list_empty")
        return
    minutes = config().escalate_minutes
    units = {u.id: u for u in [await ctx.s.get(Unit, c.unit_id) for c in found] if u}
    lines = [ctx.t("case.list_title", n=len(found))]
    choices = []
    for i, case in enumerate(found[:LIST_MAX], 1):
        unit = units.get(case.unit_id)
        lines.append(
            ctx.t(
                "case.list_item",
                i=i,
                code=case.code or "",
                unit=unit.name if unit else "",
                urgency=ctx.t("case.urgency_high" if case.urgent else "case.urgency_normal"),
                status=texts.label(ctx.lang, "status", case.status),
            )
        )
        for clock in texts.clock_lines(ctx.lang, case, ctx.now, ctx.services.timezone, minutes):
            lines.append("   " + clock)
        choices.append(Choice(f"{OPEN_PREFIX}{case.id}", case.code or ""))
    if len(found) > LIST_MAX:
        lines.append(ctx.t("case.list_more", n=len(found) - LIST_MAX))
    lines.append(ctx.t("case.list_help"))
    ctx.set_flow(FLOW, step="pick")
    ctx.say_text("\n".join(lines), choices=choices)
    ctx.remember_menu(choices)


async def show_case(ctx: Ctx, code: str) -> None:
    """The details of one case to an authorised officer (audited), then what they can do."""
    case = await store.by_code(ctx.s, code)
    found = await _authorised(ctx, case)
    if found is None:
        ctx.audit("cases.read", target=code, outcome="refused")
        if _is_reporter(ctx, case):  # an officer who reported a case of another commune
            await citizen_status(ctx, code)
            return
        ctx.clear_flow()
        ctx.say("case.not_found", code=code)
        return
    case, unit = found
    ctx.audit("cases.read", target=code)
    ctx.say_text(await render_case(ctx, case, unit))
    ctx.set_flow(FLOW, step="action", case_id=case.id)
    await _offer_actions(ctx, case)


def _decrypt(ctx: Ctx, case: Case, token: str | None, field: str) -> str | None:
    if token is None:
        return None
    try:
        return keyring().decrypt(token, f"case:{case.id}:{field}")
    except CryptoError:
        log.warning("case %s: a stored %s does not decrypt", case.code, field)
        # Said so, never shown as absent: another process may hold other keys.
        return ctx.t("case.undecryptable")


async def render_case(ctx: Ctx, case: Case, unit: Unit) -> str:
    lines = _head_lines(ctx, case, unit)
    lines.append("")
    lines += _field_lines(ctx, case)
    lines += _private_lines(ctx, case)
    consent = case.consent or "not_asked"
    lines.append(ctx.t(f"case.detail_consent_{consent}"))
    if case.reported_by is not None:
        reporter = await ctx.s.get(Officer, case.reported_by)
        if reporter is not None:
            lines.append(ctx.t("case.detail_by_officer", name=reporter.full_name))
    history = await store.events(ctx.s, case.id or 0)
    if history:
        lines.append("")
        lines.append(ctx.t("case.history_title"))
        for ev in history:
            lines.append("– " + await _event_line(ctx, case, ev))
    return "\n".join(lines)


def _head_lines(ctx: Ctx, case: Case, unit: Unit) -> list[str]:
    """Code, place, status, urgency with its reasons, when it was received, the clocks."""
    reasons = []
    if case.danger_now:
        reasons.append(ctx.t("case.reason_danger"))
    if case.child:
        reasons.append(ctx.t("case.reason_child"))
    if "sexual" in case.forms:
        reasons.append(ctx.t("case.reason_sexual"))
    urgency = ctx.t("case.urgency_high" if case.urgent else "case.urgency_normal")
    if reasons:
        urgency += " (" + ", ".join(reasons) + ")"
    lines = [
        ctx.t("case.detail_title", code=case.code or "", unit=unit.name),
        ctx.t("case.detail_status", status=texts.label(ctx.lang, "status", case.status)),
        ctx.t("case.detail_urgency", urgency=urgency),
    ]
    if case.alerted_at is not None:
        lines.append(ctx.t("case.detail_received", time=ctx.fmt_date(case.alerted_at)))
    if case.submitted_at is None:
        lines.append(ctx.t("case.detail_unfinished"))
    tz = ctx.services.timezone
    lines += texts.clock_lines(ctx.lang, case, ctx.now, tz, config().escalate_minutes)
    return lines


def _field_lines(ctx: Ctx, case: Case) -> list[str]:
    """The answers given as choices (never free text)."""
    lang = ctx.lang
    when = (
        ctx.fmt_date(case.occurred_on)
        if case.occurred_on
        else texts.label(lang, "when", case.occurred)
    )
    fields = [
        ("case.sum.danger", texts.label(lang, "danger", "yes" if case.danger_now else "no")),
        ("case.sum.affected", texts.label(lang, "aff", case.affected or "other")),
        ("case.sum.sex", texts.label(lang, "sex", case.victim_sex)),
        ("case.sum.age", texts.label(lang, "age", case.age_group)),
        ("case.sum.forms", texts.labels(lang, "form", case.forms)),
        ("case.sum.relation", texts.label(lang, "rel", case.relation)),
        ("case.sum.when", when),
        ("case.sum.help", texts.labels(lang, "help", case.help_needed)),
    ]
    if case.reported_by is not None:
        fields += [
            ("case.sum.source", texts.label(lang, "src", case.source)),
            ("case.sum.actions", texts.labels(lang, "act", case.actions_taken)),
        ]
    return [f"• {ctx.t(key)}: <b>{escape(value)}</b>" for key, value in fields]


def _private_lines(ctx: Ctx, case: Case) -> list[str]:
    """The decrypted description and contact (this read is audited by the caller), or when
    they were purged."""
    if case.purged_at is not None:
        return [ctx.t("case.detail_purged", time=ctx.fmt_date(case.purged_at))]
    description = _decrypt(ctx, case, case.description_enc, "description")
    contact = _decrypt(ctx, case, case.contact_enc, "contact")
    none = ctx.t("case.value_none")
    lines = [ctx.t("case.detail_description", text=description or none)]
    if case.reported_by is None and case.anonymous:
        lines.append(ctx.t("case.detail_anonymous"))
    else:
        lines.append(ctx.t("case.detail_contact", text=contact or none))
    return lines


async def _event_line(ctx: Ctx, case: Case, ev: CaseEvent) -> str:
    who = ""
    if ev.officer_id is not None:
        officer = await ctx.s.get(Officer, ev.officer_id)
        who = officer.full_name if officer else ""
    when = ctx.fmt_date(ev.at)
    if ev.kind == "create":
        text = ctx.t("case.ev_create", time=when)
    elif ev.kind == "status":
        text = ctx.t(
            "case.ev_status",
            time=when,
            who=who,
            status=texts.label(ctx.lang, "status", ev.to_status),
        )
    elif ev.kind == "note":
        text = ctx.t("case.ev_note", time=when, who=who)
    elif ev.kind == "escalate":
        text = ctx.t("case.ev_escalate", time=when, level=ev.level or 0)
    elif ev.kind == "nc_request":
        text = ctx.t("case.ev_nc_request", time=when)
    elif ev.kind == "nc_decision":
        decision = ctx.t(f"case.nc.{ev.to_status or 'refused'}")
        text = ctx.t("case.ev_nc_decision", time=when, decision=decision, who=who)
    elif ev.kind == "nc_clock":
        text = ctx.t("case.ev_nc_clock", time=when)
    elif ev.kind == "erased":
        text = ctx.t("case.ev_erased", time=when)
    else:
        text = ctx.t("case.ev_clock", time=when)
    note = _decrypt(ctx, case, ev.note_enc, "note")
    if note:
        text += "\n  " + ctx.t("case.ev_note_text", text=note)
    return text


async def _offer_actions(ctx: Ctx, case: Case, prefix: str = "") -> None:
    # The same numbers whatever the status, so officers on Zalo can learn them.
    choices = [
        Choice(
            st,
            ctx.t(
                "case.current" if st == case.status else "case.move_to",
                status=texts.label(ctx.lang, "status", st),
            ),
        )
        for st in STATUSES
        if st != NEW
    ]
    choices.append(Choice(NOTE, ctx.t("case.add_note")))
    choices.append(Choice(DONE, ctx.t("case.officer_done")))
    # No-contact order (art. 25) after the older options, so their numbers do not move.
    choices.append(Choice(NC_REQUEST, ctx.t("case.nc_request")))
    choices.append(Choice(NC_GRANT, ctx.t("case.nc_grant")))
    choices.append(Choice(NC_REFUSE, ctx.t("case.nc_refuse")))
    lines = [prefix] if prefix else []
    lines.append(ctx.t("case.actions_ask", code=case.code or ""))
    ctx.update_state(step="action")
    ctx.say_text("\n".join(lines), choices=choices)
    ctx.remember_menu(choices)


@routes.flow(FLOW)
async def officer_flow(ctx: Ctx) -> None:
    """Picking a case from the list, choosing what to do, writing the note."""
    step = ctx.state.get("step")
    if step == "pick":
        await _pick(ctx)
        return
    case = await ctx.s.get(Case, ctx.state.get("case_id") or 0)
    found = await _authorised(ctx, case)
    if found is None:
        ctx.clear_flow()
        ctx.audit("cases.update", target=case.code if case else None, outcome="refused")
        ctx.say("case.not_found", code=case.code if case and case.code else "")
        return
    case, unit = found
    if ctx.reprompt:
        if step == "note":
            _ask_note(ctx, case)
        else:
            await _offer_actions(ctx, case)
        return
    if step == "note":
        await _note_answer(ctx, case, unit)
        return
    option = ctx.inc.option
    if option in (NC_REQUEST, NC_GRANT, NC_REFUSE):
        await _no_contact(ctx, case, unit, str(option))
    elif option == DONE:
        ctx.clear_flow()
        ctx.say("case.officer_bye")
    elif option == NOTE or option in STATUSES and option not in (NEW, case.status):
        ctx.update_state(step="note", to=option)
        _ask_note(ctx, case)
    elif option == case.status:
        status = texts.label(ctx.lang, "status", case.status)
        await _offer_actions(ctx, case, prefix="⚠️ " + ctx.t("case.err.same_status", status=status))
    else:
        await _offer_actions(ctx, case, prefix="⚠️ " + ctx.t("case.err.action"))


async def _pick(ctx: Ctx) -> None:
    option = ctx.inc.option
    if option and option.startswith(OPEN_PREFIX):
        case = await ctx.s.get(Case, int(option.removeprefix(OPEN_PREFIX)))
        if case is not None and case.code:
            await show_case(ctx, case.code)
            return
    code = parse_code(ctx.inc.text)
    if code is not None:
        await show_case(ctx, code)
        return
    ctx.clear_flow()
    ctx.say("case.pick_bad")


def _ask_note(ctx: Ctx, case: Case) -> None:
    to = ctx.state.get("to")
    if to == NOTE:
        text = ctx.t("case.note_ask", code=case.code or "")
        choices: list[Choice] = []
    else:
        status = texts.label(ctx.lang, "status", to)
        text = ctx.t("case.status_note_ask", code=case.code or "", status=status)
        choices = [Choice(SKIP, ctx.t("case.skip"), alias="-")]
    ctx.say_text(text, choices=choices, numbered=False)
    ctx.remember_menu(choices, numbered=False)


async def _note_answer(ctx: Ctx, case: Case, unit: Unit) -> None:
    to = ctx.state.get("to")
    option, text = ctx.inc.option, ctx.inc.text
    note: str | None = None
    if option == SKIP or (text is not None and is_skip(text)):
        if to == NOTE:
            ctx.say_text("⚠️ " + ctx.t("case.err.empty"))
            _ask_note(ctx, case)
            return
    else:
        note = (text or "").strip()
        if not note or fold(note) == "":
            ctx.say_text("⚠️ " + ctx.t("case.err.empty"))
            _ask_note(ctx, case)
            return
        if len(note) > NOTE_MAX:
            ctx.say_text("⚠️ " + ctx.t("case.err.too_long", length=len(note), max=NOTE_MAX))
            _ask_note(ctx, case)
            return
    assert ctx.officer is not None and case.code is not None
    encrypted = keyring().encrypt(note, f"case:{case.id}:note") if note else None
    before = case.status
    if to == NOTE:
        ev = CaseEvent(
            case_id=case.id or 0,
            at=ctx.now,
            officer_id=ctx.officer.id,
            kind="note",
            note_enc=encrypted,
        )
        ctx.s.add(ev)
        ctx.audit("cases.note", target=case.code)
        reply = ctx.t("case.note_saved", code=case.code)
    else:
        assert to in STATUSES
        first_ack = case.acknowledged_at is None
        apply_status(case, str(to), ctx.officer.id, ctx.now)
        ctx.s.add(
            CaseEvent(
                case_id=case.id or 0,
                at=ctx.now,
                officer_id=ctx.officer.id,
                kind="status",
                from_status=before,
                to_status=to,
                note_enc=encrypted,
            )
        )
        ctx.audit("cases.status", target=case.code, detail=f"{before}->{to}")
        if first_ack and case.acknowledged_at is not None:
            await routing.tell_acknowledged(ctx.s, case, unit, ctx.now)
        reply = ctx.t(
            "case.status_saved",
            code=case.code,
            status=texts.label(ctx.lang, "status", case.status),
            time=ctx.fmt_date(ctx.now),
        )
    case.updated_at = ctx.now
    ctx.clear_flow()
    ctx.say_text("✓ " + reply)


def apply_status(case: Case, to: str, officer_id: int | None, now: datetime) -> None:
    """Set the status and the milestones it implies (acknowledged, intervened, closed)."""
    case.status = to
    if to != NEW and case.acknowledged_at is None:
        case.acknowledged_at = now
        case.acknowledged_by = officer_id
    if to in INTERVENED_STATUSES and case.intervened_at is None:
        case.intervened_at = now
    case.closed_at = now if to == CLOSED else None


async def _no_contact(ctx: Ctx, case: Case, unit: Unit, option: str) -> None:
    """Record a no-contact request (now) or the chair's decision, with the notices it sends."""
    assert ctx.officer is not None and case.code is not None
    tz = ctx.services.timezone
    if option == NC_REQUEST:
        nocontact.request(ctx.s, case, at=ctx.now, officer_id=ctx.officer.id)
        ctx.audit("cases.nocontact", target=case.code, detail="request")
        due = nocontact.decision_due(case)
        reply = ctx.t(
            "case.nc_requested_saved",
            time=texts.fmt_time(ctx.now, tz),
            due=texts.fmt_time(due, tz) if due else "",
        )
    else:
        granted = option == NC_GRANT
        written, by_phone = await nocontact.decide(
            ctx.s, case, granted=granted, now=ctx.now, officer_id=ctx.officer.id
        )
        ctx.audit("cases.nocontact", target=case.code, detail=case.nc_decision)
        if not granted:
            reply = ctx.t("case.nc_refused_saved")
        else:
            assert case.nc_until is not None
            lines = [ctx.t("case.nc_granted_saved", until=texts.fmt_time(case.nc_until, tz))]
            told = (await routing.reach(ctx.s, case)).roles
            told = [r for r in told if r in nocontact.NOTICE_ROLES]
            if written:
                roles = ", ".join(texts.role_label(ctx.lang, r) for r in told)
                lines.append(ctx.t("case.nc_sent", roles=roles))
            if by_phone:
                phones = ", ".join(
                    f"{texts.role_label(ctx.lang, e.role)} {e.phone}" for e in by_phone
                )
                lines.append(ctx.t("case.nc_call", phones=phones))
            if not written and not by_phone:
                lines.append(ctx.t("case.nc_nobody"))
            reply = "\n".join(lines)
    case.updated_at = ctx.now
    await _offer_actions(ctx, case, prefix=reply)


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
