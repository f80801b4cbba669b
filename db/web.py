"""Sign-in to the web desk: one-time login links and the sessions they open.

An officer or admin sends ``/web`` in the chat and gets a link holding a random token; only
the token's SHA-256 is stored, it lives ten minutes and is used once. Opening it starts a
session whose random id lives in an HttpOnly cookie; only the id's SHA-256 is stored here, so
a copy of the database opens no session. A session ends at logout, after an idle timeout, or
at its absolute end.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from kernel.clock import utcnow


class WebLogin(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    token_hash: str = Field(max_length=64, unique=True)
    officer_id: int = Field(foreign_key="officer.id", index=True)
    # The account that asked (its language is the desk's language).
    account_id: int = Field(foreign_key="channelaccount.id")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None


class WebSession(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    sid_hash: str = Field(max_length=64, unique=True)
    officer_id: int = Field(foreign_key="officer.id", index=True)
    lang: str = Field(default="vi", max_length=8)
    # The messenger account whose /web link opened the session: the desk's audit rows carry it
    # as the chat's do. None for sessions opened before it was recorded.
    account_id: int | None = Field(default=None, foreign_key="channelaccount.id")
    created_at: datetime = Field(default_factory=utcnow)
    last_seen: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    ended_at: datetime | None = None
