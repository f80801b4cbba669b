"""A commune's duty roster: who must hear of an urgent case, in order (``DutyEntry``).

Set with ``bdg cases duty`` or, by an admin in the chat, with ``/truc``. Roles follow Law
13/2022 art. 19(1): the commune chair, the commune police, the officer in charge, village
heads, child protection, the school, the Women's Union.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel.ext.asyncio.session import AsyncSession

from db.cases import DUTY_ROLES, SHIFTS, DutyEntry, duty_roster
from db.models import Officer, Unit
from kernel.errors import UserError
from services.forms.parsers import fold

# What people type for a role (folded) → the role key.
ROLE_WORDS = {
    "chutich": "chair",
    "chu tich": "chair",
    "chair": "chair",
    "congan": "police",
    "cong an": "police",
    "police": "police",
    "canbo": "officer",
    "can bo": "officer",
    "officer": "officer",
    "truongthon": "village_head",
    "truong thon": "village_head",
    "village_head": "village_head",
    "treem": "child_protection",
    "tre em": "child_protection",
    "child_protection": "child_protection",
    "truong": "school",
    "school": "school",
    "phunu": "women_union",
    "phu nu": "women_union",
    "women_union": "women_union",
    "khac": "other",
    "other": "other",
}
SHIFT_WORDS = {
    "ngay": "day",
    "day": "day",
    "dem": "night",
    "night": "night",
    "ca ngay": "any",
    "any": "any",
    "luon": "any",
}
_PHONE = re.compile(r"^\+?[\d .\-]{3,20}$")


class DutyError(UserError):
    """A roster line that cannot be added or removed; ``key`` names the reason in the
    catalogs (the chat and the CLI both show it)."""


@dataclass(frozen=True)
class DutySpec:
    role: str
    shift: str = "any"
    officer_id: int | None = None
    phone: str | None = None
    label: str | None = None


def parse_spec(words: Sequence[str]) -> DutySpec:
    """``congan dem #12 0239 123 456`` → police, night, officer 12, that phone."""
    if not words:
        raise DutyError("duty.err_role_missing")
    role = ROLE_WORDS.get(fold(words[0]))
    if role is None:
        raise DutyError("duty.err_unknown_role", role=words[0])
    shift = "any"
    officer_id: int | None = None
    phone_parts: list[str] = []
    for w in words[1:]:
        f = fold(w)
        if f in SHIFT_WORDS:
            shift = SHIFT_WORDS[f]
        elif re.fullmatch(r"#\d{1,9}", w):
            officer_id = int(w[1:])
        else:
            phone_parts.append(w)
    phone = " ".join(phone_parts).strip() or None
    if phone is not None and not _PHONE.match(phone):
        raise DutyError("duty.err_phone")
    if officer_id is None and phone is None:
        raise DutyError("duty.err_who")
    return DutySpec(role=role, shift=shift, officer_id=officer_id, phone=phone)


async def add_entry(s: AsyncSession, unit: Unit, spec: DutySpec) -> DutyEntry:
    assert unit.id is not None
    if spec.role not in DUTY_ROLES or spec.shift not in SHIFTS:
        raise DutyError("duty.err_role_shift")
    if spec.officer_id is not None:
        officer = await s.get(Officer, spec.officer_id)
        if officer is None or not officer.active:
            raise DutyError("duty.err_no_officer", id=spec.officer_id)
    existing = await duty_roster(s, unit.id)
    entry = DutyEntry(
        unit_id=unit.id,
        position=(max((e.position for e in existing), default=0) + 1),
        role=spec.role,
        shift=spec.shift,
        officer_id=spec.officer_id,
        phone=spec.phone,
        label=spec.label,
    )
    s.add(entry)
    await s.flush()
    return entry


async def remove_entry(s: AsyncSession, unit: Unit, line: int) -> bool:
    """Remove the roster's ``line``-th entry (1-based, as listed)."""
    assert unit.id is not None
    entries = list(await duty_roster(s, unit.id))
    if not 1 <= line <= len(entries):
        return False
    await s.delete(entries[line - 1])
    await s.flush()
    return True
