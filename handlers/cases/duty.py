"""/truc: an admin sees and sets a commune's duty roster (who is alerted of an urgent case,
in order) — the chat side of ``bdg cases duty``.

    /truc 28303                       → the roster of Xã Thạch Lạc
    /truc 28303 them congan dem #12   → add: the commune police, at night, officer #12
    /truc 28303 them truongthon 0912 345 678
    /truc 28303 xoa 2                 → remove line 2
"""

from __future__ import annotations

from db.cases import duty_roster
from db.models import Officer
from handlers.admin.common import require_admin, unit_in_scope
from handlers.context import Ctx
from handlers.router import Deps, Router, Routes
from services.cases import texts
from services.cases.duty import DutyError, add_entry, parse_spec, remove_entry
from services.forms.parsers import fold

ACTION = "desk.duty"
routes = Routes()


@routes.command(
    "truc", help="help.truc", roles=("admin",), aliases=("duty",), order=58, audit=ACTION
)
async def duty_cmd(ctx: Ctx, args: str) -> None:
    scope = await require_admin(ctx, ACTION)
    if scope is None:
        return
    words = args.split()
    if not words:
        ctx.say("case.duty_usage")
        return
    unit = await unit_in_scope(ctx, scope, words[0], ACTION)
    if unit is None:
        return
    verb = fold(words[1]) if len(words) > 1 else ""
    try:
        if verb in ("them", "add"):
            await add_entry(ctx.s, unit, parse_spec(words[2:]))
            ctx.audit(ACTION, target=f"unit:{unit.code}", detail="add")
            ctx.say("case.duty_added")
        elif verb in ("xoa", "remove") and len(words) > 2 and words[2].isdigit():
            if not await remove_entry(ctx.s, unit, int(words[2])):
                raise DutyError("duty.err_no_line", n=int(words[2]))
            ctx.audit(ACTION, target=f"unit:{unit.code}", detail="remove")
            ctx.say("case.duty_removed", n=int(words[2]))
        elif verb:
            raise DutyError("duty.err_verb")
    except DutyError as exc:
        reason = ctx.t(exc.key, **exc.params)
        ctx.say_text(ctx.t("case.duty_bad") + reason + "\n" + ctx.t("case.duty_usage"))
        return
    entries = await duty_roster(ctx.s, unit.id or 0)
    if not entries:
        ctx.say("case.duty_empty", unit=unit.name)
        return
    lines = [ctx.t("case.duty_title", unit=unit.name)]
    for i, e in enumerate(entries, 1):
        who = ""
        if e.officer_id is not None:
            officer = await ctx.s.get(Officer, e.officer_id)
            who = f" · #{e.officer_id} {officer.full_name}" if officer else ""
        phone = f" · 📞 {e.phone}" if e.phone else ""
        lines.append(
            ctx.t(
                "case.duty_line",
                i=i,
                role=texts.role_label(ctx.lang, e.role),
                shift=ctx.t(f"case.duty_shift.{e.shift}"),
                who=who,
                phone=phone,
            )
        )
    ctx.say_text("\n".join(lines))


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
