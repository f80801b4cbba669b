"""Announcements to every officer of a subtree, through the outbox (``/thongbao`` in the chat
and the web desk's announcements page call these functions).

One outbox row per reachable account of an active officer of the subtree, the sender
excepted: key ``announce:<id>:acc:<account id>``, batch ``announce:<id>``; a second send of
the same id writes nothing. The counts come from the rows' status (sent, pending, failed).
The audit row (action ``desk.announce``, target the batch, detail ``unit:<code>;n=<rows>``)
is written by the caller and never holds the text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape, unescape

from sqlalchemy import func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import AuditLog, ChannelAccount, Officer, Outbox, Unit
from db.outbox import enqueue
from kernel.i18n import t

ACTION = "desk.announce"
MAX_TEXT = 1500  # with the header it stays under Zalo's 2000 characters
PREVIEW_CHARS = 60
_TAG = re.compile(r"</?[a-z]+[^>]*>")


def batch_of(announce_id: str) -> str:
    return f"announce:{announce_id}"


def render(lang: str, agency: str, text: str) -> str:
    """What a recipient reads (Telegram HTML; the admin's text is escaped)."""
    return t(lang, "admin.tb_header", agency=escape(agency)) + "\n" + escape(text)


async def recipients(
    s: AsyncSession, root: Unit, sender_id: int | None
) -> list[tuple[ChannelAccount, Officer]]:
    """Reachable accounts of active officers in the subtree, the sender excepted."""
    rows = (
        await s.exec(
            select(ChannelAccount, Officer)
            .join(Officer, col(Officer.id) == col(ChannelAccount.officer_id))
            .join(Unit, col(Unit.id) == col(Officer.unit_id))
            .where(
                col(Unit.path).startswith(root.path),
                col(Officer.active).is_(True),
                col(ChannelAccount.unreachable).is_(False),
            )
            .order_by(col(ChannelAccount.id))
        )
    ).all()
    return [(a, o) for a, o in rows if o.id != sender_id]


async def send(
    s: AsyncSession,
    root: Unit,
    agency: str,
    sender_id: int | None,
    announce_id: str,
    text: str,
    now: datetime,
) -> int:
    """One outbox row per recipient account; the rows written (a repeat writes none)."""
    written = 0
    to: Sequence[tuple[ChannelAccount, Officer]] = await recipients(s, root, sender_id)
    for acc, officer in to:
        if await enqueue(
            s,
            key=f"{batch_of(announce_id)}:acc:{acc.id}",
            account=acc,
            text=render(acc.lang, agency, text),
            kind="announcement",
            now=now,
            unit_id=officer.unit_id,
            batch=batch_of(announce_id),
        ):
            written += 1
    return written


async def delivery_counts(s: AsyncSession, batch: str) -> dict[str, int]:
    rows = (
        await s.exec(
            select(Outbox.status, func.count())
            .where(Outbox.batch == batch)
            .group_by(col(Outbox.status))
        )
    ).all()
    return {str(status): int(n) for status, n in rows}


def preview_text(rendered: str) -> str:
    """The start of the announcement's body (the stored text is HTML under a header)."""
    body = unescape(_TAG.sub("", rendered)).split("\n", 1)[-1].replace("\n", " ")
    return body if len(body) <= PREVIEW_CHARS else body[: PREVIEW_CHARS - 1] + "…"


@dataclass
class Sent:
    """One announcement of a subtree: when, the start of its text, its delivery counts."""

    batch: str
    at: datetime
    preview: str
    counts: dict[str, int]

    @property
    def sent(self) -> int:
        return self.counts.get("sent", 0)

    @property
    def pending(self) -> int:
        # "sending": the attempt is under way (recorded before the send), not delivered yet.
        return self.counts.get("pending", 0) + self.counts.get("sending", 0)

    @property
    def failed(self) -> int:
        return self.counts.get("failed", 0) + self.counts.get("cancelled", 0)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


async def last_sent(s: AsyncSession, root: Unit, n: int, *, subtree: bool = False) -> list[Sent]:
    """The last ``n`` announcements (from the audit log) with their counts: those sent to
    ``root`` itself (``/thongbao``), or with ``subtree`` to any unit of its subtree (the web
    desk lists every announcement its admin can see)."""
    q = select(AuditLog).where(AuditLog.action == ACTION, AuditLog.outcome == "ok")
    if not subtree:
        q = q.where(col(AuditLog.detail).startswith(f"unit:{root.code};"))
    q = q.order_by(col(AuditLog.at).desc(), col(AuditLog.id).desc())
    entries = list((await s.exec(q.limit(n if not subtree else n * 10))).all())
    if subtree:
        codes = {(e.detail or "").split(";")[0].removeprefix("unit:") for e in entries}
        inside = set(
            (
                await s.exec(
                    select(Unit.code).where(
                        col(Unit.code).in_(codes), col(Unit.path).startswith(root.path)
                    )
                )
            ).all()
        )
        entries = [e for e in entries if (e.detail or "").split(";")[0][5:] in inside][:n]
    out = []
    for e in entries:
        batch = e.target or ""
        first = (await s.exec(select(Outbox.text).where(Outbox.batch == batch).limit(1))).first()
        out.append(Sent(batch, e.at, preview_text(first or ""), await delivery_counts(s, batch)))
    return out
