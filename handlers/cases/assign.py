"""/giaoviec: give a case to an officer who answers for its unit (the web desk's cases board
does the same through the same function, ``services.cases.actions.assign``).

    /giaoviec VV-2026-000123      → who the case can be given to, with their numbers
    /giaoviec VV-2026-000123 12   → given to officer #12; they hear of it through the outbox

No conversation state: the command carries everything, so it does not interrupt a report or
the /vuviec menu. Refusals answer as /vuviec does for a code outside the scope (audited).
"""

from __future__ import annotations

from db import cases as store
from handlers.cases.officer import actor
from handlers.context import Ctx
from handlers.router import Deps, Router, Routes
from services.cases import actions
from services.cases.parsers import parse_code
from services.forms.parsers import is_number

routes = Routes()


@routes.command("giaoviec", help="help.giaoviec", aliases=("assign",), order=7)
async def assign_cmd(ctx: Ctx, args: str) -> None:
    words = args.split()
    code = parse_code(words[0]) if words else None
    if code is None:
        ctx.say("case.assign_how")
        return
    if ctx.officer is None or ctx.unit is None:
        ctx.say("reg.need_officer")
        return
    case = await store.by_code(ctx.s, code)
    found = await actions.authorised(ctx.s, actor(ctx), case)
    if found is None:
        ctx.audit("cases.update", target=code, outcome="refused")
        ctx.say("case.not_found", code=code)
        return
    case, unit = found
    who = words[1].lstrip("#") if len(words) > 1 else ""
    if not is_number(who):
        people = await actions.assignable(ctx.s, unit)
        lines = [ctx.t("case.assign_list", code=code)]
        lines += [f"#{o.id} {o.full_name} — {o.position}" for o in people]
        lines.append(ctx.t("case.assign_hint", code=code))
        ctx.say_text("\n".join(lines))
        return
    try:
        officer = await actions.assign(ctx.s, actor(ctx), case, unit, int(who))
    except actions.ActionRefused as no:
        ctx.say_text("⚠️ " + ctx.t(no.key, **no.params))
        return
    ctx.say("case.assign_done", code=code, name=officer.full_name)


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
