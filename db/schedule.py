"""Tables of the reminders feature: deadline overrides for a subtree of units, the lease that
lets only one process plan and dispatch at a time (SQLite; PostgreSQL uses an advisory lock),
and the notices of accounts found unreachable, which the standing agency's digest reports.
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Field, SQLModel

from kernel.clock import utcnow


class DeadlineOverride(SQLModel, table=True):
    """A due date that replaces the calendar's for one report kind and one year, for a unit
    and every unit below it (the nearest override up the tree wins)."""

    __table_args__ = (
        sa.UniqueConstraint("unit_id", "year", "kind", name="uq_override_unit_year_kind"),
    )

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    year: int = Field(index=True)
    kind: str = Field(max_length=32)  # a report id of the calendar: semiannual | annual
    due: date
    set_by: int | None = Field(default=None, foreign_key="officer.id")
    source: str = Field(default="cli", max_length=16)  # cli | chat
    reason: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utcnow)


class SchedulerLease(SQLModel, table=True):
    """Who may run the planner and the outbox dispatcher now (SQLite only)."""

    name: str = Field(primary_key=True, max_length=32)
    holder: str = Field(max_length=96)
    expires_at: datetime


class UnreachableNotice(SQLModel, table=True):
    """An account that answered "blocked" (HTTP 403): the standing agency hears of it in its
    next digest. Holds no message text."""

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="channelaccount.id", index=True)
    officer_id: int | None = Field(default=None, foreign_key="officer.id")
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    channel: str = Field(max_length=16)
    at: datetime = Field(default_factory=utcnow, index=True)


class CalendarRule(SQLModel, table=True):
    """A local deadline that recurs every year from ``since_year`` on, for a unit and every
    unit below it: "every year, communes report the annual report by 27/11" (step
    ``submit``), "the agency compiles it for the province by 10/12" (step ``compile``, the
    job of this unit's admins). A later ``since_year`` replaces an earlier one from that year
    on, so past years keep the rule they had. A one-year :class:`DeadlineOverride` on the same
    unit wins over the rule for its year."""

    __table_args__ = (
        sa.UniqueConstraint("unit_id", "kind", "step", "since_year", name="uq_calendarrule"),
    )

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    kind: str = Field(max_length=32)  # a report id of the calendar: semiannual | annual
    step: str = Field(default="submit", max_length=16)  # submit | compile
    day: int
    month: int
    since_year: int
    set_by: int | None = Field(default=None, foreign_key="officer.id")
    source: str = Field(default="cli", max_length=16)  # cli | chat
    reason: str | None = Field(default=None, max_length=300)
    created_at: datetime = Field(default_factory=utcnow)


class CompilationMark(SQLModel, table=True):
    """The agency of ``unit_id`` has compiled ``period`` for the level above: set when an
    admin produces the compiled files of the unit's subtree (``/tonghop``, ``bdg export``) or
    marks it by hand (``bdg calendar compiled``). Stops the compilation reminders."""

    __table_args__ = (sa.UniqueConstraint("unit_id", "period", name="uq_compilation_unit_period"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    period: str = Field(max_length=16)
    at: datetime = Field(default_factory=utcnow)
    officer_id: int | None = Field(default=None, foreign_key="officer.id")
    source: str = Field(default="cli", max_length=16)  # tonghop | export | cli | web


class RateBudget(SQLModel, table=True):
    """One send budget shared by every worker (PostgreSQL; ``scheduler.budget``): per channel
    and per chat, the times of its last slots (seconds since the epoch, the database's clock;
    as many as the limit counts) and the end of a 429's pause. Claiming a slot is one atomic
    UPDATE. A chat's key is a hash, not its id; idle rows are deleted."""

    key: str = Field(primary_key=True, max_length=96)
    times: list[float] = Field(
        default_factory=list,
        sa_column=sa.Column(
            sa.JSON().with_variant(postgresql.ARRAY(sa.Float()), "postgresql"), nullable=False
        ),
    )
    paused: float = 0.0


class ChangeCounter(SQLModel, table=True):
    """A value that changes with every committed write to some tables, so that a process can
    tell cheaply whether something it derived from them is still current. Database triggers
    (migration ``0007_change_counter``) change it, whichever process or statement writes:

    - ``recipients``: any insert, update or delete of ``officer`` or ``channelaccount`` (the
      planner's recipients, ``scheduler.recipients``).

    The value is not a count: a fresh random value (SQLite) or the writing transaction's id
    (PostgreSQL), so a rolled-back write can never make an older value come back."""

    name: str = Field(primary_key=True, max_length=32)
    n: int = Field(default=0, sa_type=sa.BigInteger)
