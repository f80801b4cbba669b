"""/moi: invite codes for units of the admin's subtree, one or many at once.

/moi 28303 28318   → a code (and a Telegram deep link) for each unit
/moi tất cả        → codes for every reporting unit with no officer and no pending code
/moi 28303 admin   → an admin invite (for a colleague or a district's standing agency)
"""

from __future__ import annotations

import re
from datetime import timedelta

from sqlmodel import col, select

from db.models import Invite, Officer, Unit
from handlers.admin.common import Scope, require_admin, say_lines, unit_in_scope
from handlers.context import Ctx
from handlers.registration import create_invite
from handlers.router import Deps, Router, Routes
from services.forms.parsers import fold
from services.scope import example_codes

ACTION = "desk.invite"
MAX_PER_COMMAND = 100
ALL_WORDS = {"tat ca", "tatca", "all", "het"}
ADMIN_WORDS = {"admin", "quan tri", "quantri"}


routes = Routes()


def parse_scope(text: str) -> tuple[str, str | None]:
    """``28303 admin @42`` → (``28303 admin``, ``42``): ``@MÃ`` sets the scope of the invited
    officers (the subtree they answer for)."""
    m = re.search(r"(^|\s)@(\S+)", text)
    if not m:
        return text, None
    return (text[: m.start()] + " " + text[m.end() :]).strip(), m.group(2).upper()


def parse_args(text: str) -> tuple[list[str], bool, bool]:
    """(unit codes, all units wanted, admin role wanted) from what follows /moi."""
    folded = fold(text)
    want_all = any(re.search(rf"(^|\s){w}($|\s)", folded) for w in ALL_WORDS)
    want_admin = any(re.search(rf"(^|\s){w}($|\s)", folded) for w in ADMIN_WORDS)
    for w in ALL_WORDS | ADMIN_WORDS:
        folded = re.sub(rf"(^|\s){w}($|\s)", " ", folded)
    codes = [c.upper() for c in re.split(r"[\s,;]+", folded) if c]
    return list(dict.fromkeys(codes)), want_all, want_admin


async def units_needing_invite(ctx: Ctx, scope: Scope) -> list[Unit]:
    """Reporting units of the subtree with no active officer and no unused, unexpired code."""
    in_root = col(Unit.path).startswith(scope.root.path)
    staffed = select(Officer.unit_id).where(col(Officer.active).is_(True))
    pending = select(Invite.unit_id).where(
        col(Invite.used_at).is_(None), col(Invite.expires_at) > ctx.now
    )
    return list(
        (
            await ctx.s.exec(
                select(Unit)
                .where(
                    in_root,
                    col(Unit.reports).is_(True),
                    col(Unit.id).not_in(staffed),
                    col(Unit.id).not_in(pending),
                )
                .order_by(Unit.path)
            )
        ).all()
    )


@routes.command(
    "moi", help="help.moi", roles=("admin",), aliases=("invite",), order=50, audit=ACTION
)
async def invite_cmd(ctx: Ctx, args: str) -> None:
    """/moi CODES | tất cả [admin]: one-time invite codes for units of the subtree."""
    scope = await require_admin(ctx, ACTION)
    if scope is None:
        return
    args, scope_code = parse_scope(args)
    scope_unit: Unit | None = None
    if scope_code is not None:
        scope_unit = await unit_in_scope(ctx, scope, scope_code, ACTION)
        if scope_unit is None:
            return
    codes, want_all, want_admin = parse_args(args)
    if not codes and not want_all:
        waiting = await units_needing_invite(ctx, scope)
        code1, code2 = await example_codes(ctx.s, scope.root)
        ctx.say("admin.moi_usage", n=len(waiting), unit=scope.root.name, code1=code1, code2=code2)
        return
    units: list[Unit] = []
    if want_all:
        units = await units_needing_invite(ctx, scope)
        if not units:
            ctx.say("admin.moi_none_needed", unit=scope.root.name)
            return
    for code in codes:
        unit = await unit_in_scope(ctx, scope, code, ACTION)
        if unit is None:
            return
        if all(u.id != unit.id for u in units):
            units.append(unit)
    more = max(0, len(units) - MAX_PER_COMMAND)
    units = units[:MAX_PER_COMMAND]
    role = "admin" if want_admin else "officer"
    days = ctx.services.invite_days
    lines = [
        ctx.t(
            "admin.moi_title",
            n=len(units),
            role=ctx.t(f"admin.role_{role}"),
            date=ctx.fmt_date((ctx.local_now + timedelta(days=days)).date()),
        )
    ]
    for unit in units:
        code = await create_invite(ctx.s, unit, role=role, days=days, now=ctx.now, scope=scope_unit)
        detail = f"role={role}" + (f";scope={scope_unit.code}" if scope_unit else "")
        ctx.audit(ACTION, target=f"unit:{unit.code}", detail=detail)
        lines.append(ctx.t("admin.moi_line", code=code, unit=unit.name, unit_code=unit.code))
        if ctx.services.bot_username:
            link = f"https://t.me/{ctx.services.bot_username}?start={code.replace('-', '')}"
            lines.append(ctx.t("admin.moi_link", link=link))
    if more:
        lines.append(ctx.t("admin.moi_more", n=more))
    lines.append(ctx.t("admin.moi_hint"))
    say_lines(ctx, lines)


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
