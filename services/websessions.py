"""Web desk sign-in: one-time login links (``/web`` in the chat) and the sessions they open.

Tokens and session ids are random (256 bits) and only their SHA-256 is stored. A login link
lives ``LOGIN_MINUTES`` and is used once; an officer may ask for ``MAX_LINKS_PER_HOUR`` links
an hour. A session belongs to the officer the link was made for, ends at logout, after
``IDLE_MINUTES`` without a request, or ``MAX_HOURS`` after it began; an officer who is no
longer active loses every session at their next request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import ChannelAccount, Officer, Unit
from db.web import WebLogin, WebSession

LOGIN_MINUTES = 10
MAX_LINKS_PER_HOUR = 5
IDLE_MINUTES = 30
MAX_HOURS = 12


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def csrf_token(sid: str) -> str:
    """The form token of a session: derived from its secret id, so it needs no storage and
    a page of one session is useless to another."""
    return hmac.new(sid.encode(), b"bdg-web-csrf", hashlib.sha256).hexdigest()


def csrf_ok(sid: str, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(csrf_token(sid), str(sent))


def login_url(public_url: str, token: str) -> str:
    return f"{public_url.rstrip('/')}/web/login/{token}"


async def links_last_hour(s: AsyncSession, officer_id: int, now: datetime) -> int:
    n = await s.exec(
        select(func.count())
        .select_from(WebLogin)
        .where(
            WebLogin.officer_id == officer_id, col(WebLogin.created_at) > now - timedelta(hours=1)
        )
    )
    return int(n.one())


async def issue_login(s: AsyncSession, officer_id: int, account_id: int, now: datetime) -> str:
    """A fresh login token for the officer (earlier unused links stop working)."""
    await s.exec(  # type: ignore[call-overload]
        update(WebLogin)
        .where(col(WebLogin.officer_id) == officer_id, col(WebLogin.used_at).is_(None))
        .values(expires_at=now)
    )
    token = secrets.token_urlsafe(32)
    s.add(
        WebLogin(
            token_hash=digest(token),
            officer_id=officer_id,
            account_id=account_id,
            created_at=now,
            expires_at=now + timedelta(minutes=LOGIN_MINUTES),
        )
    )
    return token


@dataclass
class Redeemed:
    officer_id: int
    lang: str
    account_id: int
    sid: str  # the new session's secret id (goes into the cookie only)


class LoginRefused(Exception):
    """Unknown, expired or already used link; ``reason`` is for the audit log."""

    def __init__(self, reason: str, officer_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.officer_id = officer_id


async def redeem_login(s: AsyncSession, token: str, now: datetime) -> Redeemed:
    """Use a login link once and open a session for the officer it was made for."""
    login = (await s.exec(select(WebLogin).where(WebLogin.token_hash == digest(token)))).first()
    if login is None:
        raise LoginRefused("unknown")
    if login.used_at is not None:
        raise LoginRefused("reused", login.officer_id)
    if login.expires_at <= now:
        raise LoginRefused("expired", login.officer_id)
    # Mark used with a guarded UPDATE so two requests racing for one token open one session.
    done = await s.exec(  # type: ignore[call-overload]
        update(WebLogin)
        .where(col(WebLogin.id) == login.id, col(WebLogin.used_at).is_(None))
        .values(used_at=now)
    )
    if done.rowcount != 1:
        raise LoginRefused("reused", login.officer_id)
    officer = await s.get(Officer, login.officer_id)
    if officer is None or not officer.active:
        raise LoginRefused("inactive", login.officer_id)
    account = await s.get(ChannelAccount, login.account_id)
    sid = secrets.token_urlsafe(32)
    s.add(
        WebSession(
            sid_hash=digest(sid),
            officer_id=login.officer_id,
            lang=account.lang if account else "vi",
            account_id=login.account_id,
            created_at=now,
            last_seen=now,
            expires_at=now + timedelta(hours=MAX_HOURS),
        )
    )
    return Redeemed(login.officer_id, account.lang if account else "vi", login.account_id, sid)


@dataclass
class Who:
    """The signed-in officer of a request."""

    session: WebSession
    officer: Officer
    unit: Unit
    sid: str

    @property
    def csrf(self) -> str:
        return csrf_token(self.sid)


async def current(s: AsyncSession, sid: str | None, now: datetime) -> Who | None:
    """The live session a cookie stands for (its idle clock restarted), or None."""
    if not sid:
        return None
    row = (
        await s.exec(
            select(WebSession, Officer, Unit)
            .join(Officer, col(Officer.id) == col(WebSession.officer_id))
            .join(Unit, col(Unit.id) == col(Officer.unit_id))
            .where(WebSession.sid_hash == digest(sid))
        )
    ).first()
    if row is None:
        return None
    session, officer, unit = row
    idle_end = session.last_seen + timedelta(minutes=IDLE_MINUTES)
    if session.ended_at is not None or now >= session.expires_at or now >= idle_end:
        return None
    if not officer.active:
        session.ended_at = now
        return None
    session.last_seen = now
    return Who(session, officer, unit, sid)


async def end(s: AsyncSession, sid: str, now: datetime) -> None:
    await s.exec(  # type: ignore[call-overload]
        update(WebSession).where(col(WebSession.sid_hash) == digest(sid)).values(ended_at=now)
    )
