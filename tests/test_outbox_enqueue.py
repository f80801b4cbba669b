"""The outbox's unique key: enqueuing the same message twice writes one row."""

from __future__ import annotations

from sqlmodel import select

from db.engine import Database
from db.models import ChannelAccount, Outbox
from db.outbox import enqueue, enqueue_many
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


async def test_enqueue_many_stores_every_column_and_skips_written_keys(db: Database) -> None:
    now = local("2026-12-01T08:00")
    later = local("2026-12-01T08:30")
    choices = [["start_report", "📝 Làm báo cáo ngay", None]]
    async with db.session() as s:
        acc = ChannelAccount(channel="zalo", user_id="7", chat_id="7")
        s.add(acc)
        await s.flush()
        rows: list[dict[str, object]] = [
            dict(
                key=f"remind:2026:2026-12-01:off:{i}",
                kind="reminder",
                channel="zalo",
                chat_id="7",
                account_id=acc.id,
                unit_id=None,
                batch="remind:2026:2026-12-01",
                text=f"Nhắc <b>{i}</b> 'x' % {{y}}",
                choices=choices,  # one list shared by every row, as the planner passes it
                numbered=i % 2 == 0,
                status="pending",
                attempts=0,
                last_error=None,
                not_before=later,
                created_at=now,
                sent_at=None,
            )
            for i in range(3)
        ]
        assert await enqueue_many(s, rows[:2]) == 2
    async with db.session() as s:
        written = await enqueue_many(s, rows, chunk=2)
        assert written == 1
    async with db.session() as s:
        stored = (await s.exec(select(Outbox).order_by(Outbox.key))).all()
    assert [(r.key[-5:], r.text, r.choices, r.numbered) for r in stored] == [
        (f"off:{i}", f"Nhắc <b>{i}</b> 'x' % {{y}}", choices, i % 2 == 0) for i in range(3)
    ]
    assert all(
        (r.not_before, r.created_at, r.sent_at, r.attempts) == (later, now, None, 0) for r in stored
    )
