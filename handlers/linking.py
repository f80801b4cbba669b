"""Account linking: one person who uses both messengers is one officer.

    (Telegram, registered)   /lienket        → "Mã liên kết: ABCD-EFGH … hết hạn lúc 09:10"
    (Zalo, not registered)   /lienket ABCD-EFGH → "Đã liên kết: … Nguyễn Thị Lan, Xã Thạch Lạc"

The code is short (8 characters from the invite alphabet), lives ``LINK_MINUTES`` minutes, is
used once, and only its SHA-256 is stored. Linking never merges two officers: an account that
already belongs to another officer is refused. Wrong codes are counted per account (audit log)
so codes cannot be guessed. Every issue, link and refusal is audited; the account that asked
for the code is told through the outbox when another account is linked to it.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from sqlalchemy import delete, func, update
from sqlmodel import col, select

from db.linking import LinkCode
from db.models import AuditLog, ChannelAccount, Officer, Unit
from db.outbox import enqueue
from handlers.context import Ctx
from handlers.registration import ALPHABET, hash_code
from handlers.router import Deps, Router, Routes
from kernel.i18n import t

LINK_MINUTES = 10
CODE_LEN = 8
# Wrong codes one account may type per hour before being told to wait.
MAX_FAILURES_PER_HOUR = 5
ACTION = "account.link"


routes = Routes()


def new_link_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LEN))
    return f"{raw[:4]}-{raw[4:]}"


@routes.command(
    "lienket", help="help.lienket", roles=("public", "officer"), aliases=("link",), order=80
)
async def link_cmd(ctx: Ctx, args: str) -> None:
    """/lienket: a one-time code for the other messenger; /lienket CODE: link this account."""
    if args.strip():
        await redeem(ctx, args.strip())
    else:
        await issue(ctx)


async def issue(ctx: Ctx) -> None:
    """A registered officer gets a fresh code; earlier unused codes of theirs stop working."""
    if ctx.officer is None or ctx.officer.id is None:
        ctx.say("link.need_officer")
        return
    await ctx.s.exec(  # type: ignore[call-overload]
        delete(LinkCode).where(
            col(LinkCode.officer_id) == ctx.officer.id, col(LinkCode.used_at).is_(None)
        )
    )
    code = new_link_code()
    expires = ctx.now + timedelta(minutes=LINK_MINUTES)
    assert ctx.account.id is not None
    ctx.s.add(
        LinkCode(
            code_hash=hash_code(code),
            officer_id=ctx.officer.id,
            account_id=ctx.account.id,
            created_at=ctx.now,
            expires_at=expires,
        )
    )
    ctx.audit(ACTION + "_code", target=f"officer:{ctx.officer.id}")
    ctx.say("link.code", code=code, time=ctx.fmt_date(expires), minutes=LINK_MINUTES)


async def _recent_failures(ctx: Ctx) -> int:
    since = ctx.now - timedelta(hours=1)
    count = await ctx.s.exec(
        select(func.count())
        .select_from(AuditLog)
        .where(
            col(AuditLog.account_id) == ctx.account.id,
            col(AuditLog.action) == ACTION,
            col(AuditLog.outcome) == "refused",
            col(AuditLog.detail) == "bad_code",
            col(AuditLog.at) >= since,
        )
    )
    return int(count.one())


async def _usable_code(ctx: Ctx, text: str) -> tuple[LinkCode, Officer] | None:
    """The code's row and officer when this account may take it; else None after saying why
    (refusals audited)."""
    row = (await ctx.s.exec(select(LinkCode).where(LinkCode.code_hash == hash_code(text)))).first()
    officer = await ctx.s.get(Officer, row.officer_id) if row is not None else None
    if row is None or officer is None or not officer.active:
        ctx.audit(ACTION, outcome="refused", detail="bad_code")
        ctx.say("link.code_unknown")
        return None
    target = f"officer:{officer.id}"
    if row.used_at is not None:
        ctx.audit(ACTION, target, outcome="refused", detail="bad_code")
        ctx.say("link.code_used")
        return None
    if row.expires_at <= ctx.now:
        ctx.audit(ACTION, target, outcome="refused", detail="bad_code")
        ctx.say("link.code_expired", minutes=LINK_MINUTES)
        return None
    if row.account_id == ctx.account.id:
        ctx.say("link.same_account")
        return None
    if ctx.account.officer_id == officer.id:
        ctx.say("link.already", name=officer.full_name)
        return None
    if ctx.account.officer_id is not None:
        current = await ctx.s.get(Officer, ctx.account.officer_id)
        ctx.audit(ACTION, target, outcome="refused", detail="other_officer")
        ctx.say("link.other_officer", name=current.full_name if current else "?")
        return None
    return row, officer


async def redeem(ctx: Ctx, text: str) -> None:
    """Give this account the officer of the code, unless that would merge two officers."""
    if await _recent_failures(ctx) >= MAX_FAILURES_PER_HOUR:
        ctx.audit(ACTION, outcome="refused", detail="too_many")
        ctx.say("link.too_many")
        return
    found = await _usable_code(ctx, text)
    if found is None:
        return
    row, officer = found
    target = f"officer:{officer.id}"
    # Use the code only if nobody else did in the meantime (single use).
    result = await ctx.s.exec(  # type: ignore[call-overload]
        update(LinkCode)
        .where(col(LinkCode.id) == row.id, col(LinkCode.used_at).is_(None))
        .values(used_at=ctx.now, used_by=ctx.account.id)
    )
    if result.rowcount != 1:
        ctx.say("link.code_used")
        return
    ctx.account.officer_id = officer.id
    if ctx.conv.flow == "register":
        ctx.clear_flow()
    await ctx.load_officer()
    issuer = await ctx.s.get(ChannelAccount, row.account_id)
    ctx.audit(
        ACTION,
        target,
        detail=f"{issuer.channel if issuer else '?'}->{ctx.account.channel}",
    )
    unit = await ctx.s.get(Unit, officer.unit_id)
    ctx.say(
        "link.done",
        channel=ctx.channel_title(ctx.account.channel),
        name=officer.full_name,
        unit=unit.name if unit else "",
    )
    if issuer is not None and issuer.id != ctx.account.id:
        await enqueue(
            ctx.s,
            key=f"link:{row.id}",
            account=issuer,
            text=t(issuer.lang, "link.notice", channel=ctx.channel_title(ctx.account.channel)),
            kind="alert",
            now=ctx.now,
        )


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
