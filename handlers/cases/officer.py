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

from db import cases as store
from db.cases import (
    CLOSED,
    DRAFT,
    NEW,
    STATUSES,
    Case,
)
from db.models import Unit
from handlers.cases.intake import audit_private, reporter_id
from handlers.context import Ctx
from handlers.router import Deps, Router, Routes
from handlers.state import CaseOfficerState
from kernel.messages import Choice
from services.cases import actions, details, nocontact, routing, texts
from services.cases.config import config, keyring
from services.cases.parsers import parse_code
from services.forms.parsers import is_skip
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


routes = Routes()


def actor(ctx: Ctx) -> actions.Actor:
    assert ctx.officer is not None and ctx.unit is not None
    return actions.Actor(ctx.officer, ctx.unit, ctx.account.id, ctx.now)


async def _authorised(ctx: Ctx, case: Case | None) -> tuple[Case, Unit] | None:
    """The case and its unit when the officer's scope holds it (``services.cases.actions``,
    the rule the web desk's board uses too)."""
    if ctx.officer is None or ctx.unit is None:
        return None
    return await actions.authorised(ctx.s, actor(ctx), case)


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
    ctx.start_flow(CaseOfficerState(step="pick"))
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
    ctx.start_flow(CaseOfficerState(step="action", case_id=case.id))
    await _offer_actions(ctx, case)


def view(ctx: Ctx) -> details.View:
    return details.View(ctx.lang, ctx.services.timezone, ctx.now, markup=True)


async def render_case(ctx: Ctx, case: Case, unit: Unit) -> str:
    """The details (``services.cases.details``, which the web desk's board reads too)."""
    return await details.render(ctx.s, view(ctx), case, unit)


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
    ctx.save_state(ctx.flow_state(CaseOfficerState).model_copy(update={"step": "action"}))
    ctx.say_text("\n".join(lines), choices=choices)
    ctx.remember_menu(choices)


@routes.flow(FLOW)
async def officer_flow(ctx: Ctx) -> None:
    """Picking a case from the list, choosing what to do, writing the note."""
    st = ctx.flow_state(CaseOfficerState)
    step = st.step
    if step == "pick":
        await _pick(ctx)
        return
    case = await ctx.s.get(Case, st.case_id or 0)
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
        ctx.save_state(st.model_copy(update={"step": "note", "to": option}))
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
    to = ctx.flow_state(CaseOfficerState).to
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
    to = ctx.flow_state(CaseOfficerState).to
    option, text = ctx.inc.option, ctx.inc.text
    skipped = option == SKIP or (text is not None and is_skip(text))
    try:
        note = actions.clean_note(None if skipped else text, required=to == NOTE or not skipped)
    except actions.ActionRefused as no:
        ctx.say_text("⚠️ " + ctx.t(no.key, **no.params))
        _ask_note(ctx, case)
        return
    assert case.code is not None
    if to == NOTE:
        assert note is not None
        actions.add_note(ctx.s, actor(ctx), case, note)
        reply = ctx.t("case.note_saved", code=case.code)
    else:
        assert to in STATUSES
        await actions.change_status(ctx.s, actor(ctx), case, unit, str(to), note)
        reply = ctx.t(
            "case.status_saved",
            code=case.code,
            status=texts.label(ctx.lang, "status", case.status),
            time=ctx.fmt_date(ctx.now),
        )
    ctx.clear_flow()
    ctx.say_text("✓ " + reply)


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
