"""Imports every table module so SQLModel.metadata knows them all (Alembic, tests)."""

from db import linking, models  # noqa: F401
