"""Prometheus metrics of a worker, and the small HTTP server that serves them.

Two kinds of figures:

* what THIS process did, as counters and a histogram (timers fired, notices sent and
  failed, SMTP latency, database errors) — sum them over the workers;
* the state of the queue, read from the database at scrape time (due timers waiting,
  sweep lag, outbox rows per status) — the same whichever worker answers.

The server also answers ``/healthz`` (the process is up) and ``/readyz`` (the database
answers and the sweep lag is below ``[worker] ready_max_lag_s``), since a worker has
no web UI to carry them.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from kernel.clock import Clock
from storage import queries
from storage.db import Database

log = logging.getLogger("theodoi.metrics")

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
        with db.session(write=False) as session:
            due = queries.due_timer_count(session, now)
            oldest = queries.next_timer_at(session, until=now)
            outbox = queries.outbox_status_counts(session)
    except SQLAlchemyError as exc:
        return QueueState(database_up=False, error=type(exc).__name__)
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
    """One registry per worker (not the global one: tests run several in a process)."""

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


class MetricsServer:
    """``/metrics``, ``/healthz``, ``/readyz`` on a daemon thread."""

    def __init__(self, metrics: Metrics, host: str, port: int) -> None:
        handler = _handler(metrics)
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="metrics", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.httpd.server_address[:2]
        return str(host), int(port)

    def start(self) -> MetricsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(5)


def _handler(metrics: Metrics) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._send(200, metrics.exposition(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._json(200, {"status": "ok"})
            elif path == "/readyz":
                ready, body = metrics.readiness()
                self._json(200 if ready else 503, body)
            else:
                self._json(404, {"status": "not found"})

        def _json(self, code: int, body: dict[str, Any]) -> None:
            self._send(code, json.dumps(body).encode(), "application/json")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            log.debug("metrics %s", format % args)

    return Handler
