"""/thongbao: an announcement to every officer of the admin's subtree, through the outbox.

    /thongbao              → delivery counts of the last announcements, then "type the text"
    /thongbao Nội dung …   → preview exactly as officers will see it + number of recipients
    Gửi                    → one outbox row per recipient account (key
                             ``announce:<id>:acc:<account id>``, batch ``announce:<id>``)

The outbox dispatcher sends the rows; the counts come from their status (sent, pending,
failed). The audit log records who announced what batch to which subtree, never the text.
"""

from __future__ import annotations

import secrets

from compile.data import display_name
from db.models import ChannelAccount, Officer, Unit
from handlers.admin.common import NO, YES, Scope, require_admin, say_lines, unit_in_scope
from handlers.context import Ctx
from handlers.router import Deps, Router, Routes
from handlers.state import AnnounceState
from kernel.messages import Choice
from services import announce
from services.forms.parsers import ParseError, parse_text

ACTION = announce.ACTION
FLOW = "admin_announce"
MAX_TEXT = announce.MAX_TEXT
SHOW_LAST = 5


routes = Routes()


async def recipients(ctx: Ctx, scope: Scope) -> list[tuple[ChannelAccount, Officer]]:
    """Reachable accounts of active officers in the subtree, the sender excepted."""
    return await announce.recipients(ctx.s, scope.root, ctx.officer.id if ctx.officer else None)


def _agency_name(scope: Scope) -> str:
    return display_name(scope.agency or scope.root)


@routes.command(
    "thongbao",
    help="help.thongbao",
    roles=("admin",),
    aliases=("announce",),
    order=54,
    audit=ACTION,
)
async def announce_cmd(ctx: Ctx, args: str) -> None:
    """/thongbao [@CODE] [text]: show the last announcements' delivery, or prepare one."""
    scope = await require_admin(ctx, ACTION)
    if scope is None:
        return
    text = args.strip()
    if text.startswith("@"):  # "/thongbao @28303 …": only that unit's subtree
        code, _, text = text[1:].partition(" ")
        unit = await unit_in_scope(ctx, scope, code, ACTION)
        if unit is None:
            return
        scope = Scope(unit, scope.agency)
        text = text.strip()
    if text:
        await _preview(ctx, scope, text)
        return
    await _show_status(ctx, scope)
    ctx.start_flow(AnnounceState(step="text", root_id=scope.root.id))
    ctx.say("admin.tb_ask_text", unit=scope.root.name, max=MAX_TEXT)


async def _show_status(ctx: Ctx, scope: Scope) -> None:
    entries = await announce.last_sent(ctx.s, scope.root, SHOW_LAST)
    if not entries:
        ctx.say("admin.tb_none_yet", unit=scope.root.name)
        return
    lines = [ctx.t("admin.tb_status_title", unit=scope.root.name)]
    for e in entries:
        lines.append(
            ctx.t(
                "admin.tb_status_line",
                time=ctx.fmt_date(e.at),
                preview=e.preview,
                sent=e.sent,
                pending=e.pending,
                failed=e.failed,
                total=e.total,
            )
        )
    say_lines(ctx, lines)


async def _preview(ctx: Ctx, scope: Scope, text: str) -> None:
    try:
        text = parse_text(text, MAX_TEXT)
    except ParseError as e:
        ctx.say(e.key, **e.params)
        ctx.start_flow(AnnounceState(step="text", root_id=scope.root.id))
        return
    to = await recipients(ctx, scope)
    officers = {o.id for _, o in to}
    units = {o.unit_id for _, o in to}
    if not to:
        ctx.clear_flow()
        ctx.say("admin.tb_no_recipients", unit=scope.root.name)
        return
    choices = [Choice(YES, ctx.t("admin.tb_send")), Choice(NO, ctx.t("admin.confirm_no"))]
    ctx.start_flow(
        AnnounceState(
            step="confirm", root_id=scope.root.id, text=text, announce_id=secrets.token_hex(6)
        )
    )
    ctx.say_text(ctx.t("admin.tb_preview_head"))
    ctx.say_text(announce.render(ctx.lang, _agency_name(scope), text))
    ctx.say(
        "admin.tb_preview_count",
        accounts=len(to),
        officers=len(officers),
        units=len(units),
        choices=choices,
    )
    ctx.remember_menu(choices)


@routes.flow(FLOW, roles=("admin",), audit=ACTION)
async def announce_flow(ctx: Ctx) -> None:
    """The text of the announcement, then the confirmation."""
    scope = await require_admin(ctx, ACTION)
    if scope is None:
        ctx.clear_flow()
        return
    st = ctx.flow_state(AnnounceState)
    root = await ctx.s.get(Unit, st.root_id) if st.root_id is not None else None
    if root is None or not scope.holds(root):
        ctx.clear_flow()
        ctx.say("admin.cancelled")
        return
    scope = Scope(root, scope.agency)
    if st.step == "text":
        await _preview(ctx, scope, ctx.inc.text or "")
        return
    option = ctx.inc.option
    if option not in (YES, NO):
        choices = [Choice(YES, ctx.t("admin.tb_send")), Choice(NO, ctx.t("admin.confirm_no"))]
        ctx.say("admin.tb_confirm_again", choices=choices)
        ctx.remember_menu(choices)
        return
    text, announce_id = st.text, st.announce_id
    ctx.clear_flow()
    if option == NO:
        ctx.say("admin.cancelled")
        return
    n = await send(ctx, scope, announce_id, text)
    ctx.audit(ACTION, target=announce.batch_of(announce_id), detail=f"unit:{root.code};n={n}")
    ctx.say("admin.tb_queued", n=n)


async def send(ctx: Ctx, scope: Scope, announce_id: str, text: str) -> int:
    """One outbox row per recipient account; True rows written (a repeat writes none)."""
    sender = ctx.officer.id if ctx.officer else None
    agency = _agency_name(scope)
    return await announce.send(ctx.s, scope.root, agency, sender, announce_id, text, ctx.now)


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
