"""Where the Telegram channel keeps each chat's keyboards: the database (``db.telegram``), so
that several workers (``bdg serve`` processes on one PostgreSQL database) receiving updates
of one chat know each other's keyboards: a tap on an outdated one is refused whichever worker
it reaches, an answer on one worker retires the keyboards another sent, and a hashed long
callback key sent by one resolves on the others.

On SQLite there is one process (a second one is refused), so a memory cache in front of the
table is the truth once a chat was read: reads are free, and the table is written when a
chat's keyboards change (the state survives a restart). On PostgreSQL every read goes to the
database.

Costs per update of a chat: a tap reads the row once (outdated? which key?); settling the
answer takes the keyboards (one short locked read-modify-write, skipped on SQLite when the
cached view has none); the replies sent add theirs in one upsert per batch (on SQLite only when
the batch has a keyboard).

A failing database costs the cosmetics, never the replies: the error is logged (type only)
and the chat behaves as if nothing were known of it (the dispatcher still refuses a tap that
does not match its question)."""

from __future__ import annotations

import contextlib
import logging
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.telegram.render import Chunk, buttons, is_hashed
from db.crypto import CryptoError, Keyring
from db.engine import Database, is_sqlite
from db.telegram import add_keyboards, read_view, remove_keyboards
from kernel.clock import utcnow
from services.cases.config import keyring as case_keyring

log = logging.getLogger("bdg.telegram")

# How many chats' views the SQLite cache holds.
MAX_CHATS = 20_000
_DB_ERRORS = (SQLAlchemyError, OSError)


@dataclass
class Keyboard:
    """A message of ours that still shows a keyboard."""

    message_id: int
    html: str
    buttons: list[tuple[str, str]]  # (callback_data, label)
    conversational: bool = True  # sent in answer to the user (not by the outbox)
    keys: dict[str, str] = field(default_factory=dict)  # hashed callback_data -> choice key

    @classmethod
    def of(cls, message_id: int, chunk: Chunk, conversational: bool = True) -> Keyboard:
        keys = {data: key for data, key in chunk.keys.items() if is_hashed(data)}
        return cls(message_id, chunk.html, buttons(chunk.markup), conversational, keys)

    def to_json(self, html: str) -> dict[str, Any]:
        """As stored; ``html`` is the text sealed (``ChatViews._seal``)."""
        return {
            "html": html,
            "buttons": [list(b) for b in self.buttons],
            "conversational": self.conversational,
            "keys": self.keys,
        }

    @classmethod
    def from_json(cls, message_id: str, data: dict[str, Any], html: str) -> Keyboard:
        return cls(
            int(message_id),
            html,
            [(str(d), str(label)) for d, label in data.get("buttons", [])],
            bool(data.get("conversational", True)),
            {str(k): str(v) for k, v in (data.get("keys") or {}).items()},
        )


@dataclass
class ChatView:
    keyboards: dict[int, Keyboard] = field(default_factory=dict)
    newest: int = 0  # highest message id of the bot's answers to the user

    def is_stale(self, message_id: int) -> bool:
        """A keyboard the bot has already moved past."""
        return message_id not in self.keyboards and message_id <= self.newest

    def key_of(self, data: str, message_id: int) -> str | None:
        """The choice key of hashed callback data, from the tapped keyboard or another."""
        tapped = self.keyboards.get(message_id)
        if tapped is not None and data in tapped.keys:
            return tapped.keys[data]
        return next((k.keys[data] for k in self.keyboards.values() if data in k.keys), None)


