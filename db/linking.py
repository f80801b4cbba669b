"""One-time codes that link a second messenger account to an officer (``/lienket``).

A registered officer asks for a code on one messenger and types it on the other; the account
that types it gets the same ``officer_id``. Only the code's SHA-256 is stored, a code lives
about ten minutes and is used once.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from kernel.clock import utcnow


class LinkCode(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True)
    officer_id: int = Field(foreign_key="officer.id", index=True)
    # The account that asked for the code (it is told when the link is made).
    account_id: int = Field(foreign_key="channelaccount.id")
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    used_by: int | None = Field(default=None, foreign_key="channelaccount.id")
