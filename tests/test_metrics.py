"""`/metrics` after a transcript: the counters moved (updates per channel and outcome, step
latency), and the database gauges tell the outbox, the waiting urgent alert and the reports
submitted; JSON logs carry no message text."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bot.app import App
from bot.logs import JsonFormatter
from bot.web import create_web_app
from db.engine import Database
from handlers.dispatch import Dispatcher
from kernel import metrics  # noqa: F401  (registers the metrics)
from kernel.settings import Settings
from tests.cases_helpers import case_keys, report_case  # noqa: F401
from tests.chat import Chat, Clock
from tests.test_compile_data import submit, unit


async def scrape(app: App) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    web = create_web_app(app)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=web), base_url="http://bot"
    ) as client:
        res = await client.get("/metrics")
    assert res.status_code == 200
    assert res.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(res.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def test_metrics_move_after_a_transcript(
    demo_db: Database,
    dispatcher: Dispatcher,
    clock: Clock,
    make_chat: Callable[..., Chat],
) -> None:
    app = App(Settings(), demo_db, dispatcher, clock)
    before = await scrape(app)

    officer = make_chat("lan")
    await officer.register(demo_db, "28303")  # three messages
    citizen = make_chat("citizen")
    code = await report_case(citizen)  # fifteen messages, an urgent case
    dup = await officer.send("/trogiup", dedupe_key="terminal:dup-1")
    assert dup
    await officer.send("/trogiup", dedupe_key="terminal:dup-1")  # the same update again
    async with demo_db.session() as s:
        await submit(s, await unit(s, "28318"), [("2026-11-24T10:00", {"comm_sessions": 7})])
    clock.advance(minutes=3)

    after = await scrape(app)
    ok = "bdg_updates_handled_total"
    assert (
        value(after, ok, channel="terminal", outcome="ok")
        - value(before, ok, channel="terminal", outcome="ok")
        == 3 + len(citizen.log) + 1
    )
    assert (
        value(after, ok, channel="terminal", outcome="duplicate")
        - value(before, ok, channel="terminal", outcome="duplicate")
        == 1
    )
    steps = value(after, "bdg_step_seconds_count", channel="terminal") - value(
        before, "bdg_step_seconds_count", channel="terminal"
    )
    assert steps == 3 + len(citizen.log) + 2
    # The case's alerts to the commune officer and the standing agency wait in the outbox.
    queued = value(after, "bdg_outbox_messages", channel="terminal", status="queued")
    assert queued >= 1
    age = value(after, "bdg_urgent_case_alert_oldest_seconds")
    assert 170 <= age <= 200, (code, age)
    assert value(after, "bdg_reports_submitted", period="2026") == 1
    assert value(after, "bdg_reports_submitted", period="2025") == 0


def test_metric_names_of_the_dashboard_exist() -> None:
    exposed = set(re.findall(r"^# TYPE (\w+) ", generate_latest(REGISTRY).decode(), re.M))
    names = set()
    for name in exposed:
        names |= {name, f"{name}_total", f"{name}_bucket", f"{name}_count", f"{name}_sum"}
    dashboard = (Path(__file__).parent.parent / "deploy" / "grafana-dashboard.json").read_text()
    used = set(re.findall(r"\b(bdg_\w+)", dashboard))
    assert used and used <= names, sorted(used - names)


def test_json_logs_are_one_object_per_line(caplog: pytest.LogCaptureFixture) -> None:
    formatter = JsonFormatter()
    record = logging.LogRecord("bdg.test", logging.WARNING, __file__, 1, "sent %d", (3,), None)
    line = formatter.format(record)
    data = json.loads(line)
    assert data["level"] == "WARNING" and data["logger"] == "bdg.test"
    assert data["message"] == "sent 3" and "\n" not in line
    try:
        raise ValueError("typed by a user")
    except ValueError:
        failed = logging.LogRecord(
            "bdg.test", logging.ERROR, __file__, 2, "failed", (), sys.exc_info()
        )
    data = json.loads(formatter.format(failed))
    # The type and place, never the exception's text (it may quote the user).
    assert data["error"] == "ValueError" and "typed by a user" not in json.dumps(data)
