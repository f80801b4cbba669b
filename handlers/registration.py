"""Registration: an officer redeems a one-time invite, gives name and position, and is bound
to the invite's unit.

    /start ABCDE-FGHJK   → "Mã mời hợp lệ. Họ và tên đầy đủ của anh/chị?"
    Nguyễn Thị Lan        → "Chức vụ của anh/chị?"
    Công chức VH-XH       → "Đăng ký xong: … Gõ /baocao để bắt đầu báo cáo."
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db import queries
from db.engine import Database
from db.models import AuditLog, Invite, Officer, Unit
from handlers.context import Ctx
from handlers.router import Deps, Router, Routes, welcome
from handlers.state import RegisterState
from kernel.text import clean_name
from services.forms.parsers import ParseError, parse_text
from services.scope import default_scope_unit

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud over the phone
CODE_LEN = 10
ROLES = ("officer", "admin")
ACTION = "invite.redeem"
# Wrong codes one account may type per hour before being told to wait (as /lienket). They are
# counted in one audit row per account and hour (detail ``wrong_codes:N``).
MAX_FAILURES_PER_HOUR = 5
FAILURE_WINDOW = timedelta(hours=1)
FAILURES_PREFIX = "wrong_codes:"


routes = Routes()


def hash_code(code: str) -> str:
    return hashlib.sha256(normalise_code(code).encode()).hexdigest()


def normalise_code(code: str) -> str:
    return re.sub(r"[\s\-_]", "", code).upper()


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LEN))
    return f"{raw[:5]}-{raw[5:]}"


async def create_invite(
    s: AsyncSession,
    unit: Unit,
    *,
    role: str = "officer",
    days: int = 14,
    now: datetime,
    scope: Unit | None = None,
) -> str:
    """Store a new invite and return its code (shown once; only the hash is kept). ``scope``:
    the unit whose subtree the new officer answers for (``services.scope``; default: the
    home unit, or for an admin of the standing agency the agency's parent)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}")
    assert unit.id is not None
    code = new_code()
    s.add(
        Invite(
            code_hash=hash_code(code),
            unit_id=unit.id,
            role=role,
            scope_unit_id=scope.id if scope is not None else None,
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
    )
    await s.flush()
    return code


@routes.command("start", help="help.start", roles=("public",), aliases=("batdau",), order=1)
async def start(ctx: Ctx, args: str) -> None:
    """/start [code]: register with an invite code, or explain how to get one."""
    code = args.strip()
    if ctx.officer is not None:
        ctx.say("reg.already", name=ctx.officer.full_name, unit=ctx.unit.name if ctx.unit else "")
        return
    if not code:
        ctx.clear_flow()
        ctx.say("reg.how_to_get_code")
        await welcome(ctx)
        return
    await redeem(ctx, code)


async def _failures_row(ctx: Ctx) -> AuditLog | None:
    """This account's row counting wrong codes in the last hour (one row, not one per try)."""
    query = (
        select(AuditLog)
        .where(
            col(AuditLog.account_id) == ctx.account.id,
            col(AuditLog.action) == ACTION,
            col(AuditLog.outcome) == "refused",
            col(AuditLog.detail).startswith(FAILURES_PREFIX),
            col(AuditLog.at) > ctx.now - FAILURE_WINDOW,
        )
        .order_by(col(AuditLog.at).desc())
    )
    return (await ctx.s.exec(query)).first()


def _failures(row: AuditLog | None) -> int:
    if row is None or row.detail is None:
        return 0
    count = row.detail.removeprefix(FAILURES_PREFIX)
    return int(count) if count.isascii() and count.isdigit() and len(count) < 10 else 0


def _count_failure(ctx: Ctx, row: AuditLog | None) -> None:
    """One more wrong code (or one more try while locked) in this account's hourly row."""
    if row is None:
        ctx.audit(ACTION, outcome="refused", detail=f"{FAILURES_PREFIX}1")
    else:
        row.detail = f"{FAILURES_PREFIX}{_failures(row) + 1}"
        ctx.s.add(row)


async def redeem(ctx: Ctx, code: str) -> None:
    failures = await _failures_row(ctx)
    if _failures(failures) >= MAX_FAILURES_PER_HOUR:
        _count_failure(ctx, failures)
        ctx.clear_flow()
        ctx.say("reg.too_many")
        return
    invite = (await ctx.s.exec(select(Invite).where(Invite.code_hash == hash_code(code)))).first()
    if invite is None:
        _count_failure(ctx, failures)
        ctx.say("reg.code_unknown")
        return
    if invite.used_at is not None:
        ctx.say("reg.code_used")
        return
    if invite.expires_at <= ctx.now:
        ctx.say("reg.code_expired", date=ctx.fmt_date(invite.expires_at.date()))
        return
    unit = await ctx.s.get(Unit, invite.unit_id)
    assert unit is not None
    ctx.start_flow(RegisterState(step="name", invite_id=invite.id))
    ctx.say("reg.code_ok", unit=unit.name)
    ctx.say("reg.ask_name")


async def _enter_code(ctx: Ctx, _args: str) -> None:
    ctx.start_flow(RegisterState(step="code"))
    ctx.say("reg.ask_code")


routes.menu_item("menu:officer", "menu.officer", _enter_code, order=20)


@routes.flow("register")
async def register_flow(ctx: Ctx) -> None:
    """Collects the code (when chosen from the menu), the full name and the position."""
    st = ctx.flow_state(RegisterState)
    step = st.step
    text = ctx.inc.text
    if step == "code":
        if not text or not text.strip():
            ctx.say("reg.ask_code")
            return
        await redeem(ctx, text)
        return
    invite = await ctx.s.get(Invite, st.invite_id) if st.invite_id is not None else None
    if invite is None or invite.used_at is not None:
        ctx.clear_flow()
        ctx.say("reg.code_used")
        return
    if invite.expires_at <= ctx.now:  # it may have expired since the code was typed
        ctx.clear_flow()
        ctx.say("reg.code_expired", date=ctx.fmt_date(invite.expires_at.date()))
        return
    try:
        # Shown to admins and in lists: no bidirectional overrides or zero-width characters.
        value = clean_name(parse_text(text, max_length=120))
        if len(value) < 2:
            raise ParseError("err.too_short")
    except ParseError as e:
        ctx.say(e.key, **e.params)
        ctx.say("reg.ask_name" if step == "name" else "reg.ask_position")
        return
    if step == "name":
        ctx.save_state(st.model_copy(update={"step": "position", "full_name": value}))
        ctx.say("reg.ask_position")
        return
    await _complete(ctx, invite, full_name=st.full_name or "", position=value)


async def _complete(ctx: Ctx, invite: Invite, *, full_name: str, position: str) -> None:
    """The last answer: use the invite (once), create the officer with its scope, link this
    account to it."""
    # Mark the invite used only if nobody else did in the meantime (single use).
    result = await ctx.s.exec(  # type: ignore[call-overload]
        update(Invite)
        .where(col(Invite.id) == invite.id, col(Invite.used_at).is_(None))
        .values(used_at=ctx.now)
    )
    if result.rowcount != 1:
        ctx.clear_flow()
        ctx.say("reg.code_used")
        return
    home = await ctx.s.get(Unit, invite.unit_id)
    scope_id = invite.scope_unit_id
    if scope_id is None and home is not None:
        scope_id = (await default_scope_unit(ctx.s, home, invite.role)).id
    officer = Officer(
        unit_id=invite.unit_id,
        full_name=full_name,
        position=position,
        role=invite.role,
        scope_unit_id=scope_id,
        created_at=ctx.now,
    )
    ctx.s.add(officer)
    await ctx.s.flush()
    invite.used_by = officer.id
    ctx.account.officer_id = officer.id
    await ctx.load_officer()
    ctx.clear_flow()
    ctx.audit("officer.register", target=f"officer:{officer.id}")
    assert ctx.unit is not None
    ctx.say("reg.done", name=officer.full_name, unit=ctx.unit.name)
    ctx.say("admin.welcome" if officer.role == "admin" else "reg.next_steps")


async def new_invite(
    db: Database,
    unit_code: str,
    *,
    role: str = "officer",
    days: int = 14,
    now: datetime,
    scope_code: str | None = None,
) -> str:
    """Create an invite for the unit with this code (CLI, demo, tests)."""
    async with db.session() as s:
        unit = await queries.unit_by_code(s, unit_code)
        if unit is None:
            raise LookupError(f"unknown unit {unit_code}")
        scope = await queries.unit_by_code(s, scope_code) if scope_code else None
        if scope_code and scope is None:
            raise LookupError(f"unknown unit {scope_code}")
        return await create_invite(s, unit, role=role, days=days, now=now, scope=scope)


def register(router: Router, deps: Deps) -> None:
    router.include(routes)
