"""Tables of the Zalo Official Account channel: the OAuth tokens (encrypted, rotated in
place) and what the channel knows of each OA user (the last interaction, which opens the
consultation window, and a phone number given with consent for ZNS messages).

Token and phone values are stored only encrypted (``db.crypto``); the helpers here read and
write rows and take the lock a token refresh needs, nothing more.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel, col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from db.queries import insert_for
from kernel.clock import utcnow


class ZaloOAToken(SQLModel, table=True):
    """The OA's current tokens, one row per app id. ``generation`` counts refreshes."""

    app_id: str = Field(primary_key=True, max_length=64)
    access_token: str | None = Field(default=None, max_length=2000)  # encrypted
    access_expires_at: datetime | None = None
    refresh_token: str = Field(max_length=2000)  # encrypted, single use
    # SHA-256 of the ZALO_OA_REFRESH_TOKEN value last taken from the settings, so a new value
    # given by an administrator replaces the stored token while the same value does not.
    seed_hash: str = Field(max_length=64)
    generation: int = 0
    updated_at: datetime = Field(default_factory=utcnow)


class ZaloOAUser(SQLModel, table=True):
    """One OA user (follower). No message contents."""

    user_id: str = Field(primary_key=True, max_length=64)
    last_interaction_at: datetime | None = None
    followed: bool = True
    phone: str | None = Field(default=None, max_length=400)  # encrypted
    zns_consent: bool = False
    updated_at: datetime = Field(default_factory=utcnow)


async def locked_token(s: AsyncSession, app_id: str) -> ZaloOAToken | None:
    """The token row, locked until the end of the transaction: ``FOR UPDATE`` on PostgreSQL;
    on SQLite every transaction already holds the single write lock (``BEGIN IMMEDIATE``)."""
    stmt = select(ZaloOAToken).where(col(ZaloOAToken.app_id) == app_id).with_for_update()
    row = (await s.exec(stmt)).first()
    if row is not None:
        await s.refresh(row)  # a row cached by an earlier read must not hide a newer one
    return row


async def seed_token(
    s: AsyncSession, app_id: str, refresh_token: str, seed_hash: str, now: datetime
) -> bool:
    """Store an initial refresh token unless the row exists with the same seed; True when the
    stored token was replaced (a first start, or a new value from an administrator)."""
    row = await locked_token(s, app_id)
    if row is None:
        stmt = (
            insert_for(s)(ZaloOAToken)
            .values(
                app_id=app_id,
                refresh_token=refresh_token,
                seed_hash=seed_hash,
                generation=0,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["app_id"])
        )
        await s.exec(stmt)  # type: ignore[call-overload]
        return True
    if row.seed_hash == seed_hash:
        return False
    row.refresh_token, row.seed_hash = refresh_token, seed_hash
    row.access_token, row.access_expires_at = None, None
    row.updated_at = now
    s.add(row)
    return True


async def touch_user(
    s: AsyncSession, user_id: str, at: datetime, *, followed: bool | None = True
) -> None:
    """Record an interaction of ``user_id`` at ``at`` (never moving the time backwards)."""
    stmt = (
        insert_for(s)(ZaloOAUser)
        .values(user_id=user_id, last_interaction_at=at, followed=bool(followed), updated_at=at)
        .on_conflict_do_nothing(index_elements=["user_id"])
    )
    result = await s.exec(stmt)  # type: ignore[call-overload]
    if result.rowcount:
        return
    values: dict[str, object] = {"updated_at": at}
    if followed is not None:
        values["followed"] = followed
    await s.exec(  # type: ignore[call-overload]
        update(ZaloOAUser).where(col(ZaloOAUser.user_id) == user_id).values(**values)
    )
    if followed is not False:
        await s.exec(  # type: ignore[call-overload]
            update(ZaloOAUser)
            .where(
                col(ZaloOAUser.user_id) == user_id,
                (col(ZaloOAUser.last_interaction_at).is_(None))
                | (col(ZaloOAUser.last_interaction_at) < at),
            )
            .values(last_interaction_at=at)
        )


async def oa_user(s: AsyncSession, user_id: str) -> ZaloOAUser | None:
    return await s.get(ZaloOAUser, user_id)
