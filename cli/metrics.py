"""Prometheus metrics and probes of one process (a worker, ``theodoi run`` or ``web``).

Two kinds of figures:

* what THIS process did, as counters and a histogram (timers fired, notices sent and
  failed, SMTP latency, database errors, periodic jobs) — sum them over the workers;
* the state of the queue, read from the database at scrape time (due timers waiting,
  sweep lag, outbox rows per status) — the same whichever worker answers.

:class:`Metrics` is also the probes' answer: ``/readyz`` is ready when the database
answers and the sweep lag is below ``[worker] ready_max_lag_s``. The HTTP routes are
``web/routes/health.py``'s, served inside the web app (``theodoi run``, ``theodoi
web``) or alone on a worker's ``--metrics-port`` (:class:`MetricsServer`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

import storage.outbox
import storage.timers
from cli.web import ServerThread
from kernel.clock import Clock
from kernel.errors import StorageError
from storage.db import Database
from web.app import probe_app
from web.routes.health import cause_name

OUTBOX_STATUSES = ("pending", "sending", "held", "sent", "failed", "parked")
SMTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)


@dataclass
class QueueState:
    """The queue as the database sees it now."""

    database_up: bool
    due_timers: int = 0
    sweep_lag_s: float = 0.0
    outbox: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def read_queue_state(db: Database, clock: Clock) -> QueueState:
    """Due timers, the age of the oldest one (the sweep lag), outbox rows per status."""
    now = clock.now()
    try:
        with db.session(write=False, doing="reading the queue state") as session:
            due = storage.timers.due_timer_count(session, now)
            oldest = storage.timers.next_timer_at(session, until=now)
            outbox = storage.outbox.outbox_status_counts(session)
    except StorageError as exc:
        return QueueState(database_up=False, error=cause_name(exc))
    lag = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return QueueState(True, due, lag, outbox)


class _QueueCollector(Collector):
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db, self.clock = db, clock

    def collect(self) -> Iterator[Metric]:
        state = read_queue_state(self.db, self.clock)
        yield GaugeMetricFamily(
            "theodoi_database_up",
            "1 when the database answered this scrape.",
            int(state.database_up),
        )
        if not state.database_up:
            return
        yield GaugeMetricFamily(
            "theodoi_timers_due",
            "Pending timers whose instant has come (waiting to fire).",
            state.due_timers,
        )
        yield GaugeMetricFamily(
            "theodoi_sweep_lag_seconds",
            "How long the oldest due timer has waited (0: none).",
            state.sweep_lag_s,
        )
        rows = GaugeMetricFamily(
            "theodoi_outbox_messages", "Outbox rows per status.", labels=["status"]
        )
        for status in sorted(set(OUTBOX_STATUSES) | set(state.outbox)):
            rows.add_metric([status], state.outbox.get(status, 0))
        yield rows


class Metrics:
    """One registry per process (not the global one: tests run several in a process)."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, db: Database, clock: Clock, *, ready_max_lag_s: float = 900) -> None:
        self.db, self.clock, self.ready_max_lag_s = db, clock, ready_max_lag_s
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.timers_fired = Counter("theodoi_timers_fired", "Timers this worker fired.", registry=r)
        self.timers_parked = Counter(
            "theodoi_timers_parked", "Timers this worker parked (poison cases).", registry=r
        )
        self.cases_moved = Counter(
            "theodoi_sweep_cases", "Cases this worker's sweeps wrote.", registry=r
        )
        self.notices_sent = Counter(
            "theodoi_notices_sent", "Messages this worker's SMTP server accepted.", registry=r
        )
        self.notices_failed = Counter(
            "theodoi_notices_failed",
            "Messages this worker gave up on (permanent refusal, attempts used up, parked).",
            registry=r,
        )
        self.notices_retried = Counter(
            "theodoi_notices_retried", "Temporary SMTP failures, to be retried.", registry=r
        )
        self.smtp_latency = Histogram(
            "theodoi_smtp_latency_seconds",
            "Time the SMTP server took to accept one message.",
            buckets=SMTP_BUCKETS,
            registry=r,
        )
        self.database_errors = Counter(
            "theodoi_database_errors",
            "Connection losses and lock timeouts this worker backed off from.",
            registry=r,
        )
        self.periodic_runs = Counter(
            "theodoi_periodic_runs",
            "Periodic jobs (the weekly digest) this worker ran for their period.",
            ["job"],
            registry=r,
        )
        r.register(_QueueCollector(db, clock))

    # -- what the worker reports -----------------------------------------------------

    def swept(self, report: Any) -> None:
        self.timers_fired.inc(report.fired)
        self.timers_parked.inc(report.parked)
        self.cases_moved.inc(report.cases)

    def delivered(self, report: Any) -> None:
        self.notices_sent.inc(getattr(report, "sent", 0))
        self.notices_failed.inc(getattr(report, "failed", 0) + getattr(report, "parked", 0))
        self.notices_retried.inc(getattr(report, "retried", 0))
        for seconds in getattr(report, "latencies", ()):
            self.smtp_latency.observe(seconds)

    # -- probes --------------------------------------------------------------------------

    def readiness(self) -> tuple[bool, dict[str, Any]]:
        state = read_queue_state(self.db, self.clock)
        if not state.database_up:
            return False, {"status": "unavailable", "database": state.error}
        body = {"status": "ok", "sweep_lag_s": round(state.sweep_lag_s, 1)}
        if state.sweep_lag_s > self.ready_max_lag_s:
            body["status"] = "lagging"
            return False, body
        return True, body

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class MetricsServer(ServerThread):
    """``/metrics``, ``/healthz``, ``/readyz`` alone on a port of their own (a worker's
    ``--metrics-port``; 0: any free port), on a thread."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        super().__init__(probe_app(metrics), host, port, name="metrics")
