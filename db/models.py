"""Core tables: the unit tree, officers and their messenger accounts, invitations,
conversation state, reports with their versions and values, the audit log and the keys of
processed updates.

All datetimes are timezone-aware UTC (``kernel.clock.utcnow``); handlers show them in local time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.clock import utcnow


class Unit(SQLModel, table=True):
    """A node of the administrative tree (province → [district] → commune → village, or a
    department). ``path`` is the materialised path of ids, ``/1/4/9/``, so a subtree is one
    prefix query at any depth."""

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True, index=True)
    name: str = Field(max_length=200)
    kind: str = Field(max_length=32)
    parent_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    path: str = Field(default="/", max_length=400, index=True)
    # A reporting unit is expected to submit the periodic reports (communes, departments).
    reports: bool = True
    # Duty phone numbers and trusted addresses shown to a person in danger (one per line).
    duty_contacts: str | None = Field(default=None, max_length=2000)


class Officer(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    full_name: str = Field(max_length=120)
    position: str = Field(max_length=120)
    role: str = Field(default="officer", max_length=16)  # officer | admin
    # The unit whose subtree this officer answers for (cases, alerts, the desk); None = the
    # default of ``services.scope`` (the home unit; an agency admin: the agency's parent).
    scope_unit_id: int | None = Field(default=None, foreign_key="unit.id")
    active: bool = True
    mute_action_months: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class ChannelAccount(SQLModel, table=True):
    """One messenger identity (Telegram user, Zalo user, terminal user)."""

    __table_args__ = (sa.UniqueConstraint("channel", "user_id", name="uq_account_channel_user"),)

    id: int | None = Field(default=None, primary_key=True)
    channel: str = Field(max_length=16)
    user_id: str = Field(max_length=64)
    chat_id: str = Field(max_length=64)
    officer_id: int | None = Field(default=None, foreign_key="officer.id", index=True)
    lang: str = Field(default="vi", max_length=8)
    unreachable: bool = False
    created_at: datetime = Field(default_factory=utcnow)


class Invite(SQLModel, table=True):
    """A single-use registration code. Only a hash of the code is stored."""

    id: int | None = Field(default=None, primary_key=True)
    code_hash: str = Field(max_length=64, unique=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    role: str = Field(default="officer", max_length=16)
    scope_unit_id: int | None = Field(default=None, foreign_key="unit.id")  # see Officer
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    used_at: datetime | None = None
    used_by: int | None = Field(default=None, foreign_key="officer.id")


class Conversation(SQLModel, table=True):
    """Where an account is in a conversation; committed with every answer."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="channelaccount.id", unique=True)
    flow: str | None = Field(default=None, max_length=32)
    state: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    # The choices last offered (kernel.messages.Menu.to_json), so a typed number, a word or a
    # tapped button maps back to a choice key; None when no choice is pending.
    menu: dict[str, Any] | None = Field(default=None, sa_type=sa.JSON)
    updated_at: datetime = Field(default_factory=utcnow)


class Report(SQLModel, table=True):
    """The working copy of one unit's report for one period (``2026S1``, ``2026``)."""

    __table_args__ = (sa.UniqueConstraint("unit_id", "period", name="uq_report_unit_period"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    period: str = Field(max_length=16, index=True)
    form_id: str = Field(max_length=32)
    status: str = Field(default="draft", max_length=16)  # draft | submitted
    version: int = 0  # number of submitted versions
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    submitted_at: datetime | None = None
    # Set by the standing agency to allow changes after the lock date.
    unlocked_until: datetime | None = None


class ReportValue(SQLModel, table=True):
    __table_args__ = (sa.UniqueConstraint("report_id", "question_id", name="uq_value_q"),)

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    question_id: str = Field(max_length=64)
    value: Any = Field(default=None, sa_type=sa.JSON)
    answered_at: datetime = Field(default_factory=utcnow)
    answered_by: int | None = Field(default=None, foreign_key="officer.id")


class ReportVersion(SQLModel, table=True):
    """An immutable snapshot taken at each submission; compilations read only these."""

    __table_args__ = (sa.UniqueConstraint("report_id", "version", name="uq_version"),)

    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    version: int
    reference: str = Field(max_length=40, unique=True)
    values: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON)
    submitted_at: datetime = Field(default_factory=utcnow)
    submitted_by: int | None = Field(default=None, foreign_key="officer.id")


class AuditLog(SQLModel, table=True):
    """Who did or tried what. Never holds case details or message contents."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, index=True)
    officer_id: int | None = Field(default=None, foreign_key="officer.id")
    account_id: int | None = Field(default=None, foreign_key="channelaccount.id")
    action: str = Field(max_length=64)
    target: str | None = Field(default=None, max_length=128)
    outcome: str = Field(default="ok", max_length=16)  # ok | refused
    detail: str | None = Field(default=None, max_length=500)


class ProcessedUpdate(SQLModel, table=True):
    """Dedupe keys of incoming updates, inserted in the same transaction as their effects."""

    key: str = Field(primary_key=True, max_length=128)
    at: datetime = Field(default_factory=utcnow)


class Outbox(SQLModel, table=True):
    """Every scheduled or broadcast message, written before it is sent.

    ``key`` says what, for whom and which occurrence (``remind:2026:due-3:acc:17``); it is
    unique, so planning the same moment twice writes nothing new, and a restart neither loses
    nor repeats a message. ``text`` is rendered in the recipient's language when planned and
    never holds case details (only a case code).
    """

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200, unique=True)
    kind: str = Field(max_length=32, index=True)  # reminder | digest | alert | announcement | case
    channel: str = Field(max_length=16)
    chat_id: str = Field(max_length=64)
    account_id: int | None = Field(default=None, foreign_key="channelaccount.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    batch: str | None = Field(default=None, max_length=64, index=True)
    text: str = Field(sa_type=sa.Text)
    choices: list[Any] = Field(default_factory=list, sa_type=sa.JSON)
    numbered: bool = True
    status: str = Field(
        default="pending", max_length=16, index=True
    )  # pending|sending|sent|failed|cancelled
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=300)
    not_before: datetime = Field(default_factory=utcnow, index=True)
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: datetime | None = None
    # Which worker holds the row (``scheduler.lock.holder_id``) and until when: a reservation
    # while the row waits in that worker's queue (status pending), or an attempt in flight
    # (status sending). Empty once the row is done. See ``scheduler.dispatcher``.
    claimed_by: str | None = Field(default=None, max_length=96, index=True)
    claimed_until: datetime | None = None
