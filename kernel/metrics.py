"""Prometheus metrics of the process (``prometheus-client``), served at ``/metrics`` by
``bdg serve``.

Counters and histograms are updated where things happen (the dispatcher, the planner); the
gauges that describe the database (outbox by status, unreachable accounts, the oldest unsent
urgent case alert, reports submitted per period) are read from it at scrape time
(``db.stats``), so every worker reports the same numbers and nothing drifts after a restart.

Labels are closed sets (channel names, outcomes, flows, statuses, periods): never a user, a
chat or a text.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.core import REGISTRY

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

UPDATES = Counter(
    "bdg_updates_handled",
    "Incoming updates handled, by channel and outcome (ok, duplicate, error).",
    ["channel", "outcome"],
)
STEP_SECONDS = Histogram(
    "bdg_step_seconds",
    "Time to handle one incoming update (one conversation step, commit included).",
    ["channel"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
PLANNER_TICK_SECONDS = Histogram(
    "bdg_planner_tick_seconds",
    "Duration of one reminder planner tick.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
)
MAINTENANCE_RUNS = Counter(
    "bdg_maintenance_runs",
    "Daily maintenance runs, by result (ok, error).",
    ["result"],
)
OUTBOX = Gauge(
    "bdg_outbox_messages",
    "Outbox rows by channel and status (queued, sent, failed, cancelled), read at scrape time.",
    ["channel", "status"],
)
UNREACHABLE = Gauge(
    "bdg_unreachable_accounts",
    "Messenger accounts that blocked the bot (403), by channel, read at scrape time.",
    ["channel"],
)
URGENT_ALERT_AGE = Gauge(
    "bdg_urgent_case_alert_oldest_seconds",
    "Age of the oldest unsent alert about an urgent case (0 when none is waiting).",
)
REPORTS_SUBMITTED = Gauge(
    "bdg_reports_submitted",
    "Reports submitted, by period (the periods of this year and last year).",
    ["period"],
)


def generate_latest(registry: CollectorRegistry = REGISTRY) -> bytes:
    return _generate_latest(registry)
