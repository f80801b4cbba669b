"""Writing to the outbox. Sending is the dispatcher's job (see the reminders feature)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import ChannelAccount, Outbox
from db.queries import insert_for
from kernel.messages import Choice


async def enqueue(
    s: AsyncSession,
    *,
    key: str,
    account: ChannelAccount,
    text: str,
    kind: str,
    now: datetime,
    choices: Sequence[Choice] = (),
    numbered: bool = True,
    not_before: datetime | None = None,
    unit_id: int | None = None,
    batch: str | None = None,
) -> bool:
    """Add one message unless a row with ``key`` exists; True when a row was written.
    Runs inside the caller's transaction, so it commits with the decision that caused it."""
    values = dict(
        key=key,
        kind=kind,
        channel=account.channel,
        chat_id=account.chat_id,
        account_id=account.id,
        unit_id=unit_id,
        batch=batch,
        text=text,
        choices=[[c.key, c.label, c.alias] for c in choices],
        numbered=numbered,
        status="pending",
        attempts=0,
        not_before=not_before or now,
        created_at=now,
    )
    stmt = insert_for(s)(Outbox).values(**values).on_conflict_do_nothing(index_elements=["key"])
    result = await s.exec(stmt)  # type: ignore[call-overload]
    return bool(result.rowcount)


async def enqueue_many(
    s: AsyncSession, rows: Sequence[dict[str, object]], chunk: int = 1000
) -> int:
    """Insert many outbox rows (column → value dicts, every column given) with one compiled
    statement executed for each row (executemany), skipping keys that exist; returns how many
    were written (or, where the driver cannot count an executemany, how many were given).
    Same guarantees as ``enqueue``."""
    stmt = insert_for(s)(Outbox).on_conflict_do_nothing(index_elements=["key"])
    conn = await s.connection()  # Core executemany, in the session's transaction
    written = 0
    for i in range(0, len(rows), chunk):
        part = list(rows[i : i + chunk])
        result = await conn.execute(stmt, part)
        count = int(result.rowcount if result.rowcount is not None else -1)
        written += count if count >= 0 else len(part)
    return written
