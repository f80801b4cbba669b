"""The planner: "now + calendar + overrides + who has submitted" → outbox rows.

Run on every tick (every 15 minutes and once at start), it writes, for the local day of
``now`` and from the reminder time (08:00) on:

- **deadline reminders** (kind ``reminder``) to every active officer of each reporting unit
  that has not submitted the period, on the days of ``Calendar.deadline_days``;
- **Action Month alerts** (kind ``alert``) to every active officer of each reporting unit who
  has not muted them, on the days of ``Calendar.action_days``;
- **one digest a day** (kind ``digest``) to each admin of a unit above late units, listing
  them with their days late, and any account found unreachable since the last digest.

A unit has *submitted* a period when its report has at least one submitted version
(``Report.version > 0``): a report reopened for revision (status ``draft`` again) still
counts, so nobody is nagged while correcting a report already handed in.

Every row has a unique key: what, for whom (the officer), which occurrence (the day), e.g.
``remind:2026:2026-12-04:off:17``. Planning the same day again writes nothing new, so ticks
are idempotent and a bot that was down at 08:00 catches up at its next tick that day. Texts
are rendered now, in the recipient's language, with the one-step "start the report" choice.
Each officer hears on one account: the reachable one they used last.

A tick is **load → decide → render → enqueue**: :func:`load` reads the facts in a few
queries (the database leaves out units that have submitted, and returns the keys already
written today); :func:`scheduler.decide.decide_day` decides without a database; only the
messages not in the outbox yet are rendered (``scheduler/render.py``) and enqueued.
"""

from __future__ import annotations

import gc
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import ChannelAccount, Conversation, Officer, Outbox, Report, ReportValue, Unit
from db.outbox import enqueue_columns
from db.schedule import CalendarRule, DeadlineOverride, UnreachableNotice
from kernel.calendar import Calendar
from kernel.clock import to_local, to_utc
from scheduler.decide import (
    Agenda,
    Facts,
    Notice,
    Recipient,
    UnitInfo,
    UnitPeriod,
    agenda,
    decide_day,
    within_hours,
)
from scheduler.recipients import RecipientCache, recipients
from scheduler.render import START_REPORT, Planned, columns, render
from services import local_calendar
from services.scope import default_scope_unit

__all__ = ["KINDS", "REMINDER_FLOW", "START_REPORT", "PlanResult", "Planned", "plan"]

REMINDER_FLOW = "reminder"  # the conversation a sent reminder leaves, so "1" means START_REPORT
KINDS = ("reminder", "alert", "digest")  # outbox kinds this feature writes
NOTICE_LOOKBACK = timedelta(days=10)


@dataclass
class PlanResult:
    planned: list[Planned] = field(default_factory=list)  # new (written unless dry run)
    existing: int = 0  # already in the outbox from an earlier tick
    written: int = 0
    idle: str | None = None  # why nothing was looked at (outside hours, nothing due today)

    def count(self, kind: str) -> int:
        return sum(1 for p in self.planned if p.kind == kind)


async def plan(
    s: AsyncSession,
    now: datetime,
    *,
    cal: Calendar,
    tz: str = "Asia/Ho_Chi_Minh",
    dry_run: bool = False,
    cache: RecipientCache | None = None,
) -> PlanResult:
    """Plan everything due on the local day of ``now`` (from ``rules.at`` until
    ``rules.until``) that is not in the outbox yet; write it unless ``dry_run``.

    ``cache`` keeps the recipients between ticks (the planning service passes one). A quiet
    tick refreshes it when an officer or an account changed, so the first busy tick of a
    day finds it current."""
    local = to_local(now, tz)
    if not within_hours(cal.rules, local):
        if cache is not None:
            await cache.refresh(s)
        return PlanResult(idle="outside hours")
    today = local.date()
    overrides = await _overrides(s, (today.year - 1, today.year))
    rules = await local_calendar.all_rules(s)
    ag = agenda(cal, today, overrides, rules)
    notices = await _notices(s, now) if ag.digest_day else []
    if ag.quiet(bool(notices)):  # most ticks of the year stop here, after a few queries
        if cache is not None:
            await cache.refresh(s)
        return PlanResult(idle="nothing due today")
    with _collector_paused():  # tens of thousands of small objects, no cycles among them
        facts = await load(s, now, ag, overrides, notices, rules, cache)
        decision = decide_day(ag, facts)
        if decision.idle:
            return PlanResult(idle=decision.idle)
        send_at = to_utc(datetime.combine(today, cal.rules.at), tz)
        result = PlanResult(render(cal, today, send_at, decision.messages), decision.existing)
        if result.planned and not dry_run:
            rows = columns(result.planned, now)
            result.written = await enqueue_columns(s, rows, len(result.planned))
    return result


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a busy tick (about a second): it allocates
    tens of thousands of objects that live until the end, and the collector's passes over
    the growing heap cost a fifth of the tick. Other coroutines running meanwhile only
    postpone their collections; the collector resumes afterwards."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


