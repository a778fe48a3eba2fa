"""The one runner: ``theodoi run`` (loops + web UI), ``theodoi worker`` (loops, no web
UI), ``theodoi web`` (web UI, no loops). Run as many workers as needed.

What it runs, each part optional:

* the **sweep loop**: fire due timers a batch at a time (PostgreSQL: ``FOR UPDATE
  SKIP LOCKED`` on the cases, so N workers take N different batches; SQLite: the batch
  is one ``BEGIN IMMEDIATE`` transaction and a second worker waits its turn). Claim,
  state change, history, next timers and outbox rows commit together, so a timer fires
  exactly once whoever fires it and whenever the worker dies;
* the **send loop**: deliver the outbox, one claimed batch (with a lease) per pass, so
  a lease is computed from a fresh clock reading each time; a dead worker's rows come
  back when the lease runs out;
* the **periodic jobs** (the weekly digest), claimed once per period in the database;
* the web UI (with ``/metrics``, ``/healthz``, ``/readyz``), or the probes alone on a
  metrics port; the local mail catcher of ``make run``.

APScheduler 3 wakes the loops (every ``[scheduler] sweep_interval_s`` /
``send_interval_s``; a loop then goes on while there is work) and runs the cron jobs.
It never holds a deadline: timers are rows, so a restart loses nothing. Both loops
call the engine's one "sweep, then deliver" step (engine/cycle.py).

Faults: a lost database connection or SQLite's ``database is locked`` rolls the batch
back; the loop backs off (storage.db.backoff: exponential, with jitter, up to
``[worker] backoff_max_s``) and tries again on a fresh connection; any other error is
logged with its traceback and retried the same way, so a worker never dies of it.
SIGTERM or SIGINT stops the loops between batches: the batch in hand is finished and
committed.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import Any, Protocol

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from tenacity import RetryCallState, Retrying

from cli import wiring
from cli.logs import FORMATS, JsonFormatter
from cli.metrics import Metrics, MetricsServer
from cli.web import ServerThread
from engine.app import App
from engine.cycle import run_cycle
from kernel.clock import Clock, SystemClock
from kernel.errors import InvalidInput, StorageError, StorageUnavailable
from kernel.settings import Config
from notifications.catcher import start_catcher
from notifications.digest import DigestStates, run_digest
from notifications.smtp import deliver_due
from storage.db import Database, backoff, describe
from web.app import create_app

log = logging.getLogger("theodoi.worker")

_DAYS = {"mon", "tue", "wed", "thu", "fri", "sat", "sun"}


def cron_trigger(text: str, timezone: Any) -> CronTrigger:
    """``"mon 07:30"`` (or a crontab line) as an APScheduler trigger."""
    parts = text.split()
    if len(parts) == 2 and parts[0].lower() in _DAYS and ":" in parts[1]:
        hour, minute = parts[1].split(":")
        return CronTrigger(
            day_of_week=parts[0].lower(), hour=int(hour), minute=int(minute), timezone=timezone
        )
    return CronTrigger.from_crontab(text, timezone=timezone)


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


class Service(Protocol):
    """Something that runs beside the loops until stopped (a web server, the catcher)."""

    def stop(self) -> None: ...


class Runner:
    """The loops (sweep, send) and periodic jobs of one process, stoppable between
    batches."""

    def __init__(
        self,
        app: App,
        *,
        metrics: Metrics | None = None,
        sweep: bool = True,
        send: bool = True,
        periodic: bool | None = None,
        stopping: threading.Event | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.do_sweep = sweep
        self.do_send = send
        self.do_periodic = send if periodic is None else periodic  # jobs that send mail
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
        report = run_cycle(self.app, None, max_batches=1).swept
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
        if not self.do_sweep:  # no sweep here reloads the admins' calendar overlay
            with self.app.db.session(write=False) as session:
                self.app.engine.reload_calendar(session)
        report = run_cycle(self.app, deliver_due, sweep=False, send_limit=self.send_batch)
        sent = report.delivered
        assert sent is not None  # a sender was given
        for line in sent.lines:
            log.info("mail %s", line)
        with self._lock:
            self.totals.sent += sent.sent
            self.totals.failed += sent.failed
        if self.metrics is not None:
            self.metrics.delivered(sent)
        if sent.circuit_open:
            log.warning("mail server unreachable: the sender waits for the next pass")
            return False
        return bool(sent)

    def digest(self) -> bool:
        """This week's digest, once per period across all workers; True when written."""
        app = self.app
        wrote = run_digest(
            app.db,
            app.config,
            app.clock.now(),
            worker_id=self.id,
            calendar=app.engine.calendar,
            states=DigestStates.of(app.registry["trip"].workflow),
        )
        if wrote:
            log.info("digest: this week's digest is in the outbox")
            if self.metrics is not None:
                self.metrics.periodic_runs.labels(job="digest").inc()
        return False  # one call per wake-up

    # -- with backoff ---------------------------------------------------------------------

    def _retrying(self, name: str, attempts: int | None) -> Retrying:
        """Retry any error (rows keep the state) with the one backoff, until stopped."""

        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            delay = state.upcoming_sleep
            if isinstance(exc, StorageError) and self.metrics is not None:
                self.metrics.database_errors.inc()
            if isinstance(exc, StorageUnavailable):
                log.warning(
                    "%s: database unavailable (%s); the batch was rolled back, retrying in %.1f s",
                    name,
                    describe(exc.__cause__ or exc),
                    delay,
                )
            elif isinstance(exc, StorageError):
                log.error("%s: database error; retrying in %.1f s", name, delay, exc_info=exc)
            else:  # a bug must not kill the worker
                log.error("%s failed; retrying in %.1f s", name, delay, exc_info=exc)

        return backoff(
            maximum=self.backoff_max,
            retry_on=Exception,
            attempts=attempts,
            stopping=self.stopping,
            before_sleep=before_sleep,
        )

    def _drain(self, name: str, step: Callable[[], bool], attempts: int | None = None) -> None:
        """Run ``step`` while it finds work, backing off on errors; return when it
        finds none or the runner stops. With ``attempts``, a step that fails that many
        times in a row raises :class:`StorageError`."""
        retrying = self._retrying(name, attempts)
        while not self.stopping.is_set():
            try:
                busy = retrying(step)
            except Exception as exc:
                if self.stopping.is_set():
                    return
                raise StorageError(
                    f"{name}: still failing after {attempts} attempts ({exc}); giving up"
                ) from exc
            if not busy:
                return

    # -- running ---------------------------------------------------------------------------

    def run_once(self, max_failures: int = 6) -> Totals:
        """Sweep until nothing is due, then send until nothing is due; then return."""
        if self.do_sweep:
            self._drain("sweep", self.sweep_batch, max_failures)
        if self.do_send:
            self._drain("send", self.send_batch_once, max_failures)
        return self.totals

    def scheduler(self) -> BackgroundScheduler:
        """APScheduler's jobs: wake the loops (at once, then every interval), run the
        periodic jobs. Each job runs at most once at a time; missed wake-ups coalesce."""
        cfg = self.app.config
        scheduler = BackgroundScheduler(
            timezone=cfg.organisation.tz,
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None},
        )
        # APScheduler runs on wall time, whatever the app's clock says.
        start = SystemClock().now().replace(tzinfo=UTC)
        loops = (
            ("sweep", self.sweep_batch, cfg.scheduler.sweep_interval_s, self.do_sweep),
            ("send", self.send_batch_once, cfg.scheduler.send_interval_s, self.do_send),
        )
        for name, step, interval, wanted in loops:
            if wanted:
                scheduler.add_job(
                    self._drain,
                    "interval",
                    args=(name, step),
                    seconds=interval,
                    id=name,
                    next_run_time=start,
                )
        if self.do_periodic:
            trigger = cron_trigger(cfg.notifications.digest_cron, cfg.organisation.tz)
            scheduler.add_job(self._drain, trigger, args=("digest", self.digest), id="digest")
        return scheduler

    def run_forever(self) -> Totals:
        """The jobs until SIGTERM/SIGINT (or :meth:`stop`)."""
        cfg = self.app.config.scheduler
        scheduler = self.scheduler()
        scheduler.start()
        log.info(
            "worker %s started (pid %s): %s; %s",
            self.id,
            os.getpid(),
            ", ".join(_describe_jobs(scheduler, cfg)) or "no loops",
            self.app.db.safe_url,
        )
        try:
            while not self.stopping.wait(0.5):
                pass
        finally:
            self.stopping.set()
            self.app.engine.stopping.set()  # a sweep in hand ends after its batch
            log.info("stopping: finishing the batch in hand")
            scheduler.shutdown(wait=True)
            log.info("worker %s stopped: %s", self.id, self.totals)
        return self.totals


