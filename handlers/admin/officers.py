"""/canbo: the officers of the admin's subtree; deactivate one, after a confirmation.

    /canbo             → "#12 Nguyễn Thị Lan — Công chức VH-XH · Xã Thạch Lạc (28303)" …
    /canbo 28303       → only that unit's subtree
    /canbo ngung 12    → "Ngừng kích hoạt #12 …?"  [Đồng ý] [Không]

A deactivated officer's channel accounts are detached from the officer and their pending
outbox messages cancelled, so they stop receiving anything; they would need a new invite
(``services.officers``, which the web desk's officers page calls too).
"""

from __future__ import annotations

from db.models import Officer, Unit
from handlers.admin.common import NO, YES, Scope, require_admin, say_lines, unit_in_scope, yes_no
from handlers.context import Ctx
from handlers.router import Deps, Router, Routes
from handlers.state import DeactivateState
from services import officers
from services.forms.parsers import fold, is_number

ACTION_LIST = "desk.officers"
ACTION_OFF = "desk.deactivate"
FLOW = "admin_officer"
OFF_WORDS = {"ngung", "nghi", "tat", "khoa", "xoa", "off", "deactivate", "remove"}
MAX_LINES = 200


routes = Routes()


@routes.command(
    "canbo", help="help.canbo", roles=("admin",), aliases=("officers",), order=51, audit=ACTION_LIST
)
async def officers_cmd(ctx: Ctx, args: str) -> None:
    """/canbo [CODE] | /canbo ngung ID: list or deactivate officers of the subtree."""
    scope = await require_admin(ctx, ACTION_LIST)
    if scope is None:
        return
    words = fold(args).split()
    if words and words[0] in OFF_WORDS:
        await _ask_deactivate(ctx, scope, words[1] if len(words) > 1 else "")
        return
    root = scope.root
    if words:
        found = await unit_in_scope(ctx, scope, args.split()[0], ACTION_LIST)
        if found is None:
            return
        root = found
    rows = await officers.active_in(ctx.s, root)
    if not rows:
        ctx.say("admin.canbo_none", unit=root.name)
        return
    lines = [ctx.t("admin.canbo_title", unit=root.name, n=len(rows))]
    for officer, unit in rows[:MAX_LINES]:
        key = "admin.canbo_line_admin" if officer.role == "admin" else "admin.canbo_line"
        lines.append(
            ctx.t(
                key,
                id=officer.id,
                name=officer.full_name,
                position=officer.position,
                unit=unit.name,
                code=unit.code,
            )
        )
    if len(rows) > MAX_LINES:
        lines.append(ctx.t("admin.list_more", n=len(rows) - MAX_LINES))
    lines.append(ctx.t("admin.canbo_hint"))
    say_lines(ctx, lines)


async def _ask_deactivate(ctx: Ctx, scope: Scope, word: str) -> None:
    ident = word.lstrip("#")
    officer = await ctx.s.get(Officer, int(ident)) if is_number(ident) else None
    if officer is None or not officer.active:
        ctx.say("admin.canbo_unknown", id=word or "?")
        return
    unit = await ctx.s.get(Unit, officer.unit_id)
    assert unit is not None
    if not scope.holds(unit):
        ctx.audit(
            ACTION_OFF, target=f"officer:{officer.id}", outcome="refused", detail="outside subtree"
        )
        ctx.say("admin.outside_scope", code=unit.code)
        return
    if ctx.officer is not None and officer.id == ctx.officer.id:
        ctx.say("admin.canbo_not_self")
        return
    choices = yes_no(ctx, "admin.canbo_yes")
    ctx.start_flow(DeactivateState(officer_id=officer.id))
    ctx.say(
        "admin.canbo_confirm",
        id=officer.id,
        name=officer.full_name,
        unit=unit.name,
        choices=choices,
    )
    ctx.remember_menu(choices)


@routes.flow(FLOW, roles=("admin",), audit=ACTION_OFF)
async def deactivate_flow(ctx: Ctx) -> None:
    """The answer to "deactivate this officer?"."""
    option = ctx.inc.option
    officer_id = ctx.flow_state(DeactivateState).officer_id
    ctx.clear_flow()
    if option != YES:
        ctx.say("admin.cancelled" if option == NO else "admin.canbo_not_done")
        return
    scope = await require_admin(ctx, ACTION_OFF)
    if scope is None:
        return
    officer = await ctx.s.get(Officer, officer_id) if officer_id else None
    unit = await ctx.s.get(Unit, officer.unit_id) if officer else None
    if officer is None or unit is None or not officer.active:
        ctx.say("admin.canbo_unknown", id=officer_id or "?")
        return
    if not scope.holds(unit):  # the admin's own scope changed meanwhile
        ctx.audit(
            ACTION_OFF, target=f"officer:{officer.id}", outcome="refused", detail="outside subtree"
        )
        ctx.say("admin.outside_scope", code=unit.code)
        return
    accounts = await officers.deactivate(ctx.s, officer)
    ctx.audit(ACTION_OFF, target=f"officer:{officer.id}", detail=f"accounts={accounts}")
    ctx.say("admin.canbo_done", name=officer.full_name, unit=unit.name)


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
