"""What officers do with reminders in the chat.

    /tatnhacnho → "Đã tắt nhắc Tháng hành động. Nhắc hạn nộp báo cáo vẫn được gửi."
    /batnhacnho → "Đã bật lại nhắc Tháng hành động."
    (a reminder arrives: "… Gõ 1 để bắt đầu ngay")
    1           → /baocao opens at the first unanswered question

When a reminder carrying the "start now" choice is sent to someone who is not in a
conversation, the dispatcher leaves them in the small ``reminder`` conversation whose menu
is that one choice (``scheduler.planner.remember_start_menu``). The typed "1", the choice's
words, or a tap on the Telegram button then arrives here as the option ``start_report``.
Anything else leaves the reminder conversation and is handled as if there had been none.
"""

from __future__ import annotations

from sqlmodel import col, select, update

from db.models import ChannelAccount, Outbox
from handlers.context import Ctx
from handlers.report import start_report
from handlers.router import Deps, Router, Routes, welcome
from scheduler.planner import REMINDER_FLOW, START_REPORT

routes = Routes()


@routes.command("tatnhacnho", help="help.tatnhacnho", roles=("officer",), order=60)
async def mute(ctx: Ctx, _args: str) -> None:
    """/tatnhacnho: no more Action Month alerts (deadline reminders still come)."""
    assert ctx.officer is not None  # the router lets only officers in
    if ctx.officer.mute_action_months:
        ctx.say("remind.mute_already")
        return
    ctx.officer.mute_action_months = True
    ctx.s.add(ctx.officer)
    # Alerts already planned (for any of the officer's accounts) and not yet sent are dropped.
    accounts = select(ChannelAccount.id).where(ChannelAccount.officer_id == ctx.officer.id)
    await ctx.s.exec(  # type: ignore[call-overload]
        update(Outbox)
        .where(
            col(Outbox.kind) == "alert",
            col(Outbox.status) == "pending",
            col(Outbox.account_id).in_(accounts),
        )
        .values(status="cancelled", last_error="muted")
    )
    ctx.audit("reminders.mute", target=f"officer:{ctx.officer.id}")
    ctx.say("remind.mute_done")


@routes.command("batnhacnho", help="help.batnhacnho", roles=("officer",), order=61)
async def unmute(ctx: Ctx, _args: str) -> None:
    """/batnhacnho: Action Month alerts again."""
    assert ctx.officer is not None  # the router lets only officers in
    if not ctx.officer.mute_action_months:
        ctx.say("remind.unmute_already")
        return
    ctx.officer.mute_action_months = False
    ctx.s.add(ctx.officer)
    ctx.audit("reminders.unmute", target=f"officer:{ctx.officer.id}")
    ctx.say("remind.unmute_done")


@routes.flow(REMINDER_FLOW)
async def after_reminder(ctx: Ctx) -> None:
    """The message after a reminder: "1" / the button opens the report; anything else is
    routed as it would be outside any conversation (commands typed without the slash too)."""
    ctx.clear_flow()
    if ctx.inc.option == START_REPORT:
        await start_report(ctx, "")
        return
    text = (ctx.inc.text or "").strip()
    parsed = ctx.router.parse_command(text) if text else None
    if parsed is not None:
        await ctx.router.run_command(ctx, *parsed)
        return
    await welcome(ctx)


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
