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
from sqlalchemy import and_, or_
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Unit
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
    # When the duty people were first alerted: at "danger now + place" during the intake,
    # when a quiet unfinished draft became an incomplete notification, or at "gửi". The
    # acknowledgement and child clocks run from here.
    alerted_at: datetime | None = Field(default=None, index=True)
    # The reporter stopped before "gửi" and the commune was told anyway (quiet period).
    incomplete: bool = False
    # When the reporter sent it ("gửi"); None while the intake is still going on.
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
    # No-contact order (Law 13/2022, art. 25): requested by the victim or their guardian; the
    # commune chair decides within 12 hours; an order lasts at most 3 days.
    nc_requested_at: datetime | None = None
    nc_decided_at: datetime | None = None
    nc_decision: str | None = Field(default=None, max_length=16)  # granted | refused
    nc_until: datetime | None = None
    # No-contact alerts queued for the current request: 1 "4 hours left", 2 overdue,
    # 3 expiry reminded.
    nc_alerts: int = 0
    # The officer the case was given to (web desk's cases board, ``services.cases.actions``).
    assigned_to: int | None = Field(default=None, foreign_key="officer.id")


# Roles a commune's duty roster can hold (Law 13/2022, art. 19(1) names where reports go).
DUTY_ROLES = (
    "chair",
    "police",
    "officer",
    "village_head",
    "child_protection",
    "school",
    "women_union",
    "other",
)
SHIFTS = ("any", "day", "night")


class DutyEntry(SQLModel, table=True):
    """One line of a commune's duty roster: who must hear of an urgent case, in order, by
    day, by night or always. ``officer_id`` is a bot user who gets the alerts; ``phone`` is a
    number the alert recipients and the reporter may call (a role's official number, never a
    private one)."""

    __tablename__ = "violence_case_duty"

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    position: int = 0
    role: str = Field(max_length=24)
    shift: str = Field(default="any", max_length=8)
    officer_id: int | None = Field(default=None, foreign_key="officer.id")
    phone: str | None = Field(default=None, max_length=40)
    label: str | None = Field(default=None, max_length=120)
    created_at: datetime = Field(default_factory=utcnow)


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
    assignee_id: int | None = Field(default=None, foreign_key="officer.id")  # kind "assign"
    note_enc: str | None = Field(default=None, sa_type=sa.Text)


# -- queries ----------------------------------------------------------------------------------
async def by_code(s: AsyncSession, code: str) -> Case | None:
    return (await s.exec(select(Case).where(Case.code == code))).first()


async def draft_for(s: AsyncSession, tags: Sequence[str]) -> Case | None:
    """The reporter's unfinished intake, if any (newest first): a draft, or a case alerted
    during the intake and not sent yet."""
    if not tags:
        return None
    return (
        await s.exec(
            select(Case)
            .where(
                or_(
                    col(Case.status) == DRAFT,
                    and_(col(Case.alerted_at).is_not(None), col(Case.submitted_at).is_(None)),
                ),
                col(Case.reporter_tag).in_(list(tags)),
            )
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


async def open_cases_in(s: AsyncSession, root: Unit) -> Sequence[Case]:
    """Open cases of ``root``'s subtree (an officer's scope, ``services.scope``), urgent
    first. A case alerted during the intake is open before the reporter sends it."""
    ids = select(Unit.id).where(col(Unit.path).startswith(root.path))
    q = select(Case).where(
        col(Case.status).in_(OPEN_STATUSES),
        col(Case.alerted_at).is_not(None),
        col(Case.unit_id).in_(ids),
    )
    return (
        await s.exec(q.order_by(col(Case.urgent).desc(), col(Case.alerted_at), col(Case.id)))
    ).all()


async def duty_roster(s: AsyncSession, unit_id: int) -> Sequence[DutyEntry]:
    return (
        await s.exec(
            select(DutyEntry)
            .where(DutyEntry.unit_id == unit_id)
            .order_by(col(DutyEntry.position), col(DutyEntry.id))
        )
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
            .where(
                Case.status == NEW,
                col(Case.urgent).is_(True),
                col(Case.alerted_at).is_not(None),
            )
            .order_by(col(Case.id))
        )
    ).all()


async def quiet_drafts(s: AsyncSession, before: datetime) -> Sequence[Case]:
    """Unfinished drafts that name a place and were not touched since ``before``."""
    return (
        await s.exec(
            select(Case)
            .where(
                Case.status == DRAFT,
                col(Case.unit_id).is_not(None),
                col(Case.updated_at) < before,
            )
            .order_by(col(Case.id))
        )
    ).all()


async def no_contact_open(s: AsyncSession) -> Sequence[Case]:
    """Cases with a no-contact request waiting for a decision, or an order not yet ended."""
    return (
        await s.exec(
            select(Case)
            .where(col(Case.nc_requested_at).is_not(None), Case.nc_alerts < 3)
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
                col(Case.alerted_at).is_not(None),
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
