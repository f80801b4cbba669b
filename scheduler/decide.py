"""What the planner sends today, decided without a database and without rendering a text.

The planner (``scheduler/planner.py``) loads the facts of the moment (units, the units that
have *not* submitted, officers with their accounts, deadline overrides, unreachable-account
notices, outbox keys already written today), calls :func:`decide`, renders the messages it
returns (``scheduler/render.py``) and enqueues them. Everything here is a pure function of
the calendar, the local time and those facts, so it is tested with plain values
(``tests/test_reminders_decide.py``).

Three steps, each usable alone (the planner stops early on a quiet day):

- :func:`agenda`: what the calendar says about today (report periods that may be reminded
  or late, Action Month occurrences), from the calendar and the override rows only;
- :func:`targets`: which unit hears about which period (overrides resolved up the tree,
  only units still pending);
- :func:`messages`: one :class:`Message` per officer and occurrence, with its unique key,
  skipping keys already in the outbox.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from db.schedule import CalendarRule, DeadlineOverride
from kernel.calendar import ActionMonth, Calendar, ReminderRules, ReportPeriod, is_working_day
from kernel.channel import capabilities_of
from services.local_calendar import CompileStep, Due, compile_steps, effective
from services.overrides import resolve

PeriodKey = tuple[int, str]  # (year, report kind)
UnitPeriod = tuple[int, str]  # (unit id, period id such as 2026S1)


# -- facts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitInfo:
    id: int
    name: str
    path: str  # "/1/5/" (materialised path, ids from the root)
    reports: bool

    @property
    def ancestors(self) -> list[int]:
        return [int(x) for x in self.path.strip("/").split("/") if x][:-1]


@dataclass(frozen=True)
class Recipient:
    """An active officer on the reachable account they used last."""

    officer_id: int
    unit_id: int
    name: str
    role: str
    muted: bool  # Action Month alerts muted (/tatnhacnho)
    account_id: int
    channel: str
    chat_id: str
    lang: str


@dataclass(frozen=True)
class Notice:
    """An account found unreachable (the dispatcher's ``unreachablenotice``)."""

    officer_id: int | None
    unit_id: int | None
    channel: str
    at: datetime


@dataclass
class Facts:
    """What the planner loaded. ``pending`` holds only the units that have **not** submitted
    a period concerned today (the database filters the others out), each with the number of
    questions its draft already answers."""

    units: Mapping[int, UnitInfo] = field(default_factory=dict)
    overrides: Sequence[DeadlineOverride | Due] = ()
    rules: Sequence[CalendarRule] = ()  # recurring local deadlines (services.local_calendar)
    compiled: frozenset[UnitPeriod] | set[UnitPeriod] = frozenset()  # agencies' compilations
    pending: Mapping[UnitPeriod, int] = field(default_factory=dict)
    recipients: Sequence[Recipient] = ()
    notices: Sequence[Notice] = ()
    existing: frozenset[str] | set[str] = frozenset()  # outbox keys written already
    last_digest: Mapping[int, datetime] = field(default_factory=dict)  # officer → planned at
    names: Mapping[int, str] = field(default_factory=dict)  # noticed officers not recipients
    # Admin officer → the root of the subtree they answer for (``services.scope``) when it is
    # not their home unit: a standing agency's admins answer for the agency's parent.
    scopes: Mapping[int, int] = field(default_factory=dict)


# -- decisions ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadline:
    period: ReportPeriod
    answered: int  # questions already answered in the unit's draft


@dataclass(frozen=True)
class CompileDue:
    """The agency's compilation of ``period`` (step ``compile``) for the level above;
    ``waiting`` reporting units below have not submitted yet."""

    period: ReportPeriod
    waiting: int


@dataclass(frozen=True)
class Alert:
    month: ActionMonth
    occurrence: str  # heads_up | kickoff | weekly | closing
    mention: ReportPeriod | None  # the unit's report deadline named by the kick-off


@dataclass(frozen=True)
class LateUnit:
    period: ReportPeriod
    unit: UnitInfo
    days: int  # days late


@dataclass(frozen=True)
class Lost:
    name: str
    unit_name: str
    channel: str  # "Zalo", "Telegram"


@dataclass(frozen=True)
class Digest:
    late: tuple[LateUnit, ...]
    lost: tuple[Lost, ...]


@dataclass(frozen=True)
class Message:
    """One planned message: ``key`` says what, for whom and which occurrence."""

    key: str
    kind: str  # reminder | alert | digest
    batch: str
    to: Recipient
    unit: UnitInfo  # the recipient's unit
    content: Deadline | Alert | Digest | CompileDue


@dataclass
class Decision:
    messages: list[Message] = field(default_factory=list)
    existing: int = 0  # messages already in the outbox from an earlier tick
    idle: str | None = None  # why nothing was looked at


# -- step 1: the day -----------------------------------------------------------------------------


class PeriodCache:
    """Report periods per (year, kind, override date), computed once per plan."""

    def __init__(self, cal: Calendar) -> None:
        self.cal = cal
        self._periods: dict[tuple[int, str, date | None], ReportPeriod] = {}
        self._days: dict[tuple[int, str, date | None], dict[date, str]] = {}

    def get(self, year: int, kind: str, ov: date | None) -> ReportPeriod:
        k = (year, kind, ov)
        if k not in self._periods:
            found = self.cal.periods(year, {kind: ov} if ov else None)
            self._periods[k] = next(p for p in found if p.kind == kind)
        return self._periods[k]

    def days(self, year: int, kind: str, ov: date | None) -> dict[date, str]:
        k = (year, kind, ov)
        if k not in self._days:
            self._days[k] = self.cal.deadline_days(self.get(year, kind, ov))
        return self._days[k]


def digest_day(cal: Calendar, today: date) -> bool:
    return is_working_day(today) or not cal.rules.digest_working_days_only


def within_hours(rules: ReminderRules, local: datetime) -> bool:
    """Messages are planned from ``at`` (08:00) until ``until`` (21:00) local time."""
    return rules.at <= local.time().replace(tzinfo=None) < rules.until


@dataclass
class Agenda:
    """What the calendar says about ``today``, before any unit is looked at."""

    cal: Calendar
    today: date
    digest_day: bool
    periods: PeriodCache
    period_ids: frozenset[str]  # periods some unit may be reminded of, or late for, today
    months: list[tuple[ActionMonth, str]]  # Action Month occurrences today
    late_possible: bool = False  # some unit may be late today (a digest day)
    dues: list[Due] = field(default_factory=list)  # overrides and rules of the years
    steps: list[tuple[CompileStep, str]] = field(default_factory=list)  # compilations today

    @property
    def years(self) -> tuple[int, int]:
        return (self.today.year - 1, self.today.year)

    @property
    def day(self) -> str:
        return self.today.isoformat()

    def quiet(self, notices: bool) -> bool:
        """Nothing can be due today: most ticks of the year stop here."""
        return not (self.period_ids or self.months or self.steps or (notices and self.digest_day))

    def late(self, p: ReportPeriod) -> bool:
        return self.digest_day and p.due < self.today <= p.lock

    def reminded(self, year: int, kind: str, ov: date | None) -> bool:
        return self.today in self.periods.days(year, kind, ov)

    def batches(self) -> set[str]:
        """Every batch today's rows can belong to (a superset: for the outbox look-up)."""
        out = {f"remind:{pid}:{self.day}" for pid in self.period_ids}
        out |= {f"action:{m.id}:{m.year}:{self.day}" for m, _ in self.months}
        out |= {f"compile:{st.period.period}:{self.day}" for st, _ in self.steps}
        if self.digest_day:
            out.add(f"digest:{self.day}")
        return out


def agenda(
    cal: Calendar,
    today: date,
    overrides: Sequence[DeadlineOverride | Due],
    rules: Sequence[CalendarRule] = (),
) -> Agenda:
    """``overrides`` (one year each) and ``rules`` (recurring, ``services.local_calendar``)
    give the local deadlines; ``compile`` rules give the agencies' compilation steps."""
    years = (today.year - 1, today.year)
    kinds = cal.report_kinds
    dues = effective(cal, overrides, rules, years)
    variants: dict[PeriodKey, set[date | None]] = {(y, k): {None} for y in years for k in kinds}
    for o in dues:
        if (o.year, o.kind) in variants:
            variants[(o.year, o.kind)].add(o.due)
    ag = Agenda(cal, today, digest_day(cal, today), PeriodCache(cal), frozenset(), [], dues=dues)
    ag.steps = [
        (st, occ)
        for st in compile_steps(cal, rules, years)
        if (occ := cal.deadline_days(st.period).get(today)) is not None
    ]
    ids = {st.period.period for st, _ in ag.steps}  # their units' pending counts
    for (y, k), dates in variants.items():
        for ov in dates:
            p = ag.periods.get(y, k, ov)
            late = ag.late(p)
            ag.late_possible |= late
            if late or ag.reminded(y, k, ov):
                ids.add(p.period)
    ag.period_ids = frozenset(ids)
    ag.months = [
        (m, occ)
        for y in (*years, today.year + 1)  # a January month's heads-up comes in December
        for m in cal.action_months(y)
        if (occ := cal.action_days(m).get(today)) is not None
    ]
    return ag


# -- step 2: who hears about which period --------------------------------------------------------


@dataclass
class Targets:
    remind: dict[UnitPeriod, ReportPeriod] = field(default_factory=dict)
    late: dict[UnitPeriod, ReportPeriod] = field(default_factory=dict)
    # Each reporting unit's periods of the agenda's years, its overrides applied.
    unit_periods: dict[int, dict[PeriodKey, ReportPeriod]] = field(default_factory=dict)


def targets(ag: Agenda, facts: Facts) -> Targets:
    """Deadline reminders and lateness per (unit, period), only for pending units."""
    units = facts.units
    resolved = resolve(((u.id, u.path) for u in units.values()), ag.dues)
    # Units with the same overrides (most have none) share their periods: computed once.
    groups: dict[tuple[tuple[PeriodKey, date], ...], list[UnitInfo]] = defaultdict(list)
    for u in units.values():
        if u.reports:
            groups[tuple(sorted(resolved.get(u.id, {}).items()))].append(u)
    out = Targets()
    for signature, members in groups.items():
        ov_u = dict(signature)
        mine: dict[PeriodKey, ReportPeriod] = {}
        for y in ag.years:
            for k in ag.cal.report_kinds:
                ov = ov_u.get((y, k))
                p = mine[(y, k)] = ag.periods.get(y, k, ov)
                reminded, late = ag.reminded(y, k, ov), ag.late(p)
                if not (reminded or late):
                    continue
                waiting = [(u.id, p.period) for u in members if (u.id, p.period) in facts.pending]
                if reminded:
                    out.remind.update((pair, p) for pair in waiting)
                if late:
                    out.late.update((pair, p) for pair in waiting)
        out.unit_periods.update((u.id, mine) for u in members)
    return out


# -- step 3: one message per officer and occurrence ----------------------------------------------


class _Builder:
    """Collects messages, skipping (and counting) keys an earlier tick has written."""

    def __init__(self, existing: frozenset[str] | set[str]) -> None:
        self.existing = existing
        self.out: list[Message] = []
        self.already = 0

    def known(self, key: str) -> bool:
        if key in self.existing:
            self.already += 1
            return True
        return False

    def add(
        self,
        kind: str,
        batch: str,
        to: Recipient,
        unit: UnitInfo,
        content: Deadline | Alert | Digest | CompileDue,
    ) -> None:
        key = f"{batch}:off:{to.officer_id}"
        if not self.known(key):
            self.out.append(Message(key, kind, batch, to, unit, content))


def _by_unit(recipients: Sequence[Recipient]) -> dict[int, list[Recipient]]:
    out: dict[int, list[Recipient]] = defaultdict(list)
    for r in recipients:
        out[r.unit_id].append(r)
    return out


def _deadlines(b: _Builder, ag: Agenda, tg: Targets, facts: Facts) -> None:
    by_unit = _by_unit(facts.recipients)
    for (unit_id, period_id), p in sorted(tg.remind.items()):
        batch = f"remind:{period_id}:{ag.day}"
        content = Deadline(p, facts.pending.get((unit_id, period_id), 0))
        for r in by_unit.get(unit_id, []):
            b.add("reminder", batch, r, facts.units[unit_id], content)


def _alerts(b: _Builder, ag: Agenda, tg: Targets, facts: Facts) -> None:
    by_unit = _by_unit(facts.recipients)
    kinds = ag.cal.report_kinds
    for m, occ in ag.months:
        batch = f"action:{m.id}:{m.year}:{ag.day}"
        mentioned = m.kickoff_mentions if occ == "kickoff" else None
        for unit in facts.units.values():
            if not unit.reports:
                continue
            mention: ReportPeriod | None = None
            if mentioned is not None and mentioned in kinds:
                # The unit's own deadline (overrides included) for that report of the year.
                mention = tg.unit_periods[unit.id].get((m.year, mentioned)) or ag.periods.get(
                    m.year, mentioned, None
                )
            content = Alert(m, occ, mention)
            for r in by_unit.get(unit.id, []):
                if not r.muted:
                    b.add("alert", batch, r, unit, content)


def _compilations(b: _Builder, ag: Agenda, facts: Facts) -> None:
    """The agency's compilation step: its admins (those who answer for the rule's unit)
    hear on the step's reminder days until it is marked compiled."""
    for st, _ in ag.steps:
        pid = st.period.period
        unit = facts.units.get(st.unit_id)
        if unit is None or (st.unit_id, pid) in facts.compiled:
            continue
        waiting = sum(
            1
            for (uid, p) in facts.pending
            if p == pid and (u := facts.units.get(uid)) is not None and st.unit_id in u.ancestors
        )
        batch = f"compile:{pid}:{ag.day}"
        for r in facts.recipients:
            if r.role == "admin" and facts.scopes.get(r.officer_id, r.unit_id) == st.unit_id:
                b.add("reminder", batch, r, unit, CompileDue(st.period, waiting))


def _lost(admin_unit: UnitInfo, since: datetime | None, facts: Facts) -> list[Lost]:
    """Accounts below the admin's unit found unreachable since their previous digest."""
    officers = {r.officer_id: r.name for r in facts.recipients}
    out = []
    for n in facts.notices:
        unit = facts.units.get(n.unit_id) if n.unit_id is not None else None
        if unit is None or not unit.path.startswith(admin_unit.path):
            continue
        if since is not None and n.at <= since:
            continue
        oid = n.officer_id
        name = officers.get(oid) if oid is not None else None
        if name is None:
            name = facts.names.get(oid or 0, "?")
        out.append(Lost(name, unit.name, capabilities_of(n.channel).title))
    return out


def _digests(b: _Builder, ag: Agenda, tg: Targets, facts: Facts) -> None:
    if not (ag.digest_day and (tg.late or facts.notices)):
        return
    batch = f"digest:{ag.day}"
    late_under: dict[int, list[LateUnit]] = defaultdict(list)
    for (unit_id, _), p in tg.late.items():
        unit = facts.units[unit_id]
        for anc in unit.ancestors:
            late_under[anc].append(LateUnit(p, unit, (ag.today - p.due).days))
    for r in facts.recipients:
        if r.role != "admin" or b.known(f"{batch}:off:{r.officer_id}"):
            continue
        root_id = facts.scopes.get(r.officer_id, r.unit_id)  # the subtree they answer for
        root = facts.units.get(root_id)
        if root is None:
            continue
        lost = _lost(root, facts.last_digest.get(r.officer_id), facts) if facts.notices else []
        lines = late_under.get(root_id, [])
        if lines or lost:
            home = facts.units.get(r.unit_id, root)
            b.add("digest", batch, r, home, Digest(tuple(lines), tuple(lost)))


def messages(ag: Agenda, tg: Targets, facts: Facts) -> Decision:
    """Deadline reminders, Action Month alerts, the agencies' compilation reminders, then
    the standing agencies' digests."""
    b = _Builder(facts.existing)
    _deadlines(b, ag, tg, facts)
    _alerts(b, ag, tg, facts)
    _compilations(b, ag, facts)
    _digests(b, ag, tg, facts)
    return Decision(b.out, b.already)


def decide_day(ag: Agenda, facts: Facts) -> Decision:
    """Steps 2 and 3 for a day whose agenda is known (the planner's entry point)."""
    if facts.notices and not ag.digest_day:
        facts = replace(facts, notices=())  # notices are reported by digests only
    if ag.quiet(bool(facts.notices)):
        return Decision(idle="nothing due today")
    tg = targets(ag, facts)
    if not (tg.remind or tg.late or ag.months or ag.steps or facts.notices):
        return Decision(idle="everyone has submitted")
    return messages(ag, tg, facts)


def decide(cal: Calendar, local: datetime, facts: Facts) -> Decision:
    """Everything due at local time ``local`` that is not in the outbox yet."""
    if not within_hours(cal.rules, local):
        return Decision(idle="outside hours")
    return decide_day(agenda(cal, local.date(), facts.overrides, facts.rules), facts)
