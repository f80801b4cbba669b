"""What a unit's page on the web desk shows beyond its latest values: how each version
differs from the one before, and the reminders the scheduler queued for the unit.

The differences are computed from the stored versions (each version keeps every value), so
they are the changes the unit actually submitted; the reminders are the outbox rows of kind
``reminder`` for the unit and period (batch ``remind:<period>:<day>``), with their status.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import ChannelAccount, Officer, Outbox, ReportVersion
from services.forms.engine import Form

MAX_REMINDERS = 100


@dataclass
class Change:
    label: str
    before: str
    after: str


def _shown(form: Form, qid: str, value: Any, lang: str) -> str:
    q = next((x for x in form.questions if x.id == qid), None)
    if q is None:
        return str(value)
    try:
        return form.format_value(q, value, lang)
    except (KeyError, TypeError, ValueError):
        return str(value)


def _label(form: Form, qid: str, lang: str) -> str:
    q = next((x for x in form.questions if x.id == qid), None)
    return (q.label.get(lang) or q.label.get("vi", qid)) if q else qid


def changes(form: Form, before: dict[str, Any], after: dict[str, Any], lang: str) -> list[Change]:
    """The answers a version changed, added or removed, in the form's order."""
    order = {q.id: i for i, q in enumerate(form.questions)}
    ids = sorted(set(before) | set(after), key=lambda k: (order.get(k, len(order)), k))
    out = []
    for qid in ids:
        if before.get(qid) == after.get(qid):
            continue
        out.append(
            Change(
                _label(form, qid, lang),
                _shown(form, qid, before[qid], lang) if qid in before else "—",
                _shown(form, qid, after[qid], lang) if qid in after else "—",
            )
        )
    return out


def version_changes(
    form: Form, versions: Sequence[ReportVersion], lang: str
) -> dict[int, list[Change]]:
    """Version number → its changes against the version before (version 1: none)."""
    ordered = sorted(versions, key=lambda v: v.version)
    return {
        v.version: changes(form, dict(prev.values), dict(v.values), lang)
        for prev, v in zip(ordered, ordered[1:], strict=False)
    }


@dataclass
class Reminder:
    at: datetime  # sent, or planned (not before)
    status: str
    channel: str
    officer: str
    batch: str


async def reminders(s: AsyncSession, unit_id: int, period: str) -> list[Reminder]:
    """The deadline reminders queued for the unit's officers for this period, newest first."""
    rows = (
        await s.exec(
            select(Outbox, Officer.full_name)
            .outerjoin(ChannelAccount, col(ChannelAccount.id) == col(Outbox.account_id))
            .outerjoin(Officer, col(Officer.id) == col(ChannelAccount.officer_id))
            .where(
                Outbox.unit_id == unit_id,
                Outbox.kind == "reminder",
                col(Outbox.batch).startswith(f"remind:{period}:"),
            )
            .order_by(col(Outbox.not_before).desc(), col(Outbox.id).desc())
            .limit(MAX_REMINDERS)
        )
    ).all()
    return [
        Reminder(o.sent_at or o.not_before, o.status, o.channel, name or "", o.batch or "")
        for o, name in rows
    ]