class ChatViews:
    """Each chat's keyboards, in the database (see the module docstring). ``cache`` defaults
    to True on SQLite (one process) and False on PostgreSQL (several workers)."""

    def __init__(
        self,
        db: Database,
        *,
        cache: bool | None = None,
        clock: Callable[[], datetime] = utcnow,
        keyring: Keyring | None = None,
    ) -> None:
        self.db = db
        self.cache = is_sqlite(db.url) if cache is None else cache
        self._clock = clock
        self._keyring = keyring
        self._views: OrderedDict[int, ChatView] = OrderedDict()

    @contextlib.asynccontextmanager
    async def _session(self) -> AsyncIterator[AsyncSession]:
        """SQLite: a write transaction (its one write lock, ``BEGIN IMMEDIATE``). PostgreSQL:
        every operation here is one statement, so it runs without a transaction around it
        (``AUTOCOMMIT``: one round trip each, where BEGIN and COMMIT made three or four)."""
        if self.cache or is_sqlite(self.db.url):
            async with self.db.session() as s:
                yield s
            return
        async with self.db.engine.connect() as conn:
            conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
            async with AsyncSession(bind=conn) as s:
                yield s

    async def get(self, chat_id: int) -> ChatView | None:
        """The chat's view; None when nothing is known of it (or the database failed)."""
        if self.cache and chat_id in self._views:
            self._views.move_to_end(chat_id)
            return self._views[chat_id]
        try:
            async with self._session() as s:
                found = await read_view(s, str(chat_id))
        except _DB_ERRORS as exc:
            log.warning("Telegram keyboards of a chat not read: %s", type(exc).__name__)
            return None
        view = None
        if found is not None:
            newest, keyboards = found
            view = ChatView({k.message_id: k for k in self._decode(chat_id, keyboards)}, newest)
        if self.cache:
            self._views[chat_id] = view or ChatView()
            while len(self._views) > MAX_CHATS:
                self._views.popitem(last=False)
        return view

    async def take(self, chat_id: int, keep: int | None = None) -> list[Keyboard]:
        """Every keyboard of the chat, removed from it (the person moved past them) except
        ``keep`` (returned too, left in place: a multiple choice being toggled stays live
        while its keyboard is edited)."""
        ids: list[str] | None = None
        cached: list[Keyboard] = []
        if self.cache:
            view = await self.get(chat_id)
            if view is None or not view.keyboards:
                return []
            cached = sorted(view.keyboards.values(), key=lambda k: k.message_id)
            ids = [str(k.message_id) for k in cached if k.message_id != keep]
            view.keyboards = {k.message_id: k for k in cached if k.message_id == keep}
            if not ids:
                return cached
        try:
            async with self._session() as s:
                removed = await remove_keyboards(
                    s, str(chat_id), ids, self._clock(), keep=None if keep is None else str(keep)
                )
        except _DB_ERRORS as exc:
            log.warning("Telegram keyboards of a chat not retired: %s", type(exc).__name__)
            removed = {}
        return cached if self.cache else self._decode(chat_id, removed)

    async def drop(self, chat_id: int, message_id: int) -> None:
        """Forget one keyboard (an outdated one, edited off)."""
        if self.cache:
            view = await self.get(chat_id)
            if view is None or view.keyboards.pop(message_id, None) is None:
                return
        try:
            async with self._session() as s:
                await remove_keyboards(s, str(chat_id), [str(message_id)], self._clock())
        except _DB_ERRORS as exc:
            log.warning("Telegram keyboard of a chat not dropped: %s", type(exc).__name__)

    async def add(self, chat_id: int, newest: int, keyboards: list[Keyboard]) -> None:
        """Record what was sent: keyboards merged into the chat's, ``newest`` raised."""
        if not newest and not keyboards:
            return
        if self.cache and chat_id in self._views:
            view = self._views[chat_id]
            view.newest = max(view.newest, newest)
            view.keyboards.update((k.message_id, k) for k in keyboards)
            if not keyboards:
                # SQLite: the cache is the truth and a write would queue on the one write
                # lock. ``newest`` reaches the table with the next keyboard; until then, after
                # a restart, only a retired reminder's keyboard could pass for a live one.
                return
        data = {str(k.message_id): k.to_json(self._seal(chat_id, k)) for k in keyboards}
        try:
            async with self._session() as s:
                await add_keyboards(s, str(chat_id), newest, data, self._clock())
        except _DB_ERRORS as exc:
            log.warning("Telegram keyboards of a chat not recorded: %s", type(exc).__name__)

    # A question's text may hold what a person told (a case report's summary before it is
    # sent): it is stored encrypted with the case keys, as other such texts (``db.crypto``).

    def _keys(self) -> Keyring:
        if self._keyring is None:
            self._keyring = case_keyring()
        return self._keyring

    def _seal(self, chat_id: int, keyboard: Keyboard) -> str:
        return self._keys().encrypt(
            keyboard.html, f"telegramchatview:{chat_id}:{keyboard.message_id}"
        )

    def _decode(self, chat_id: int, keyboards: dict[str, Any]) -> list[Keyboard]:
        found = []
        for message_id, data in keyboards.items():
            try:
                html = self._keys().decrypt(
                    str(data.get("html", "")), f"telegramchatview:{chat_id}:{message_id}"
                )
            except CryptoError:  # a key taken out of BDG_CASE_KEYS: the buttons still count
                html = ""
            found.append(Keyboard.from_json(message_id, data, html))
        return sorted(found, key=lambda k: k.message_id)


@dataclass
class SentBatch:
    """What one send batch to a chat showed (recorded with one ``ChatViews.add``)."""

    newest: int = 0
    keyboards: list[Keyboard] = field(default_factory=list)

    def sent(self, message_id: int, chunk: Chunk | None, conversational: bool) -> None:
        if conversational:  # a reminder in between does not make the pending question old
            self.newest = max(self.newest, message_id)
        if chunk is not None and chunk.markup is not None:
            self.keyboards.append(Keyboard.of(message_id, chunk, conversational))
