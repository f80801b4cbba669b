"""Keeping case data no longer than needed, and rotating the encryption key.

- Closed cases: ``purge`` removes the description, the call-back contact and the notes of
  cases closed more than N months ago (BDG_CASE_RETENTION_MONTHS, default 24). The choice
  answers stay, so the counts of past periods do not change.
- Drafts nobody finished and that name no place: deleted after ``DRAFT_DAYS`` without an
  answer. A draft that names a place is never deleted here: after a quiet time it reaches the
  commune as an incomplete notification (``routing.incomplete_due``).
- ``rekey`` rewrites every encrypted value with the first key of BDG_CASE_KEYS, after which
  older keys can be removed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.cases import CLOSED, DRAFT, Case, CaseEvent
from services.cases.config import config, keyring

DRAFT_DAYS = 3


@dataclass(frozen=True)
class PurgeResult:
    cases: int  # closed cases whose texts were removed
    drafts: int  # unfinished drafts deleted


def months_before(dt: datetime, months: int) -> datetime:
    year, month = divmod(dt.year * 12 + dt.month - 1 - months, 12)
    month += 1
    day = dt.day
    while True:
        try:
            return dt.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


async def purge(s: AsyncSession, now: datetime, months: int | None = None) -> PurgeResult:
    months = months or config().retention_months
    cutoff = months_before(now, months)
    old = (
        await s.exec(
            select(Case).where(
                Case.status == CLOSED,
                col(Case.closed_at) < cutoff,
                col(Case.purged_at).is_(None),
            )
        )
    ).all()
    for case in old:
        case.description_enc = None
        case.contact_enc = None
        case.purged_at = now
        notes = (await s.exec(select(CaseEvent).where(CaseEvent.case_id == case.id))).all()
        for ev in notes:
            ev.note_enc = None
    stale = (
        await s.exec(
            select(Case).where(
                Case.status == DRAFT,
                col(Case.unit_id).is_(None),
                col(Case.updated_at) < now - timedelta(days=DRAFT_DAYS),
            )
        )
    ).all()
    for case in stale:
        await s.exec(delete(CaseEvent).where(col(CaseEvent.case_id) == case.id))  # type: ignore[call-overload]
        await s.delete(case)
    await s.flush()
    return PurgeResult(cases=len(old), drafts=len(stale))


async def rekey(s: AsyncSession) -> int:
    """Re-encrypt every value not written with the current key; returns how many."""
    ring = keyring()
    changed = 0
    for case in (await s.exec(select(Case))).all():
        for field, name in (("description_enc", "description"), ("contact_enc", "contact")):
            token = getattr(case, field)
            if token and not ring.is_current(token):
                aad = f"case:{case.id}:{name}"
                setattr(case, field, ring.encrypt(ring.decrypt(token, aad), aad))
                changed += 1
    for ev in (await s.exec(select(CaseEvent).where(col(CaseEvent.note_enc).is_not(None)))).all():
        if ev.note_enc and not ring.is_current(ev.note_enc):
            aad = f"case:{ev.case_id}:note"
            ev.note_enc = ring.encrypt(ring.decrypt(ev.note_enc, aad), aad)
            changed += 1
    await s.flush()
    return changed
