"""Imports every table module so SQLModel.metadata knows them all (Alembic, tests)."""

from db import cases, linking, mail, models, schedule, telegram, web, zalo_oa  # noqa: F401
