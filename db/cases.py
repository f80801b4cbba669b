"""Violence case notifications: the case and its history.

A case is created as a ``draft`` when the reporter answers the first question, filled in
step by step (so nothing typed is lost), and becomes ``new`` with a code such as
``VV-2026-000123`` when sent. Free texts (description, call-back contact, notes) are stored
only encrypted (``db.crypto``); everything else is a choice key, so the counts for the
periodic report can be taken without decrypting anything. The reporter's messenger account is
not stored: only a keyed hash (``reporter_tag``) lets the same account ask for the status.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Officer, Unit
from kernel.clock import utcnow

DRAFT = "draft"
NEW = "new"
ACKNOWLEDGED = "acknowledged"
VERIFYING = "verifying"
SUPPORTING = "supporting"
REFERRED = "referred"
CLOSED = "closed"
# The order officers move a case through (DOMAIN: mới → … → đã đóng).
STATUSES = (NEW, ACKNOWLEDGED, VERIFYING, SUPPORTING, REFERRED, CLOSED)
OPEN_STATUSES = (NEW, ACKNOWLEDGED, VERIFYING, SUPPORTING, REFERRED)
# Reaching one of these means the child got the emergency intervention (Decree 56/2017).
INTERVENED_STATUSES = (SUPPORTING, REFERRED, CLOSED)


class Case(SQLModel, table=True):
    __tablename__ = "violence_case"

    id: int | None = Field(default=None, primary_key=True)
    code: str | None = Field(default=None, max_length=24, unique=True)
    status: str = Field(default=DRAFT, max_length=16, index=True)
    # The commune (or ward, town) that must act; null while the reporter has not said.
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    reporter_tag: str | None = Field(default=None, max_length=64, index=True)
    reported_by: int | None = Field(default=None, foreign_key="officer.id")
    # The intake steps answered so far (skipped optional ones included).
    steps_done: list[str] = Field(default_factory=list, sa_type=sa.JSON)

    danger_now: bool | None = None
    affected: str | None = Field(default=None, max_length=16)  # self | other
    victim_sex: str | None = Field(default=None, max_length=16)  # f | m | unknown
    age_group: str | None = Field(
        default=None, max_length=16
    )  # u16 | 16_17 | 18_59 | 60p | unknown
    forms: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    relation: str | None = Field(default=None, max_length=24)
    occurred: str | None = Field(default=None, max_length=16)
    occurred_on: date | None = None
    help_needed: list[str] = Field(default_factory=list, sa_type=sa.JSON)
    source: str | None = Field(default=None, max_length=24)  # asked of officers
    actions_taken: list[str] = Field(default_factory=list, sa_type=sa.JSON)  # officers
    anonymous: bool | None = None
    consent: str | None = Field(default=None, max_length=16)  # yes | no | not_asked
    description_enc: str | None = Field(default=None, sa_type=sa.Text)
    contact_enc: str | None = Field(default=None, sa_type=sa.Text)

    urgent: bool = False
    child: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow, index=True)
    submitted_at: datetime | None = Field(default=None, index=True)
    acknowledged_at: datetime | None = None
    acknowledged_by: int | None = Field(default=None, foreign_key="officer.id")
    intervened_at: datetime | None = None
    closed_at: datetime | None = Field(default=None, index=True)
    escalation_level: int = 0
    escalated_at: datetime | None = None
    # Child-clock alerts already queued: 0 none, 1 "4 hours left", 2 "overdue".
    clock_alerts: int = 0
    purged_at: datetime | None = None


class CaseEvent(SQLModel, table=True):
    """One step of a case's history: created, a status change, a note, an escalation."""

    __tablename__ = "violence_case_event"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="violence_case.id", index=True)
    at: datetime = Field(default_factory=utcnow)
    officer_id: int | None = Field(default=None, foreign_key="officer.id")
    kind: str = Field(max_length=16)  # create | status | note | escalate | clock
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str | None = Field(default=None, max_length=16)
    level: int | None = None
    note_enc: str | None = Field(default=None, sa_type=sa.Text)


# -- queries ----------------------------------------------------------------------------------
async def by_code(s: AsyncSession, code: str) -> Case | None:
    return (await s.exec(select(Case).where(Case.code == code))).first()


async def draft_for(s: AsyncSession, tags: Sequence[str]) -> Case | None:
    """The reporter's unfinished intake, if any (newest first)."""
    if not tags:
        return None
    return (
        await s.exec(
            select(Case)
            .where(Case.status == DRAFT, col(Case.reporter_tag).in_(list(tags)))
            .order_by(col(Case.updated_at).desc())
        )
    ).first()


async def events(s: AsyncSession, case_id: int) -> Sequence[CaseEvent]:
    return (
        await s.exec(
            select(CaseEvent)
            .where(CaseEvent.case_id == case_id)
            .order_by(col(CaseEvent.at), col(CaseEvent.id))
        )
    ).all()


async def open_cases_for(s: AsyncSession, officer: Officer, unit: Unit) -> Sequence[Case]:
    """Open cases an officer may see: those of their unit; an admin also sees the subtree."""
    q = select(Case).where(col(Case.status).in_(OPEN_STATUSES))
    if officer.role == "admin":
        ids = select(Unit.id).where(col(Unit.path).startswith(unit.path))
        q = q.where(col(Case.unit_id).in_(ids))
    else:
        q = q.where(Case.unit_id == unit.id)
    return (
        await s.exec(q.order_by(col(Case.urgent).desc(), col(Case.submitted_at), col(Case.id)))
    ).all()


async def submitted_between(
    s: AsyncSession, unit_id: int, start: datetime, end: datetime
) -> Sequence[Case]:
    """Cases of one unit sent in [start, end) (drafts excluded)."""
    return (
        await s.exec(
            select(Case).where(
                Case.unit_id == unit_id,
                col(Case.submitted_at).is_not(None),
                col(Case.submitted_at) >= start,
                col(Case.submitted_at) < end,
            )
        )
    ).all()


async def unacknowledged_urgent(s: AsyncSession) -> Sequence[Case]:
    return (
        await s.exec(
            select(Case)
            .where(Case.status == NEW, col(Case.urgent).is_(True))
            .order_by(col(Case.id))
        )
    ).all()


async def child_cases_on_clock(s: AsyncSession) -> Sequence[Case]:
    """Child cases still waiting for the emergency intervention."""
    return (
        await s.exec(
            select(Case).where(
                col(Case.child).is_(True),
                col(Case.status).in_(OPEN_STATUSES),
                col(Case.intervened_at).is_(None),
                Case.clock_alerts < 2,
            )
        )
    ).all()


def case_values(case: Case) -> dict[str, Any]:
    """The choice answers of a case (no free text), e.g. for tests and exports."""
    return {
        "danger_now": case.danger_now,
        "affected": case.affected,
        "victim_sex": case.victim_sex,
        "age_group": case.age_group,
        "forms": list(case.forms),
        "relation": case.relation,
        "occurred": case.occurred,
        "help_needed": list(case.help_needed),
        "source": case.source,
        "actions_taken": list(case.actions_taken),
        "anonymous": case.anonymous,
        "consent": case.consent,
    }
