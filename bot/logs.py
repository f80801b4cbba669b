"""Logging set-up: ``BDG_LOG_FORMAT=text`` (one line per record) or ``json`` (one JSON object
per line: time, level, logger, message, and the exception's type and place when there is
one). Either way a record holds what the code logged, which never includes message contents
or case details; the JSON formatter adds no request data of its own.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, _, tb = record.exc_info
            out["error"] = exc_type.__name__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            if tb is not None:
                out["where"] = f"{tb.tb_frame.f_code.co_filename}:{tb.tb_lineno}"
        return json.dumps(out, ensure_ascii=False)


def configure_logging(level: str, fmt: str = "text") -> None:
    """Like ``logging.basicConfig``: the first call sets the level and a stderr handler; later
    calls (and a host that set up logging itself, such as pytest) keep the level, and only
    the format of plain stream handlers follows ``fmt``."""
    root = logging.getLogger()
    formatter: logging.Formatter = (
        JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT)
    )
    if not root.handlers:
        logging.basicConfig(level=level.upper())
    for handler in root.handlers:
        # pytest's capture handlers keep their own format.
        if type(handler) is logging.StreamHandler:
            handler.setFormatter(formatter)
    # httpx logs every request URL at INFO, and Bot API URLs contain the token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    # APScheduler logs two INFO lines per job run: the lease renewal alone (every 5 s) would
    # bury everything else. Its warnings (a missed run) and errors still show.
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # aiosqlite logs every statement with its parameters at DEBUG: saved answers would reach
    # the log. Keep it quiet whatever BDG_LOG_LEVEL says.
    logging.getLogger("aiosqlite").setLevel(logging.INFO)
