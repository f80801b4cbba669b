"""The calendar as data: report periods with deadlines and lock dates, other deadlines and
Action Months, with Vietnamese public holidays from the maintained ``holidays`` package; and
the reminder schedule (which days, which time) read from the same file."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import holidays
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

DATA = Path(__file__).parent / "data" / "calendar.yaml"
PERIOD_RE = re.compile(r"^(\d{4})(S1)?$")


def _dm(text: str, year: int) -> date:
    d, m = (int(x) for x in text.split("/"))
    return date(year, m, d)


@lru_cache(maxsize=64)
def _vn_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("VN", years=year).keys())


def warm_up(year: int) -> None:
    """Compute the holidays of ``year`` and the years beside it now (the holidays library
    takes a quarter of a second on its first call), at start-up rather than in the first
    user's step."""
    for y in (year - 1, year, year + 1):
        _vn_holidays(y)


def is_working_day(d: date) -> bool:
    return d.weekday() < 5 and d not in _vn_holidays(d.year)


def next_working_day(d: date) -> date:
    while not is_working_day(d):
        d += timedelta(days=1)
    return d


def previous_working_day(d: date) -> date:
    while not is_working_day(d):
        d -= timedelta(days=1)
    return d


DUE_RULES = ("next_working_day", "previous_working_day", "keep")


def move_due(d: date, rule: str) -> date:
    """Where a deadline that falls on a day off goes (``due_on_day_off`` of the calendar):
    ``next_working_day`` (the Civil Code, art. 148: a time limit whose last day is a day off
    ends on the next working day; the default, see docs/reminders.md),
    ``previous_working_day`` (a strict reading of "trước ngày 05/12": the work is in before
    the day off) or ``keep`` (the date as written, even on a Saturday)."""
    if rule == "next_working_day":
        return next_working_day(d)
    if rule == "previous_working_day":
        return previous_working_day(d)
    if rule == "keep":
        return d
    raise ValueError(f"due_on_day_off must be one of {DUE_RULES}, not {rule!r}")


def shift(d: date, how: str) -> date:
    """Move a day that is not a working day: ``previous``, ``next`` or ``none``."""
    if how == "previous":
        return previous_working_day(d)
    if how == "next":
        return next_working_day(d)
    if how == "none":
        return d
    raise ValueError(f"shift must be one of {SHIFTS}, not {how!r}")


# -- the file, validated ------------------------------------------------------------------------


class CalendarError(ValueError):
    """A calendar file that cannot be used; ``problems`` are one-line messages, each naming
    the file, the entry and the field."""

    def __init__(self, source: str, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.source = source
        self.problems = problems


def _day_month(value: object) -> str:
    """``dd/mm``, a day that exists every year."""
    text = str(value).strip()
    m = re.fullmatch(r"(\d{1,2})/(\d{1,2})", text)
    if not m:
        raise ValueError(f"expected a day as dd/mm, got {value!r}")
    d, mo = int(m.group(1)), int(m.group(2))
    try:
        date(2023, mo, d)  # not a leap year: 29/02 does not exist every year
    except ValueError:
        raise ValueError(f"{text} is not a day of every year") from None
    return f"{d:02d}/{mo:02d}"


def _hour_minute(value: object) -> time:
    """``HH:MM``. YAML 1.1 reads an unquoted ``10:30`` as the number 630 (base 60): accepted."""
    if isinstance(value, time):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 24 * 60:
        return time(value // 60, value % 60)
    m = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value).strip())
    if not m or int(m.group(1)) > 23 or int(m.group(2)) > 59:
        raise ValueError(f"expected a time as HH:MM, got {value!r}")
    return time(int(m.group(1)), int(m.group(2)))


def _label(value: dict[str, str]) -> dict[str, str]:
    if not value.get("vi"):
        raise ValueError('needs a Vietnamese text: {vi: "...", en: "..."}')
    return value


