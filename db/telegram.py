"""What the Telegram channel knows of a chat's keyboards, shared by every worker (issue 13).

One row per chat: ``newest``, the highest message id of the bot's answers to the person, and
``keyboards``, the bot's messages that still show buttons, as JSON
``{"<message_id>": {"html": …, "buttons": [[callback_data, label], …], "conversational": bool,
"keys": {hashed callback data: choice key}}}``. No row: nothing known (a chat from before
this table, or one the bot never answered with buttons); the channel then behaves as after a
restart.

Concurrent changes of one chat on two workers (a reminder sent by the outbox on one while the
person's answer is settled on the other) must not lose each other's keyboards:

- adding (after a send) is one ``INSERT … ON CONFLICT DO UPDATE`` that *merges* in the
  database (``jsonb ||`` on PostgreSQL, ``json_patch`` on SQLite) and keeps the larger
  ``newest``; the update of a conflicting row runs on its latest committed version, so two
  workers adding at once both land, and no read is needed before the write;
- removing (retiring the keyboards the person moved past, dropping an outdated one) reads the
  row ``FOR UPDATE`` and writes it back in the same short transaction: an add waits for it and
  then merges into the result (and a remove waits for an add). SQLite has one writer at a time
  (every transaction is ``BEGIN IMMEDIATE``), which gives the same order.

A question's text is kept (to show the chosen answer in it later) encrypted with the case keys
(``db.crypto``, sealed by ``bot.telegram.keyboards``): it may hold what a person told, such as
a case report's summary before it is sent. Button labels and callback data are plain.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from db.queries import insert_for
from kernel.clock import utcnow

# JSONB on PostgreSQL: its ``||`` merges two objects in the upsert.
KEYBOARDS_TYPE = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


class TelegramChatView(SQLModel, table=True):
    """The keyboards still live in one Telegram chat (see the module docstring)."""

    chat_id: str = Field(primary_key=True, max_length=64)
    newest: int = Field(default=0, sa_type=sa.BigInteger)
    keyboards: dict[str, Any] = Field(
        default_factory=dict, sa_column=sa.Column(KEYBOARDS_TYPE, nullable=False)
    )
    updated_at: datetime = Field(default_factory=utcnow)


def _table() -> sa.Table:
    return TelegramChatView.__table__  # type: ignore[attr-defined, no-any-return]


# PostgreSQL: the remove in one statement (one round trip, no transaction around it). The
# row is locked by the sub-select (``FOR UPDATE``; a concurrent add or remove waits, and this
# one then reads its result), the keyboards that go are cut out of the row in the database,
# and the row as it was when locked comes back to say what was removed.
_PG_REMOVE = sa.text(
    "UPDATE telegramchatview AS t SET keyboards = CASE WHEN CAST(:everything AS boolean) THEN "
    "CASE WHEN jsonb_exists(t.keyboards, CAST(:keep AS text)) "
    "THEN jsonb_build_object(CAST(:keep AS text), t.keyboards -> CAST(:keep AS text)) "
    "ELSE CAST('{}' AS jsonb) END "
    "ELSE t.keyboards - CAST(:drop AS text[]) END, updated_at = :at "
    "FROM (SELECT chat_id, keyboards FROM telegramchatview WHERE chat_id = :chat FOR UPDATE) "
    "AS old WHERE t.chat_id = old.chat_id RETURNING old.keyboards"
).bindparams(sa.bindparam("at", type_=TelegramChatView.__table__.c.updated_at.type))  # type: ignore[attr-defined]


def _is_pg(s: AsyncSession) -> bool:
    return s.bind is not None and s.bind.dialect.name == "postgresql"


async def read_view(s: AsyncSession, chat_id: str) -> tuple[int, dict[str, Any]] | None:
    """``(newest, keyboards)`` of a chat, or None when nothing is known of it."""
    table = _table()
    stmt = sa.select(table.c.newest, table.c.keyboards).where(table.c.chat_id == chat_id)
    row = (await s.exec(stmt)).first()  # type: ignore[call-overload]
    return None if row is None else (int(row[0]), dict(row[1] or {}))


async def add_keyboards(
    s: AsyncSession, chat_id: str, newest: int, keyboards: dict[str, Any], at: datetime
) -> None:
    """Merge ``keyboards`` into the chat's and raise ``newest`` to at least the given one; one
    statement, safe against another worker doing the same (see the module docstring)."""
    table = _table()
    stmt = insert_for(s)(table).values(
        chat_id=chat_id, newest=newest, keyboards=keyboards, updated_at=at
    )
    new = stmt.excluded
    newest_expr: Any
    merged: Any
    if _is_pg(s):
        newest_expr = sa.func.greatest(table.c.newest, new.newest)
        merged = table.c.keyboards.op("||", return_type=KEYBOARDS_TYPE)(new.keyboards)
    else:
        newest_expr = sa.func.max(table.c.newest, new.newest)
        merged = sa.func.json_patch(table.c.keyboards, new.keyboards)
    stmt = stmt.on_conflict_do_update(
        index_elements=["chat_id"],
        set_={"newest": newest_expr, "keyboards": merged, "updated_at": new.updated_at},
    )
    await s.exec(stmt)  # type: ignore[call-overload]


async def remove_keyboards(
    s: AsyncSession,
    chat_id: str,
    message_ids: list[str] | None,
    at: datetime,
    *,
    keep: str | None = None,
) -> dict[str, Any]:
    """Remove the keyboards of ``message_ids`` (all of them when None) but ``keep`` from the
    chat's, under the row's lock; returns the ones removed and the kept one."""
    table = _table()
    if _is_pg(s):
        row = (
            await s.exec(  # type: ignore[call-overload]
                _PG_REMOVE,
                params={
                    "chat": chat_id,
                    "everything": message_ids is None,
                    "keep": keep,
                    "drop": [m for m in message_ids or [] if m != keep],
                    "at": at,
                },
            )
        ).first()
        if row is None or not row[0]:
            return {}
        return _taken(dict(row[0]), message_ids, keep)[1]
    stmt = sa.select(table.c.keyboards).where(table.c.chat_id == chat_id).with_for_update()
    row = (await s.exec(stmt)).first()  # type: ignore[call-overload]
    if row is None or not row[0]:
        return {}
    was: dict[str, Any] = dict(row[0])
    going, taken = _taken(was, message_ids, keep)
    if going:
        staying = {m: k for m, k in was.items() if m not in going}
        await s.exec(  # type: ignore[call-overload]
            sa.update(table)
            .where(table.c.chat_id == chat_id)
            .values(keyboards=staying, updated_at=at)
        )
    return taken


def _taken(
    was: dict[str, Any], message_ids: list[str] | None, keep: str | None
) -> tuple[set[str], dict[str, Any]]:
    """Of a chat's keyboards as they were, the ids that go (``message_ids``, or all, but
    ``keep``) and what ``remove_keyboards`` returns: those, and the kept one."""
    wanted = list(was) if message_ids is None else message_ids
    going = {m for m in wanted if m in was and m != keep}
    taken = {m: was[m] for m in wanted if m in going}
    if keep is not None and keep in was:
        taken[keep] = was[keep]
    return going, taken


async def forget_idle_keyboards(s: AsyncSession, before: datetime, now: datetime) -> int:
    """Empty the keyboards of the chats whose row has not changed since ``before`` (the daily
    maintenance); ``newest`` stays, so their old buttons are refused as outdated. Returns how
    many chats."""
    table = _table()
    result = await s.exec(  # type: ignore[call-overload]
        sa.update(table).where(table.c.updated_at < before).values(keyboards={}, updated_at=now)
    )
    return int(result.rowcount or 0)
