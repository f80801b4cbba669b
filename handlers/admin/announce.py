"""/thongbao: an announcement to every officer of the admin's subtree, through the outbox.

    /thongbao              → delivery counts of the last announcements, then "type the text"
    /thongbao Nội dung …   → preview exactly as officers will see it + number of recipients
    Gửi                    → one outbox row per recipient account (key
                             ``announce:<id>:acc:<account id>``, batch ``announce:<id>``)

The outbox dispatcher sends the rows; the counts come from their status (sent, pending,
failed). The audit log records who announced what batch to which subtree, never the text.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from html import escape, unescape

from sqlalchemy import func
from sqlmodel import col, select

from compile.data import display_name
from db.models import AuditLog, ChannelAccount, Officer, Outbox, Unit
from db.outbox import enqueue
from handlers.admin.common import NO, YES, Scope, require_admin, say_lines, unit_in_scope
from handlers.context import Ctx
from handlers.router import Deps, Router, Routes
from handlers.state import AnnounceState
from kernel.i18n import t
from kernel.messages import Choice
from services.forms.parsers import ParseError, parse_text

ACTION = "desk.announce"
FLOW = "admin_announce"
MAX_TEXT = 1500  # with the header it stays under Zalo's 2000 characters
SHOW_LAST = 5
PREVIEW_CHARS = 60
_TAG = re.compile(r"</?[a-z]+[^>]*>")


routes = Routes()


def batch_of(announce_id: str) -> str:
    return f"announce:{announce_id}"


def render(lang: str, agency: str, text: str) -> str:
    """What a recipient reads (Telegram HTML; the admin's text is escaped)."""
    return t(lang, "admin.tb_header", agency=escape(agency)) + "\n" + escape(text)


async def recipients(ctx: Ctx, scope: Scope) -> list[tuple[ChannelAccount, Officer]]:
    """Reachable accounts of active officers in the subtree, the sender excepted."""
    rows = (
        await ctx.s.exec(
            select(ChannelAccount, Officer)
            .join(Officer, col(Officer.id) == col(ChannelAccount.officer_id))
            .join(Unit, col(Unit.id) == col(Officer.unit_id))
            .where(
                col(Unit.path).startswith(scope.root.path),
                col(Officer.active).is_(True),
                col(ChannelAccount.unreachable).is_(False),
            )
            .order_by(col(ChannelAccount.id))
        )
    ).all()
    me = ctx.officer.id if ctx.officer else None
    return [(a, o) for a, o in rows if o.id != me]


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
    entries = (
        await ctx.s.exec(
            select(AuditLog)
            .where(
                AuditLog.action == ACTION,
                AuditLog.outcome == "ok",
                col(AuditLog.detail).startswith(f"unit:{scope.root.code};"),
            )
            .order_by(col(AuditLog.at).desc(), col(AuditLog.id).desc())
            .limit(SHOW_LAST)
        )
    ).all()
    if not entries:
        ctx.say("admin.tb_none_yet", unit=scope.root.name)
        return
    lines = [ctx.t("admin.tb_status_title", unit=scope.root.name)]
    for e in entries:
        batch = e.target or ""
        counts = await delivery_counts(ctx, batch)
        first = (
            await ctx.s.exec(select(Outbox.text).where(Outbox.batch == batch).limit(1))
        ).first()
        lines.append(
            ctx.t(
                "admin.tb_status_line",
                time=ctx.fmt_date(e.at),
                preview=_preview_text(first or ""),
                sent=counts.get("sent", 0),
                pending=counts.get("pending", 0),
                failed=counts.get("failed", 0) + counts.get("cancelled", 0),
                total=sum(counts.values()),
            )
        )
    say_lines(ctx, lines)


def _preview_text(rendered: str) -> str:
    """The start of the announcement's body (the stored text is HTML under a header)."""
    body = unescape(_TAG.sub("", rendered)).split("\n", 1)[-1].replace("\n", " ")
    return body if len(body) <= PREVIEW_CHARS else body[: PREVIEW_CHARS - 1] + "…"


async def delivery_counts(ctx: Ctx, batch: str) -> dict[str, int]:
    rows = (
        await ctx.s.exec(
            select(Outbox.status, func.count())
            .where(Outbox.batch == batch)
            .group_by(col(Outbox.status))
        )
    ).all()
    return {str(status): int(n) for status, n in rows}


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
    ctx.say_text(render(ctx.lang, _agency_name(scope), text))
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
    ctx.audit(ACTION, target=batch_of(announce_id), detail=f"unit:{root.code};n={n}")
    ctx.say("admin.tb_queued", n=n)


async def send(ctx: Ctx, scope: Scope, announce_id: str, text: str) -> int:
    """One outbox row per recipient account; True rows written (a repeat writes none)."""
    written = 0
    agency = _agency_name(scope)
    to: Sequence[tuple[ChannelAccount, Officer]] = await recipients(ctx, scope)
    for acc, officer in to:
        if await enqueue(
            ctx.s,
            key=f"{batch_of(announce_id)}:acc:{acc.id}",
            account=acc,
            text=render(acc.lang, agency, text),
            kind="announcement",
            now=ctx.now,
            unit_id=officer.unit_id,
            batch=batch_of(announce_id),
        ):
            written += 1
    return written


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
