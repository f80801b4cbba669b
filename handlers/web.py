"""/web: a one-time link that signs the officer in to the web desk (``bot.web``).

The link lives ten minutes, is used once, and only a hash of its token is stored
(``services.websessions``). An officer may ask for a few links an hour; each link and each
refusal is audited. Without ``PUBLIC_URL`` there is no address to give, and the bot says so.
"""

from __future__ import annotations

from datetime import timedelta

from handlers.context import Ctx
from handlers.router import Deps, Router, Routes
from services import websessions

ACTION = "webdesk.link"

routes = Routes()


@routes.command("web", help="help.web", roles=("officer", "admin"), order=85, audit=ACTION)
async def web_cmd(ctx: Ctx, args: str) -> None:
    """/web: the sign-in link of the web desk."""
    assert ctx.officer is not None and ctx.officer.id is not None and ctx.account.id is not None
    base = ctx.services.public_url
    if not base:
        ctx.audit(ACTION, outcome="refused", detail="no PUBLIC_URL")
        ctx.say("web.no_public_url")
        return
    if await websessions.links_last_hour(ctx.s, ctx.officer.id, ctx.now) >= (
        websessions.MAX_LINKS_PER_HOUR
    ):
        ctx.audit(ACTION, outcome="refused", detail="rate limit")
        ctx.say("web.too_many", n=websessions.MAX_LINKS_PER_HOUR)
        return
    token = await websessions.issue_login(ctx.s, ctx.officer.id, ctx.account.id, ctx.now)
    ctx.audit(ACTION, target=f"officer:{ctx.officer.id}")
    until = ctx.now + timedelta(minutes=websessions.LOGIN_MINUTES)
    ctx.say(
        "web.link",
        url=websessions.login_url(base, token),
        minutes=websessions.LOGIN_MINUTES,
        time=ctx.fmt_date(until),
    )


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
