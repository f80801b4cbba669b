"""The calendar as data: report periods with deadlines and lock dates, other deadlines and
Action Months, with Vietnamese public holidays from the maintained ``holidays`` package."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
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


class Calendar:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def periods(self, year: int, overrides: dict[str, date] | None = None) -> list[ReportPeriod]:
        """Report periods of ``year``. ``overrides`` maps a report kind to a due date set by an
        administrator for a unit's subtree; it replaces the nominal date."""
        out = []
        for r in self.raw["reports"]:
            nominal = (overrides or {}).get(r["id"]) or _dm(r["due"], year)
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

    def current_period(self, today: date, overrides: dict[str, date] | None = None) -> ReportPeriod:
        """The report open today (opens ≤ today ≤ lock); if none, the next one to open, so an
        officer may prepare a draft early."""
        candidates = self.periods(today.year - 1, overrides) + self.periods(today.year, overrides)
        open_now = [p for p in candidates if p.opens <= today <= p.lock]
        if open_now:
            return min(open_now, key=lambda p: p.due)
        later = [p for p in candidates + self.periods(today.year + 1, overrides) if p.opens > today]
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


@lru_cache(maxsize=4)
def load_calendar(path: str | None = None) -> Calendar:
    with Path(path or DATA).open(encoding="utf-8") as fh:
        return Calendar(yaml.safe_load(fh))