def _describe_jobs(scheduler: BackgroundScheduler, cfg: Any) -> list[str]:
    every = {"sweep": cfg.sweep_interval_s, "send": cfg.send_interval_s}
    return [
        f"{job.id} every {every[job.id]}s" if job.id in every else f"{job.id} ({job.trigger})"
        for job in scheduler.get_jobs()
    ]


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
    *,
    upgrade: bool = False,
) -> App | None:
    """Open the application, waiting (with backoff) for a database that is not up yet.

    None when told to stop meanwhile. A database without theodoi's tables is an error:
    run ``theodoi init`` once (workers never migrate, so they never race to); with
    ``upgrade`` (``theodoi run``) the schema is created or upgraded instead.
    """

    def attempt() -> App:
        app = wiring.open_app(config, clock, worker_id=worker_id, upgrade=upgrade)
        try:
            if not app.db.has_schema():
                raise _NoSchema(app.db)
        except BaseException:
            app.close()
            raise
        return app

    def before_sleep(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        cause = exc.__cause__ if exc is not None and exc.__cause__ else exc
        log.warning(
            "database unavailable (%s); retrying in %.1f s",
            describe(cause) if cause else "?",
            state.upcoming_sleep,
        )

    retrying = backoff(
        maximum=config.worker.backoff_max_s,
        retry_on=(StorageError,),
        stopping=stopping,
        before_sleep=before_sleep,
    )
    try:
        return retrying(attempt)
    except _NoSchema as exc:
        raise StorageError(f"{exc} has no theodoi tables: run `theodoi init` first") from None
    except StorageError:
        if stopping.is_set():
            return None
        raise


class _NoSchema(Exception):
    """The database answers but has no tables (not retried: ``theodoi init`` cures it)."""

    def __init__(self, db: Database) -> None:
        super().__init__(db.safe_url)


def start_web(app: App, metrics: Metrics, host: str, port: int) -> ServerThread:
    """The web UI (with the probes) on a thread of this process."""
    server = ServerThread(create_app(app, metrics), host, port, name="web", log_level="info")
    server.start()
    log.info("web UI on http://%s:%s/", *server.address)
    return server


def start_probes(metrics: Metrics, host: str, port: int) -> MetricsServer:
    server = MetricsServer(metrics, host, port)
    server.start()
    log.info("metrics on http://%s:%s/metrics", *server.address)
    return server


def start_mail_catcher(app: App) -> Service | None:
    """The local mail catcher of ``make run`` (notifications/catcher.py)."""
    try:
        catcher = start_catcher(app.config)
    except (OSError, RuntimeError) as exc:
        log.error("mail catcher not started (port %s busy?): %s", app.config.smtp.port, exc)
        return None
    log.info("mail catcher listening on %s:%s", app.config.smtp.host, app.config.smtp.port)
    return catcher


def configure_logging(
    worker_id: str, level: str = "INFO", log_format: str = "text", organisation: str = ""
) -> None:
    """One line per record, each carrying the worker id: readable text (``worker=…``),
    or with ``log_format="json"`` one JSON object per line (cli/logs.py)."""
    if log_format not in FORMATS:
        raise InvalidInput("log-format", f"'{log_format}' is not one of {', '.join(FORMATS)}")
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format=f"%(asctime)s %(levelname)s worker={worker_id} %(name)s: %(message)s",
        force=True,
    )
    if log_format == "json":
        for handler in logging.getLogger().handlers:
            handler.setFormatter(JsonFormatter(worker_id, organisation))
    # The state-machine library narrates every callback at INFO, APScheduler every
    # wake-up (and a skipped one, while a loop drains, at WARNING): the runner's own
    # lines say what happened.
    logging.getLogger("transitions").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.ERROR)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
