"""Shared fixtures. The suite runs on SQLite; when BDG_TEST_DATABASE_URL is set (CI sets the
local PostgreSQL), every database test runs there too, each in a schema of its own."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings
from sqlalchemy import text

from db.crypto import new_key_spec
from db.engine import Database
from db.units import seed_demo
from handlers.dispatch import Dispatcher
from kernel.clock import to_utc
from kernel.settings import Services
from services.cases.config import CaseConfig, configure
from tests.chat import Chat, Clock

# No test may fail on time (speed is measured by benchmarks under bench/): hypothesis's
# per-example deadline is off everywhere, so a loaded CI machine cannot fail a property test.
hypothesis_settings.register_profile("bdg", deadline=None)
hypothesis_settings.load_profile("bdg")

PG_URL = os.environ.get("BDG_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])


@pytest.fixture(autouse=True)
def test_case_keys() -> Iterator[None]:
    """Case keys for every test (dedupe keys are hashed with them): never ./data/case.key."""
    configure(CaseConfig(keys=f"{new_key_spec('s1')}"))
    yield
    configure(None)


@pytest.fixture(params=BACKENDS)
def db_config(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str | None]:
    """URL and schema of an empty database for one test (a file, or a fresh PG schema)."""
    if request.param == "sqlite":
        return {
            "url": f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}",
            "schema": None,
            "backend": "sqlite",
        }
    return {"url": PG_URL, "schema": f"t_{uuid.uuid4().hex[:12]}", "backend": "postgresql"}


@pytest.fixture
async def db(db_config: dict[str, str | None]) -> AsyncIterator[Database]:
    assert db_config["url"]
    database = Database(db_config["url"], db_config["schema"])
    await database.upgrade()
    yield database
    if db_config["schema"]:
        async with database.engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{db_config["schema"]}" CASCADE'))
    await database.dispose()


@pytest.fixture
async def demo_db(db: Database) -> Database:
    async with db.session() as s:
        await seed_demo(s)
    return db


def local(iso: str) -> datetime:
    return to_utc(datetime.fromisoformat(iso), "Asia/Ho_Chi_Minh")


@pytest.fixture
def clock() -> Clock:
    """A settable clock; starts in the annual report window (25/11/2026 09:00 local)."""
    return Clock(local("2026-11-25T09:00"))


@pytest.fixture
def dispatcher(demo_db: Database, clock: Clock) -> Dispatcher:
    return Dispatcher(demo_db, Services(), clock=clock)


@pytest.fixture
def make_chat(dispatcher: Dispatcher) -> Callable[..., Chat]:
    def make(user: str = "u1", channel: str = "terminal", lang: str = "vi") -> Chat:
        return Chat(dispatcher, user=user, channel=channel, lang=lang)

    return make
