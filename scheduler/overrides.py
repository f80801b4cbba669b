"""Deadline overrides for a subtree of units and a year (stored in the database).

The first version has no table yet: the calendar file alone decides. The reminders feature
replaces ``for_unit`` with a lookup of the nearest override up the unit tree.
"""

from __future__ import annotations

from datetime import date

from sqlmodel.ext.asyncio.session import AsyncSession

from db.models import Unit


async def for_unit(s: AsyncSession, unit: Unit, year: int) -> dict[str, date]:
    return {}