# -- load ----------------------------------------------------------------------------------------


async def load(
    s: AsyncSession,
    now: datetime,
    ag: Agenda,
    overrides: Sequence[DeadlineOverride],
    notices: Sequence[Notice],
    rules: Sequence[CalendarRule] = (),
    cache: RecipientCache | None = None,
) -> Facts:
    """The facts ``decide`` needs for the day of ``ag``."""
    facts = Facts(
        units=await _units(s),
        overrides=overrides,
        rules=rules,
        compiled=await local_calendar.compiled(
            s, {(st.unit_id, st.period.period) for st, _ in ag.steps}
        ),
        pending=await _pending(s, ag.period_ids),
        recipients=await _recipients(s, cache),
        notices=notices,
        existing=await _existing(s, ag.batches()),
    )
    if notices:
        facts.last_digest = await _last_digests(s, now)
        known = {r.officer_id for r in facts.recipients}
        wanted = {n.officer_id for n in notices if n.officer_id is not None} - known
        facts.names = await _officer_names(s, wanted)
    if ag.steps:  # the compilation reminders go to the admins answering for the unit
        admins = [r.officer_id for r in facts.recipients if r.role == "admin"]
        facts.scopes = await _scope_roots(s, admins)
    elif ag.digest_day and (ag.late_possible or notices):
        todo = f"digest:{ag.day}:off:{{}}"  # admins whose digest is not written yet
        admins = [
            r.officer_id
            for r in facts.recipients
            if r.role == "admin" and todo.format(r.officer_id) not in facts.existing
        ]
        facts.scopes = await _scope_roots(s, admins)
    return facts


async def _overrides(s: AsyncSession, years: Iterable[int]) -> list[DeadlineOverride]:
    q = select(DeadlineOverride).where(col(DeadlineOverride.year).in_(list(years)))
    return list((await s.exec(q)).all())


async def _notices(s: AsyncSession, now: datetime) -> list[Notice]:
    q = select(UnreachableNotice).where(
        col(UnreachableNotice.at) > now - NOTICE_LOOKBACK, col(UnreachableNotice.at) <= now
    )
    return [Notice(n.officer_id, n.unit_id, n.channel, n.at) for n in (await s.exec(q)).all()]


async def _units(s: AsyncSession) -> dict[int, UnitInfo]:
    q = sa_select(col(Unit.id), col(Unit.name), col(Unit.path), col(Unit.reports)).order_by(
        col(Unit.id)
    )
    rows = (await s.exec(q)).all()  # type: ignore[call-overload]  # SQLAlchemy select
    return {int(i): UnitInfo(int(i), name, path, bool(reports)) for i, name, path, reports in rows}


async def _pending(s: AsyncSession, period_ids: Iterable[str]) -> dict[UnitPeriod, int]:
    """Reporting units that have not submitted each period (no report, or a draft that was
    never submitted: ``version`` 0), with the number of answers in their draft. Units that
    have submitted are filtered out by the database."""
    out: dict[UnitPeriod, int] = {}
    answers = (
        sa_select(func.count())
        .where(col(ReportValue.report_id) == col(Report.id))
        .correlate(Report)
        .scalar_subquery()
    )
    for period_id in sorted(period_ids):
        q = (
            sa_select(col(Unit.id), answers)
            .select_from(Unit)
            .outerjoin(
                Report, and_(col(Report.unit_id) == col(Unit.id), col(Report.period) == period_id)
            )
            .where(
                col(Unit.reports).is_(True), or_(col(Report.id).is_(None), col(Report.version) <= 0)
            )
        )
        for unit_id, n in (await s.exec(q)).all():  # type: ignore[call-overload]
            out[(int(unit_id), period_id)] = int(n or 0)
    return out


async def _existing(s: AsyncSession, batches: Iterable[str]) -> set[str]:
    """Keys of today's rows written by an earlier tick."""
    q = select(Outbox.key).where(col(Outbox.batch).in_(sorted(batches)))
    return set((await s.exec(q)).all())


async def _recipients(s: AsyncSession, cache: RecipientCache | None = None) -> list[Recipient]:
    """Active officers, each with the reachable account they used last (the latest
    conversation; an account never used counts as oldest; then the newest account): read
    again, or from ``cache`` when no officer or account changed since (``scheduler.recipients``).

    One plain join, the choice among an officer's accounts made in Python: a window function
    (``row_number() OVER (PARTITION BY officer …)``) cost SQLite twice the join itself at
    10,000 officers."""
    if cache is None:
        return await recipients(s)
    return await cache.get(s)


