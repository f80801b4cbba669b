"""The outbox's unique key: enqueuing the same message twice writes one row."""

from __future__ import annotations

from sqlmodel import select

from db.engine import Database
from db.models import ChannelAccount, Outbox
from db.outbox import enqueue
from tests.conftest import local


async def test_enqueue_is_idempotent(db: Database) -> None:
    now = local("2026-12-01T08:00")
    async with db.session() as s:
        acc = ChannelAccount(channel="telegram", user_id="42", chat_id="42")
        s.add(acc)
        await s.flush()
        assert await enqueue(
            s, key="remind:2026:d-3:acc:1", account=acc, text="Nhắc", kind="reminder", now=now
        )
    async with db.session() as s:
        acc2 = (await s.exec(select(ChannelAccount))).one()
        again = await enqueue(
            s, key="remind:2026:d-3:acc:1", account=acc2, text="Nhắc lại", kind="reminder", now=now
        )
        assert again is False
    async with db.session() as s:
        rows = (await s.exec(select(Outbox))).all()
    assert [(r.text, r.status, r.chat_id) for r in rows] == [("Nhắc", "pending", "42")]
