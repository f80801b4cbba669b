"""The OA's OAuth tokens: stored encrypted in the database, rotated durably, refreshed by one
process at a time.

A refresh runs in one transaction that holds the token row (``FOR UPDATE`` on PostgreSQL, the
single write lock on SQLite): it reads the row, and when another process has already renewed
the access token since this one last looked (the generation moved, or the token is fresh) it
uses that one; otherwise it spends the stored refresh token and writes the new pair before the
transaction commits. Two processes therefore never spend the same single-use refresh token.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.zalo_oa.client import OAClient, Tokens
from db.crypto import Keyring
from db.engine import Database
from db.zalo_oa import ZaloOAToken, locked_token, seed_token
from kernel.clock import utcnow

log = logging.getLogger("bdg.zalo_oa")


class TokenUnavailable(Exception):
    """No usable token: nothing stored and no ZALO_OA_REFRESH_TOKEN, or OAuth refused."""


@dataclass
class _Current:
    token: str
    expires_at: datetime
    generation: int


class TokenStore:
    def __init__(
        self,
        db: Database,
        client: OAClient,
        keyring: Keyring,
        *,
        margin: float = 600.0,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.client = client
        self.keyring = keyring
        self.margin = timedelta(seconds=margin)
        self.clock = clock  # wall time: token lifetimes are the platform's
        self.app_id = client.app_id
        self._current: _Current | None = None
        self._guard = asyncio.Lock()  # one refresh at a time inside this process
        self.refreshes = 0  # OAuth calls made by this process

    def _aad(self, which: str) -> str:
        return f"zalooatoken:{self.app_id}:{which}"

    async def seed(self, refresh_token: str | None) -> None:
        """Store ZALO_OA_REFRESH_TOKEN unless it was taken before (it is single use: once
        spent, the rotated token in the database is the one that counts)."""
        if not refresh_token:
            async with self.db.session() as s:
                if await locked_token(s, self.app_id) is None:
                    raise TokenUnavailable("no Zalo OA token stored yet: set ZALO_OA_REFRESH_TOKEN")
            return
        seed_hash = hashlib.sha256(refresh_token.encode()).hexdigest()
        encrypted = self.keyring.encrypt(refresh_token, self._aad("refresh"))
        async with self.db.session() as s:
            if await seed_token(s, self.app_id, encrypted, seed_hash, self.clock()):
                log.info("Zalo OA: took the refresh token from ZALO_OA_REFRESH_TOKEN")

    def _fresh(self, expires_at: datetime | None) -> bool:
        return expires_at is not None and expires_at - self.margin > self.clock()

    async def access_token(self) -> str:
        current = self._current
        if current is not None and self._fresh(current.expires_at):
            return current.token
        return await self.refresh(stale=current.token if current else None)

    async def refresh(self, stale: str | None = None) -> str:
        """A valid access token other than ``stale`` (the one the platform just refused):
        the one another process stored meanwhile, or a new one from OAuth."""
        async with self._guard:
            current = self._current
            if current is not None and current.token != stale and self._fresh(current.expires_at):
                return current.token
            async with self.db.session() as s:
                row = await locked_token(s, self.app_id)
                if row is None:
                    raise TokenUnavailable("no Zalo OA token stored: set ZALO_OA_REFRESH_TOKEN")
                stored = self._stored(row)
                if (
                    stored is not None
                    and stored.token != stale
                    and self._fresh(row.access_expires_at)
                ):
                    self._current = stored
                    return stored.token
                refresh_token = self.keyring.decrypt(row.refresh_token, self._aad("refresh"))
                tokens = await self.client.refresh(refresh_token)
                self.refreshes += 1
                now = self.clock()
                row.access_token = self.keyring.encrypt(tokens.access_token, self._aad("access"))
                row.refresh_token = self.keyring.encrypt(tokens.refresh_token, self._aad("refresh"))
                row.access_expires_at = now + timedelta(seconds=tokens.expires_in)
                row.generation += 1
                row.updated_at = now
                s.add(row)
                current = _Current(tokens.access_token, row.access_expires_at, row.generation)
            # Committed: only now is the new pair used.
            self._current = current
            log.info("Zalo OA: access token refreshed (generation %d)", current.generation)
            return current.token

    def _stored(self, row: ZaloOAToken) -> _Current | None:
        if row.access_token is None or row.access_expires_at is None:
            return None
        token = self.keyring.decrypt(row.access_token, self._aad("access"))
        return _Current(token, row.access_expires_at, row.generation)

    async def adopt(self, tokens: Tokens) -> int:
        """Store tokens obtained outside a refresh (``bdg zalo-oa login`` with an OAuth code),
        replacing what was stored; returns the new generation."""
        now = self.clock()
        async with self.db.session() as s:
            row = await locked_token(s, self.app_id)
            if row is None:
                row = ZaloOAToken(app_id=self.app_id, refresh_token="", seed_hash="")
            row.access_token = self.keyring.encrypt(tokens.access_token, self._aad("access"))
            row.refresh_token = self.keyring.encrypt(tokens.refresh_token, self._aad("refresh"))
            row.access_expires_at = now + timedelta(seconds=tokens.expires_in)
            row.generation += 1
            row.updated_at = now
            s.add(row)
            return row.generation

    async def status(self) -> ZaloOAToken | None:
        """The stored row (encrypted values), for ``bdg zalo-oa info``."""
        async with self.db.session() as s:
            return await s.get(ZaloOAToken, self.app_id)
