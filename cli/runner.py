"""``theodoi worker``: the sweep and the sender without the web UI. Run as many as needed.

Workers need no leader and no coordination beyond the database:

* the sweep claims due timers a batch at a time (PostgreSQL: ``FOR UPDATE SKIP LOCKED``
  on the cases, so N workers take N different batches; SQLite: the batch is one
  ``BEGIN IMMEDIATE`` transaction and a second worker waits its turn). Claim, state
  change, history, next timers and outbox rows commit together, so a timer fires
  exactly once whoever fires it and whenever the worker dies;
* the sender claims outbox rows with a lease (notifications/smtp.py); a dead worker's
  rows come back when the lease runs out. One pass is one claimed batch, so the
  lease is computed from a fresh clock reading each time;
* periodic jobs (the weekly digest) come from cli/service.py's scheduler and are
  claimed once per period in the database.

Faults on purpose: a lost database connection or SQLite's ``database is locked``
rolls the batch back; the loop backs off (exponential, with jitter, up to
``[worker] backoff_max_s``) and tries again on a fresh connection. SIGTERM or SIGINT
stops the loops between batches: the batch in hand is finished and committed.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from cli import wiring
from cli.metrics import Metrics
from engine.app import App
from kernel.clock import Clock
from kernel.errors import StorageError
from kernel.settings import Config
from storage.db import is_transient

log = logging.getLogger("theodoi.worker")


class Backoff:
    """Exponential backoff with full jitter: 0.5 s, 1 s, 2 s … up to ``maximum``."""

    def __init__(self, initial: float = 0.5, maximum: float = 30.0) -> None:
        self.initial, self.maximum = initial, maximum
        self.failures = 0
        self._rng = random.Random()

    def next_delay(self) -> float:
        ceiling = min(self.initial * 2**self.failures, self.maximum)
        self.failures += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.failures = 0


@dataclass
class Totals:
    fired: int = 0
    cases: int = 0
    parked: int = 0
    sent: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return (
            f"fired {self.fired} timers on {self.cases} cases, parked {self.parked}; "
            f"sent {self.sent} notices, failed {self.failed}"
        )


def _deliver_due() -> Callable[..., Any] | None:
    try:
        from notifications.smtp import deliver_due
    except ImportError:
        return None
    return deliver_due


class Worker:
    """The two loops (sweep, send) of one worker process, stoppable between batches."""

    def __init__(
        self,
        app: App,
        *,
        metrics: Metrics | None = None,
        sweep: bool = True,
        send: bool = True,
        stopping: threading.Event | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.do_sweep = sweep
        self.deliver = _deliver_due() if send else None
        if send and self.deliver is None:
            log.warning("the sender is not installed in this build: notices stay in the outbox")
        self.stopping = stopping or threading.Event()
        self.totals = Totals()
        self._lock = threading.Lock()
        cfg = app.config
        self.send_batch = max(cfg.smtp.connections * 8, 8)
        self.backoff_max = cfg.worker.backoff_max_s

    @property
    def id(self) -> str:
        return self.app.worker_id

    def stop(self) -> None:
        """Finish the batch in hand, then stop."""
        self.stopping.set()

    # -- one batch each; True when it did something, so the loop goes on at once ----------

    def sweep_batch(self) -> bool:
        report = self.app.engine.sweep(self.app.clock.now(), max_batches=1)
        for line in report.lines:
            log.info("step %s", line)
        with self._lock:
            self.totals.fired += report.fired
            self.totals.cases += report.cases
            self.totals.parked += report.parked
        if self.metrics is not None:
            self.metrics.swept(report)
        return bool(report.cases or report.parked)

    def send_batch_once(self) -> bool:
        if self.deliver is None:
            return False
        app = self.app
        if not self.do_sweep:  # no sweep here reloads the admins' calendar overlay
            with app.db.session(write=False) as session:
                app.engine.reload_calendar(session)
        report = self.deliver(
            app.db,
            app.config,
            app.clock.now(),
            worker_id=self.id,
            calendar=app.engine.calendar,
            limit=self.send_batch,
        )
        for line in getattr(report, "lines", ()):
            log.info("mail %s", line)
        sent, failed = getattr(report, "sent", 0), getattr(report, "failed", 0)
        with self._lock:
            self.totals.sent += sent
            self.totals.failed += failed
        if self.metrics is not None:
            self.metrics.delivered(report)
        if getattr(report, "circuit_open", False):
            log.warning("mail server unreachable: the sender waits for the next pass")
            return False
        return bool(report)

    # -- loops --------------------------------------------------------------------------------

    def _guarded(self, name: str, step: Callable[[], bool], backoff: Backoff) -> bool | None:
        """Run ``step``; on a database fault back off and return None."""
        try:
            busy = step()
        except SQLAlchemyError as exc:
            if self.metrics is not None:
                self.metrics.database_errors.inc()
            delay = backoff.next_delay()
            if is_transient(exc):
                log.warning(
                    "%s: database unavailable (%s); the batch was rolled back, retrying in %.1f s",
                    name,
                    _short(exc),
                    delay,
                )
            else:
                log.exception("%s: database error; retrying in %.1f s", name, delay)
            self.stopping.wait(delay)
            return None
        except Exception:  # a bug must not kill the worker: rows keep the state
            delay = backoff.next_delay()
            log.exception("%s failed; retrying in %.1f s", name, delay)
            self.stopping.wait(delay)
            return None
        backoff.reset()
        return busy

    def _loop(self, name: str, step: Callable[[], bool], interval: float) -> None:
        backoff = Backoff(maximum=self.backoff_max)
        while not self.stopping.is_set():
            busy = self._guarded(name, step, backoff)
            if busy is False:
                self.stopping.wait(interval)
        log.info("%s loop stopped", name)

    def run_once(self, max_failures: int = 6) -> Totals:
        """Sweep until nothing is due, then send until nothing is due; then return."""
        for name, step, wanted in (
            ("sweep", self.sweep_batch, self.do_sweep),
            ("send", self.send_batch_once, self.deliver is not None),
        ):
            if not wanted:
                continue
            backoff = Backoff(maximum=self.backoff_max)
            while not self.stopping.is_set():
                busy = self._guarded(name, step, backoff)
                if busy is None and backoff.failures >= max_failures:
                    raise StorageError(f"{name}: the database stayed unavailable; giving up")
                if busy is False:
                    break
        return self.totals

    def run_forever(self) -> Totals:
        """Loops on threads until SIGTERM/SIGINT (or :meth:`stop`); periodic jobs too."""
        from cli.service import build_scheduler

        cfg = self.app.config.scheduler
        threads = []
        if self.do_sweep:
            threads.append(
                threading.Thread(
                    target=self._loop,
                    args=("sweep", self.sweep_batch, cfg.sweep_interval_s),
                    name="sweep",
                )
            )
        if self.deliver is not None:
            threads.append(
                threading.Thread(
                    target=self._loop,
                    args=("send", self.send_batch_once, cfg.send_interval_s),
                    name="send",
                )
            )
        # The scheduler only carries the periodic jobs; sweep and send are our loops.
        scheduler = build_scheduler(self.app, sweep=False, send=self.deliver is not None)
        if scheduler.get_job("send") is not None:
            scheduler.remove_job("send")
        scheduler.start()
        for thread in threads:
            thread.start()
        log.info(
            "worker %s started (pid %s): sweep every %ss, send every %ss, %s",
            self.id,
            os.getpid(),
            cfg.sweep_interval_s,
            cfg.send_interval_s,
            _safe_url(self.app.config),
        )
        try:
            while not self.stopping.wait(0.5):
                pass
        finally:
            self.stopping.set()
            log.info("stopping: finishing the batch in hand")
            for thread in threads:
                thread.join()
            scheduler.shutdown(wait=True)
            log.info("worker %s stopped: %s", self.id, self.totals)
        return self.totals


def install_signal_handlers(stopping: threading.Event) -> None:
    """SIGTERM/SIGINT: finish the batch in hand, then stop. A second one: leave at once
    (what was in flight is then covered like a SIGKILL: timers roll back, mail leases
    run out)."""

    def handler(signum: int, _frame: Any) -> None:
        name = signal.Signals(signum).name
        if stopping.is_set():
            log.warning("second %s: exiting now", name)
            os._exit(128 + signum)
        log.info("%s received: finishing the batch in hand", name)
        stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def open_app(
    config: Config,
    clock: Clock | None,
    worker_id: str | None,
    stopping: threading.Event,
) -> App | None:
    """Open the application, waiting (with backoff) for a database that is not up yet.

    None when told to stop meanwhile. A database without theodoi's tables is an error:
    run ``theodoi init`` once (workers never migrate, so they never race to).
    """
    backoff = Backoff(maximum=config.worker.backoff_max_s)
    while not stopping.is_set():
        app = None
        try:
            app = wiring.open_app(config, clock, worker_id=worker_id)
            if not inspect(app.db.engine).has_table("timer"):
                app.close()
                raise StorageError(
                    f"{_safe_url(config)} has no theodoi tables: run `theodoi init` first"
                )
            return app
        except SQLAlchemyError as exc:
            if app is not None:
                app.close()
            delay = backoff.next_delay()
            log.warning("database unavailable (%s); retrying in %.1f s", _short(exc), delay)
            stopping.wait(delay)
    return None


def configure_logging(worker_id: str, level: str = "INFO") -> None:
    """One line per record, each carrying the worker id (``worker=…``)."""
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format=f"%(asctime)s %(levelname)s worker={worker_id} %(name)s: %(message)s",
        force=True,
    )
    # The state-machine library narrates every callback at INFO: the engine's own
    # step lines say what happened.
    logging.getLogger("transitions").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)


def _short(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {lines[0] if lines else ''}"


def _safe_url(config: Config) -> str:
    from sqlalchemy.engine import make_url

    return make_url(config.storage.url).render_as_string(hide_password=True)
