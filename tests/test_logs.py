"""The log set-up keeps noisy or revealing libraries quiet whatever BDG_LOG_LEVEL says."""

from __future__ import annotations

import logging

from bot.logs import configure_logging


def test_libraries_that_flood_or_leak_are_kept_quiet_at_info_level() -> None:
    configure_logging("INFO")
    # APScheduler: two INFO lines per job run (the lease renewal runs every 5 s).
    assert not logging.getLogger("apscheduler.executors.default").isEnabledFor(logging.INFO)
    assert logging.getLogger("apscheduler.scheduler").isEnabledFor(logging.WARNING)
    # httpx logs Bot API URLs, which contain the token.
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    # aiosqlite logs statements with their parameters (saved answers) at DEBUG.
    assert not logging.getLogger("aiosqlite").isEnabledFor(logging.DEBUG)