DayMonth = Annotated[str, BeforeValidator(_day_month)]
HourMinute = Annotated[time, BeforeValidator(_hour_minute)]
Label = Annotated[dict[str, str], AfterValidator(_label)]
Days = Annotated[int, Field(ge=0, le=366)]
Shift = Literal["previous", "next", "none"]
SHIFTS = ("previous", "next", "none")


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ReportSpec(_Spec):
    id: Annotated[str, Field(min_length=1)]
    period: str  # "{year}S1" or "{year}"
    form: Annotated[str, Field(min_length=1)]
    label: Label
    opens: DayMonth
    due: DayMonth
    lock_days: Days

    @field_validator("period")
    @classmethod
    def _period(cls, v: str) -> str:
        try:
            ok = "{year}" in v and PERIOD_RE.match(v.format(year=2026)) is not None
        except (KeyError, IndexError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f'expected "{{year}}" or "{{year}}S1", got {v!r}')
        return v


class DeadlineSpec(_Spec):
    id: Annotated[str, Field(min_length=1)]
    label: Label
    due: DayMonth


class ActionMonthSpec(_Spec):
    id: Annotated[str, Field(min_length=1)]
    label: Label
    start: DayMonth
    end: DayMonth
    theme: Label | None = None
    kickoff_mentions: str | None = None  # a report id whose deadline the kick-off names


class DeadlineRulesSpec(_Spec):
    before: list[Days] = [7, 3, 1, 0]
    before_shift: Shift = "previous"
    after: list[Days] = [1, 3]
    after_every: Days = 7
    after_shift: Shift = "next"


class DigestSpec(_Spec):
    working_days_only: bool = True
    max_lines: Annotated[int, Field(ge=0)] = 30


class ActionMonthRulesSpec(_Spec):
    heads_up_days: Days = 5
    heads_up_shift: Shift = "previous"
    kickoff_shift: Shift = "next"
    weekly_every: Days = 7
    weekly_shift: Shift = "next"
    weekly_skip_last_days: Days = 3
    closing_shift: Shift = "previous"


class RemindersSpec(_Spec):
    at: HourMinute = time(8, 0)
    until: HourMinute = time(21, 0)
    deadline: DeadlineRulesSpec = DeadlineRulesSpec()
    digest: DigestSpec = DigestSpec()
    action_month: ActionMonthRulesSpec = ActionMonthRulesSpec()
    button_channels: list[str] = ["telegram"]

    @model_validator(mode="after")
    def _order(self) -> RemindersSpec:
        if self.until <= self.at:
            raise ValueError("`until` must be later than `at`")
        return self


def _unique(what: str, ids: list[str]) -> None:
    seen = [x for i, x in enumerate(ids) if x in ids[:i]]
    if seen:
        raise ValueError(f"{what} {seen[0]!r} appears twice")


class CalendarSpec(_Spec):
    """The whole calendar file (``kernel/data/calendar.yaml`` or ``BDG_CALENDAR_FILE``)."""

    reports: Annotated[list[ReportSpec], Field(min_length=1)]
    deadlines: list[DeadlineSpec] = []
    action_months: list[ActionMonthSpec] = []
    reminders: RemindersSpec = RemindersSpec()
    # Where a deadline on a weekend or public holiday goes (``move_due``).
    due_on_day_off: Literal["next_working_day", "previous_working_day", "keep"] = "next_working_day"

    @model_validator(mode="after")
    def _references(self) -> CalendarSpec:
        _unique("report id", [r.id for r in self.reports])
        _unique("report period", [r.period for r in self.reports])
        _unique("action month id", [a.id for a in self.action_months])
        kinds = {r.id for r in self.reports}
        for i, a in enumerate(self.action_months):
            if a.kickoff_mentions is not None and a.kickoff_mentions not in kinds:
                raise ValueError(
                    f"action_months[{i}] {a.id!r}: kickoff_mentions: {a.kickoff_mentions!r} "
                    f"is not a report id ({', '.join(sorted(kinds))})"
                )
        return self


_MESSAGES = {
    "extra_forbidden": "unknown field (a typo?)",
    "missing": "missing",
}


def _where(raw: object, loc: tuple[int | str, ...]) -> str:
    """``reports[1] "annual": due`` from a pydantic error location."""
    parts: list[str] = []
    node: Any = raw
    for item in loc:
        if isinstance(item, int):
            parts[-1] = f"{parts[-1]}[{item}]" if parts else f"[{item}]"
            node = node[item] if isinstance(node, list) and item < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str | int):
                parts[-1] += f' "{node["id"]}"'
            continue
        parts.append(str(item))
        node = node.get(item) if isinstance(node, dict) else None
    return ": ".join(parts)