async def _scope_roots(s: AsyncSession, officer_ids: list[int]) -> dict[int, int]:
    """Officer id → the id of the root of the subtree they answer for: the explicit scope, or
    ``services.scope.default_scope_unit`` (as ``scope_of`` decides), officers and their units
    read in two queries."""
    if not officer_ids:
        return {}
    officers = (await s.exec(select(Officer).where(col(Officer.id).in_(officer_ids)))).all()
    ids = {o.unit_id for o in officers} | {o.scope_unit_id for o in officers if o.scope_unit_id}
    units = {u.id: u for u in (await s.exec(select(Unit).where(col(Unit.id).in_(ids)))).all()}
    out: dict[int, int] = {}
    for o in officers:
        root = units.get(o.scope_unit_id) if o.scope_unit_id is not None else None
        if root is None:
            root = await default_scope_unit(s, units[o.unit_id], o.role)
        out[o.id or 0] = root.id or o.unit_id
    return out


async def _officer_names(s: AsyncSession, ids: Iterable[int]) -> dict[int, str]:
    ids = list(ids)
    if not ids:
        return {}
    rows = (
        await s.exec(select(Officer.id, Officer.full_name).where(col(Officer.id).in_(ids)))
    ).all()
    return {int(i or 0): n for i, n in rows}


async def _last_digests(s: AsyncSession, now: datetime) -> dict[int, datetime]:
    """Officer id → when their latest digest was planned (within the lookback)."""
    rows = (
        await s.exec(
            select(Outbox.key, Outbox.created_at).where(
                Outbox.kind == "digest", col(Outbox.created_at) > now - NOTICE_LOOKBACK
            )
        )
    ).all()
    out: dict[int, datetime] = {}
    for key, created in rows:
        oid = int(key.rsplit(":", 1)[1])
        if oid not in out or created > out[oid]:
            out[oid] = created
    return out


# -- before sending --------------------------------------------------------------------------


async def stale_rows(s: AsyncSession, rows: Sequence[Outbox]) -> dict[int, str]:
    """Rows of this feature that must not go out any more, with the reason: the unit has
    submitted since the reminder was planned, the officer was deactivated or unlinked, or
    muted Action Month alerts. The dispatcher cancels them just before sending."""
    mine = [r for r in rows if r.kind in KINDS and r.id is not None]
    if not mine:
        return {}
    officers = await _officer_states(s, {r.account_id for r in mine if r.account_id})
    out: dict[int, str] = {}
    reminders: dict[UnitPeriod, list[int]] = defaultdict(list)
    compiles: dict[UnitPeriod, list[int]] = defaultdict(list)
    for r in mine:
        assert r.id is not None
        active, muted = officers.get(r.account_id or -1, (False, False))
        if not active:
            out[r.id] = "officer inactive"
        elif r.kind == "alert" and muted:
            out[r.id] = "muted"
        elif r.kind == "reminder" and r.unit_id is not None and r.batch:
            into = compiles if r.batch.startswith("compile:") else reminders
            into[(r.unit_id, r.batch.split(":")[1])].append(r.id)
    for pair in await _submitted(s, set(reminders)):
        out.update((row_id, "submitted") for row_id in reminders[pair])
    for pair in await local_calendar.compiled(s, set(compiles)):
        out.update((row_id, "compiled") for row_id in compiles[pair])
    return out


async def _officer_states(s: AsyncSession, account_ids: set[int]) -> dict[int, tuple[bool, bool]]:
    """Account id → (officer active, Action Month alerts muted)."""
    if not account_ids:
        return {}
    q = (
        select(ChannelAccount.id, Officer.active, Officer.mute_action_months)
        .join(Officer, col(Officer.id) == col(ChannelAccount.officer_id))
        .where(col(ChannelAccount.id).in_(account_ids))
    )
    return {int(a or 0): (bool(act), bool(m)) for a, act, m in (await s.exec(q)).all()}


async def _submitted(s: AsyncSession, pairs: set[UnitPeriod]) -> set[UnitPeriod]:
    """Which of these (unit, period) pairs have a submitted report."""
    if not pairs:
        return set()
    q = select(Report.unit_id, Report.period).where(
        col(Report.period).in_({p for _, p in pairs}),
        col(Report.unit_id).in_({u for u, _ in pairs}),
        col(Report.version) > 0,
    )
    return {(u, p) for u, p in (await s.exec(q)).all()} & pairs


# -- after sending ---------------------------------------------------------------------------


async def remember_start_menu(s: AsyncSession, row: Outbox, now: datetime) -> None:
    """After a reminder with the "start now" choice was sent: unless the recipient is in the
    middle of a conversation, remember its menu, so that typing "1" (or tapping the button)
    opens the report. Conditional update: a conversation started meanwhile is left alone."""
    if row.account_id is None or not any(c and c[0] == START_REPORT for c in row.choices):
        return
    await s.exec(  # type: ignore[call-overload]
        update(Conversation)
        .where(
            col(Conversation.account_id) == row.account_id,
            (col(Conversation.flow).is_(None)) | (col(Conversation.flow) == REMINDER_FLOW),
        )
        .values(flow=REMINDER_FLOW, state={}, menu={"c": row.choices, "n": row.numbered})
    )
