"""Emergency numbers as data, and office hours.

The national numbers come from ``services/cases/data/hotlines.yaml`` (number, name, free or
charged, hours) or from a province's own file (``BDG_CASE_HOTLINES_FILE``). Office hours
(``BDG_CASE_OFFICE_HOURS``, on working days) say when an officer is likely to read a report:
outside them the intake says plainly that the bot is not an emergency line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path

import yaml

from kernel.calendar import is_working_day, next_working_day

DEFAULT_FILE = Path(__file__).parent / "data" / "hotlines.yaml"


class HotlineFileError(ValueError):
    pass


@dataclass(frozen=True)
class Hotline:
    number: str
    name: dict[str, str]
    short: dict[str, str]
    free: bool
    hours: str | None

    def name_in(self, lang: str, short: bool = False) -> str:
        names = self.short if short else self.name
        return names.get(lang) or names.get("vi") or next(iter(names.values()), "")


def _texts(value: object, where: str) -> dict[str, str]:
    if isinstance(value, str):
        return {"vi": value}
    if not isinstance(value, dict) or not value:
        raise HotlineFileError(f"{where}: a name is text or {{vi: …, en: …}}")
    return {str(k): str(v) for k, v in value.items()}


@lru_cache(maxsize=8)
def load_hotlines(path: str | None = None) -> tuple[Hotline, ...]:
    """The hotlines of ``path`` (default: the national file), checked."""
    file = Path(path) if path else DEFAULT_FILE
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise HotlineFileError(f"{file}: {type(exc).__name__}") from None
    rows = data.get("hotlines") if isinstance(data, dict) else None
    if not isinstance(rows, list) or not rows:
        raise HotlineFileError(f"{file}: expected a non-empty list under 'hotlines'")
    out = []
    for i, row in enumerate(rows, 1):
        where = f"{file.name} #{i}"
        if not isinstance(row, dict) or not str(row.get("number") or "").strip():
            raise HotlineFileError(f"{where}: every hotline needs a number")
        if not isinstance(row.get("free"), bool):
            raise HotlineFileError(f"{where}: 'free' must be true or false")
        name = _texts(row.get("name"), where)
        short = _texts(row["short"], where) if row.get("short") else name
        hours = row.get("hours")
        out.append(
            Hotline(
                number=str(row["number"]).strip(),
                name=name,
                short=short,
                free=row["free"],
                hours=str(hours).strip() if hours else None,
            )
        )
    return tuple(out)


# -- office hours --------------------------------------------------------------------------
_HOURS = re.compile(r"^\s*(\d{1,2})[:h](\d{2})\s*-\s*(\d{1,2})[:h](\d{2})\s*$")


def parse_office_hours(text: str) -> tuple[time, time]:
    """``07:30-17:00`` → (07:30, 17:00)."""
    m = _HOURS.match(text or "")
    if not m:
        raise ValueError(f"office hours look like 07:30-17:00, not {text!r}")
    start = time(int(m.group(1)), int(m.group(2)))
    end = time(int(m.group(3)), int(m.group(4)))
    if end <= start:
        raise ValueError(f"office hours end before they start: {text!r}")
    return start, end


def in_office_hours(local: datetime, hours: str) -> bool:
    start, end = parse_office_hours(hours)
    return is_working_day(local.date()) and start <= local.time() < end


def next_office_opening(local: datetime, hours: str) -> datetime:
    """When officers are next at work (local, naive like ``local``): later today, or the start
    of the next working day."""
    start, _end = parse_office_hours(hours)
    day: date = local.date()
    if is_working_day(day) and local.time() < start:
        return datetime.combine(day, start, local.tzinfo)
    nxt = next_working_day(day + timedelta(days=1))
    return datetime.combine(nxt, start, local.tzinfo)