def _problems(source: str, raw: object, err: ValidationError) -> list[str]:
    out = []
    for e in err.errors(include_url=False):
        msg = _MESSAGES.get(e["type"]) or str(e["msg"]).removeprefix("Value error, ")
        if e["type"] not in ("missing", "extra_forbidden", "value_error"):
            msg += f" (got {e['input']!r})"
        where = _where(raw, tuple(e["loc"]))
        out.append(f"{source}: {where}: {msg}" if where else f"{source}: {msg}")
    return out


def parse_calendar(raw: object, source: str = "calendar") -> CalendarSpec:
    """Validate a calendar read from YAML; raises :class:`CalendarError`."""
    if not isinstance(raw, dict):
        raise CalendarError(source, [f"{source}: expected a mapping with `reports:` at the top"])
    try:
        return CalendarSpec.model_validate(raw)
    except ValidationError as err:
        raise CalendarError(source, _problems(source, raw, err)) from None


def read_calendar(path: str | Path) -> Calendar:
    """Read and validate a calendar file; every failure is a :class:`CalendarError`."""
    source = str(path)
    try:
        with Path(path).open(encoding="utf-8") as fh:
            raw = yaml.safe_load(fh)
    except OSError as e:
        raise CalendarError(source, [f"{source}: cannot read: {e.strerror or e}"]) from None
    except UnicodeDecodeError:
        raise CalendarError(source, [f"{source}: not UTF-8 text"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        what = getattr(e, "problem", None) or "not valid YAML"
        raise CalendarError(source, [f"{source}: not valid YAML{at}: {what}"]) from None
    return Calendar(raw, source=source)


@dataclass(frozen=True)
class ReminderRules:
    """The ``reminders:`` section of the calendar file (defaults when it is absent)."""

    at: time = time(8, 0)
    until: time = time(21, 0)
    before: tuple[int, ...] = (7, 3, 1, 0)
    before_shift: str = "previous"
    after: tuple[int, ...] = (1, 3)
    after_every: int = 7
    after_shift: str = "next"
    digest_working_days_only: bool = True
    digest_max_lines: int = 30
    heads_up_days: int = 5
    heads_up_shift: str = "previous"
    kickoff_shift: str = "next"
    weekly_every: int = 7
    weekly_shift: str = "next"
    weekly_skip_last_days: int = 3
    closing_shift: str = "previous"
    button_channels: frozenset[str] = frozenset({"telegram"})

    @classmethod
    def of(cls, spec: RemindersSpec) -> ReminderRules:
        dl, dg, am = spec.deadline, spec.digest, spec.action_month
        return cls(
            at=spec.at,
            until=spec.until,
            before=tuple(dl.before),
            before_shift=dl.before_shift,
            after=tuple(dl.after),
            after_every=dl.after_every,
            after_shift=dl.after_shift,
            digest_working_days_only=dg.working_days_only,
            digest_max_lines=dg.max_lines,
            heads_up_days=am.heads_up_days,
            heads_up_shift=am.heads_up_shift,
            kickoff_shift=am.kickoff_shift,
            weekly_every=am.weekly_every,
            weekly_shift=am.weekly_shift,
            weekly_skip_last_days=am.weekly_skip_last_days,
            closing_shift=am.closing_shift,
            button_channels=frozenset(spec.button_channels),
        )


@dataclass(frozen=True)
class ReportPeriod:
    kind: str  # semiannual | annual
    period: str  # DHIS2-style id: 2026S1, 2026
    year: int
    form_id: str
    label: dict[str, str]
    opens: date
    nominal_due: date  # as written in the plan
    due: date  # moved to a working day
    lock: date  # last day changes are accepted
    # ``submit`` (units send their report) or ``compile`` (the agency compiles them for the
    # level above: a step with its own deadline, reminders and status).
    step: str = "submit"

    def text(self, lang: str) -> str:
        return self.label.get(lang) or self.label["vi"]


@dataclass(frozen=True)
class Event:
    """A dated item for /lich: a deadline or an Action Month."""

    id: str
    label: dict[str, str]
    start: date
    end: date

    def text(self, lang: str) -> str:
        return self.label.get(lang) or self.label["vi"]


@dataclass(frozen=True)
class ActionMonth:
    """One Action Month of one year (``dv_month`` 01/06–30/06, ``ge_month`` 15/11–15/12)."""

    id: str
    year: int
    label: dict[str, str]
    start: date
    end: date
    theme: dict[str, str] | None = None
    # A report kind whose deadline the kick-off message also mentions (``annual``).
    kickoff_mentions: str | None = None

    def text(self, lang: str) -> str:
        return self.label.get(lang) or self.label["vi"]

    def theme_text(self, lang: str) -> str | None:
        if not self.theme:
            return None
        return self.theme.get(lang) or self.theme.get("vi")


def override_fits(year: int, due: date) -> bool:
    """An override for ``year`` is a date in that year or in the next January."""
    return due.year == year or (due.year == year + 1 and due.month == 1)


class Calendar:
    """The calendar of one deployment. ``raw`` is the file's content (a mapping read from
    YAML), validated here: a :class:`CalendarError` names each problem."""

    def __init__(self, raw: object, source: str = "calendar") -> None:
        self.spec = parse_calendar(raw, source)
        self.source = source
        self.rules = ReminderRules.of(self.spec.reminders)

    @property
    def report_kinds(self) -> list[str]:
        return [r.id for r in self.spec.reports]

    def periods(self, year: int, overrides: dict[str, date] | None = None) -> list[ReportPeriod]:
        """Report periods of ``year``. ``overrides`` maps a report kind to a due date set by an
        administrator for a unit's subtree; it replaces the nominal date. An override that
        does not belong to ``year`` (another year's date) is ignored."""
        out = []
        for r in self.spec.reports:
            ov = (overrides or {}).get(r.id)
            nominal = ov if ov is not None and override_fits(year, ov) else _dm(r.due, year)
            due = self.move_due(nominal)
            out.append(
                ReportPeriod(
                    kind=r.id,
                    period=r.period.format(year=year),
                    year=year,
                    form_id=r.form,
                    label=dict(r.label),
                    opens=min(_dm(r.opens, year), nominal),
                    nominal_due=nominal,
                    due=due,
                    lock=due + timedelta(days=r.lock_days),
                )
            )
        return sorted(out, key=lambda p: p.due)

    @property
    def due_rule(self) -> str:
        return self.spec.due_on_day_off

    def move_due(self, d: date) -> date:
        return move_due(d, self.spec.due_on_day_off)

    def compile_step(self, period: ReportPeriod, nominal: date) -> ReportPeriod:
        """The agency's compilation of ``period`` for the level above, due ``nominal`` (moved
        like any deadline); reminded until the report's lock date or 25 days after it."""
        due = self.move_due(nominal)
        return replace(
            period,
            nominal_due=nominal,
            due=due,
            lock=max(period.lock, due + timedelta(days=25)),
            step="compile",
        )

    def period(self, period_id: str, overrides: dict[str, date] | None = None) -> ReportPeriod:
        m = PERIOD_RE.match(period_id)
        if not m:
            raise ValueError(f"not a period id: {period_id!r}")
        for p in self.periods(int(m.group(1)), overrides):
            if p.period == period_id:
                return p
        raise ValueError(f"no report for period {period_id!r}")

    def current_period(
        self,
        today: date,
        overrides: dict[str, date] | None = None,
        by_year: Mapping[int, dict[str, date]] | None = None,
    ) -> ReportPeriod:
        """The report open today (opens ≤ today ≤ lock); if none, the next one to open, so an
        officer may prepare a draft early. Last year's periods are candidates too (in January
        the annual report may still be open), so overrides may be given per year."""

        def of(year: int) -> list[ReportPeriod]:
            return self.periods(year, by_year.get(year) if by_year is not None else overrides)

        candidates = of(today.year - 1) + of(today.year)
        open_now = [p for p in candidates if p.opens <= today <= p.lock]
        if open_now:
            return min(open_now, key=lambda p: p.due)
        later = [p for p in candidates + of(today.year + 1) if p.opens > today]
        return min(later, key=lambda p: p.opens)

    def events(self, year: int, overrides: dict[str, date] | None = None) -> list[Event]:
        out = [Event(p.period, p.label, p.due, p.due) for p in self.periods(year, overrides)]
        for d in self.spec.deadlines:
            due = self.move_due(_dm(d.due, year))
            out.append(Event(d.id, dict(d.label), due, due))
        for a in self.spec.action_months:
            out.append(Event(a.id, dict(a.label), _dm(a.start, year), _dm(a.end, year)))
        return sorted(out, key=lambda e: e.start)

    def upcoming(
        self, today: date, limit: int = 6, overrides: dict[str, date] | None = None
    ) -> list[Event]:
        items = [
            e
            for y in (today.year, today.year + 1)
            for e in self.events(y, overrides)
            if e.end >= today
        ]
        return items[:limit]

    # -- reminder schedule ------------------------------------------------------------------

    def deadline_days(self, period: ReportPeriod) -> dict[date, str]:
        """The days a unit that has not submitted ``period`` hears about it, each with the
        occurrence's name (``before-7`` … ``due`` … ``after-1``, ``after-3``, ``after-10`` …).

        Days before the deadline that are not working days move per ``before_shift``
        (previous working day); days after it per ``after_shift`` (next working day), and
        only up to the lock date. Two occurrences on one day are one message (the one
        nearest the deadline names it)."""
        rules = self.rules
        out: dict[date, str] = {}
        for n in sorted(set(rules.before)):  # nearest the deadline first
            day = shift(period.due - timedelta(days=n), rules.before_shift)
            if day > period.due:
                continue
            out.setdefault(day, "due" if n == 0 else f"before-{n}")
        offsets = sorted(set(rules.after))
        if rules.after_every > 0:
            k = (max(offsets) if offsets else 0) + rules.after_every
            while k <= (period.lock - period.due).days:
                offsets.append(k)
                k += rules.after_every
        for n in offsets:
            if n <= 0:
                continue
            day = shift(period.due + timedelta(days=n), rules.after_shift)
            if period.due < day <= period.lock:
                out.setdefault(day, f"after-{n}")
        return dict(sorted(out.items()))

    def action_months(self, year: int) -> list[ActionMonth]:
        out = []
        for a in self.spec.action_months:
            start = _dm(a.start, year)
            end = _dm(a.end, year)
            if end < start:  # a month that runs into the next year
                end = _dm(a.end, year + 1)
            out.append(
                ActionMonth(
                    id=a.id,
                    year=year,
                    label=dict(a.label),
                    start=start,
                    end=end,
                    theme=dict(a.theme) if a.theme else None,
                    kickoff_mentions=a.kickoff_mentions or None,
                )
            )
        return out

    def action_days(self, month: ActionMonth) -> dict[date, str]:
        """The days officers hear about an Action Month: ``heads_up`` (5 days before),
        ``kickoff`` (first working day), ``weekly`` prompts, ``closing`` (last working day)."""
        rules = self.rules
        kickoff = shift(month.start, rules.kickoff_shift)
        closing = shift(month.end, rules.closing_shift)
        found: list[tuple[date, str]] = [
            (kickoff, "kickoff"),
            (closing, "closing"),
            (
                shift(month.start - timedelta(days=rules.heads_up_days), rules.heads_up_shift),
                "heads_up",
            ),
        ]
        if rules.weekly_every > 0:
            nominal = month.start + timedelta(days=rules.weekly_every)
            last = month.end - timedelta(days=rules.weekly_skip_last_days)
            while nominal <= last:
                day = shift(nominal, rules.weekly_shift)
                if kickoff < day < closing:
                    found.append((day, "weekly"))
                nominal += timedelta(days=rules.weekly_every)
        out: dict[date, str] = {}
        for day, name in found:  # kick-off and closing win a shared day
            out.setdefault(day, name)
        return dict(sorted(out.items()))


@lru_cache(maxsize=4)
def load_calendar(path: str | None = None) -> Calendar:
    """The calendar file at ``path`` (``BDG_CALENDAR_FILE``), or the built-in one; validated
    (a :class:`CalendarError` lists the problems)."""
    return read_calendar(path or DATA)
