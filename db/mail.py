"""Where a unit's submitted and compiled reports are e-mailed (``bdg units email``)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from kernel.clock import utcnow


class UnitEmail(SQLModel, table=True):
    """One address that receives the report files of ``unit_id``: its own report when it is
    submitted, and the compiled files when its agency compiles its subtree. Holds no case
    detail and is never shown to officers of other units."""

    __table_args__ = (sa.UniqueConstraint("unit_id", "address", name="uq_unitemail"),)

    id: int | None = Field(default=None, primary_key=True)
    unit_id: int = Field(foreign_key="unit.id", index=True)
    address: str = Field(max_length=254)
    created_at: datetime = Field(default_factory=utcnow)
