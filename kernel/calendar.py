"""The calendar as data: report periods with deadlines and lock dates, other deadlines and
Action Months, with Vietnamese public holidays from the maintained ``holidays`` package; and
the reminder schedule (which days, which time) read from the same file."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, time, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import holidays
import yaml

DATA = Path(__file__).parent / "data" / "calendar.yaml"
PERIOD_RE = re.compile(r"^(\d{4})(S1)?$")


def _dm(text: str, year: int) -> date:
    d, m = (int(x) for x in text.split("/"))
    return date(year, m, d)


@lru_cache(maxsize=64)
def _vn_holidays(year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays("VN", years=year).keys())


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


SHIFTS = ("previous", "next", "none")


def shift(d: date, how: str) -> date:
    """Move a day that is not a working day: ``previous``, ``next`` or ``none``."""
    if how == "previous":
        return previous_working_day(d)
    if how == "next":
        return next_working_day(d)
    if how == "none":
        return d
    raise ValueError(f"shift must be one of {SHIFTS}, not {how!r}")


def _hm(text: str) -> time:
    h, m = (int(x) for x in str(text).split(":"))
    return time(h, m)


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
    def parse(cls, raw: dict[str, Any] | None) -> ReminderRules:
        raw = raw or {}
        dl = raw.get("deadline") or {}
        dg = raw.get("digest") or {}
        am = raw.get("action_month") or {}
        d = cls()
        rules = cls(
            at=_hm(raw.get("at", "08:00")),
            until=_hm(raw.get("until", "21:00")),
            before=tuple(int(x) for x in dl.get("before", d.before)),
            before_shift=str(dl.get("before_shift", d.before_shift)),
            after=tuple(int(x) for x in dl.get("after", d.after)),
            after_every=int(dl.get("after_every", d.after_every)),
            after_shift=str(dl.get("after_shift", d.after_shift)),
            digest_working_days_only=bool(dg.get("working_days_only", True)),
            digest_max_lines=int(dg.get("max_lines", d.digest_max_lines)),
            heads_up_days=int(am.get("heads_up_days", d.heads_up_days)),
            heads_up_shift=str(am.get("heads_up_shift", d.heads_up_shift)),
            kickoff_shift=str(am.get("kickoff_shift", d.kickoff_shift)),
            weekly_every=int(am.get("weekly_every", d.weekly_every)),
            weekly_shift=str(am.get("weekly_shift", d.weekly_shift)),
            weekly_skip_last_days=int(am.get("weekly_skip_last_days", d.weekly_skip_last_days)),
            closing_shift=str(am.get("closing_shift", d.closing_shift)),
            button_channels=frozenset(raw.get("button_channels", d.button_channels)),
        )
        for how in (
            rules.before_shift,
            rules.after_shift,
            rules.heads_up_shift,
            rules.kickoff_shift,
            rules.weekly_shift,
            rules.closing_shift,
        ):
            if how not in SHIFTS:
                raise ValueError(f"reminders: shift must be one of {SHIFTS}, not {how!r}")
        if any(x < 0 for x in rules.before + rules.after) or rules.after_every < 0:
            raise ValueError("reminders: day offsets must be >= 0")
        if rules.until <= rules.at:
            raise ValueError("reminders: `until` must be later than `at`")
        return rules


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
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.rules = ReminderRules.parse(raw.get("reminders"))

    @property
    def report_kinds(self) -> list[str]:
        return [str(r["id"]) for r in self.raw["reports"]]

    def periods(self, year: int, overrides: dict[str, date] | None = None) -> list[ReportPeriod]:
        """Report periods of ``year``. ``overrides`` maps a report kind to a due date set by an
        administrator for a unit's subtree; it replaces the nominal date. An override that
        does not belong to ``year`` (another year's date) is ignored."""
        out = []
        for r in self.raw["reports"]:
            ov = (overrides or {}).get(r["id"])
            nominal = ov if ov is not None and override_fits(year, ov) else _dm(r["due"], year)
            due = next_working_day(nominal)
            out.append(
                ReportPeriod(
                    kind=r["id"],
                    period=r["period"].format(year=year),
                    year=year,
                    form_id=r["form"],
                    label=r["label"],
                    opens=min(_dm(r["opens"], year), nominal),
                    nominal_due=nominal,
                    due=due,
                    lock=due + timedelta(days=int(r["lock_days"])),
                )
            )
        return sorted(out, key=lambda p: p.due)

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
        for d in self.raw.get("deadlines", []):
            due = next_working_day(_dm(d["due"], year))
            out.append(Event(d["id"], d["label"], due, due))
        for a in self.raw.get("action_months", []):
            out.append(Event(a["id"], a["label"], _dm(a["start"], year), _dm(a["end"], year)))
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
        for a in self.raw.get("action_months", []):
            start = _dm(a["start"], year)
            end = _dm(a["end"], year)
            if end < start:  # a month that runs into the next year
                end = _dm(a["end"], year + 1)
            out.append(
                ActionMonth(
                    id=str(a["id"]),
                    year=year,
                    label=a["label"],
                    start=start,
                    end=end,
                    theme=a.get("theme") or None,
                    kickoff_mentions=a.get("kickoff_mentions") or None,
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
    with Path(path or DATA).open(encoding="utf-8") as fh:
        return Calendar(yaml.safe_load(fh))
