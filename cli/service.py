"""``theodoi run``: APScheduler wakes the sweep and the sender; the database holds time.

APScheduler never holds a deadline: its jobs only wake code that reads due rows, so
a restart loses nothing. Each job runs at most once at a time (max_instances=1) and
missed wake-ups are coalesced.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from typing import Any

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger

from engine.app import App
from kernel.clock import SystemClock
from notifications.digest import DigestStates

log = logging.getLogger("theodoi.service")

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


def _guarded(name: str, func: Callable[[], Any]) -> Callable[[], None]:
    def job() -> None:
        try:
            result = func()
            if result:
                log.info("%s: %s", name, result)
        except Exception:  # the next wake-up retries; nothing is lost (rows hold state)
            log.exception("%s failed; it will run again at the next wake-up", name)

    return job


def build_scheduler(app: App, *, sweep: bool = True, send: bool = True) -> BackgroundScheduler:
    cfg = app.config
    scheduler = BackgroundScheduler(timezone=cfg.organisation.tz)
    defaults = {"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
    if sweep:

        def do_sweep() -> str | None:
            report = app.engine.sweep()
            for line in report.lines:
                log.info("[%s] %s", app.worker_id, line)
            return f"fired {report.fired} timers" if report.fired else None

        scheduler.add_job(
            _guarded("sweep", do_sweep),
            "interval",
            seconds=cfg.scheduler.sweep_interval_s,
            id="sweep",
            next_run_time=_wall_now(),  # APScheduler runs on wall time, whatever the app's clock
            **defaults,
        )
    if send:
        try:
            from notifications.smtp import deliver_due
        except ImportError:
            deliver_due = None
        if deliver_due is not None:
            scheduler.add_job(
                _guarded(
                    "send",
                    lambda: deliver_due(
                        app.db,
                        cfg,
                        app.clock.now(),
                        worker_id=app.worker_id,
                        calendar=app.engine.calendar,
                    ),
                ),
                "interval",
                seconds=cfg.scheduler.send_interval_s,
                id="send",
                **defaults,
            )
        try:
            from notifications.digest import run_digest
        except ImportError:
            run_digest = None
        if run_digest is not None:
            scheduler.add_job(
                _guarded(
                    "digest",
                    lambda: run_digest(
                        app.db,
                        cfg,
                        app.clock.now(),
                        worker_id=app.worker_id,
                        calendar=app.engine.calendar,
                        states=DigestStates.of(app.registry["trip"].workflow),
                    ),
                ),
                cron_trigger(cfg.notifications.digest_cron, cfg.organisation.tz),
                id="digest",
                **defaults,
            )
    return scheduler


def _wall_now() -> Any:
    from datetime import UTC

    return SystemClock().now().replace(tzinfo=UTC)


def serve(
    app: App,
    *,
    host: str | None = None,
    port: int | None = None,
    web: bool = True,
    sweep: bool = True,
    send: bool = True,
    mail_catcher: bool = False,
) -> None:
    """Run until SIGINT/SIGTERM; the web UI (when installed and wanted) in front."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per wake-up is noise
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    logging.getLogger("transitions").setLevel(logging.WARNING)
    catcher = _start_catcher(app) if mail_catcher else None
    scheduler = build_scheduler(app, sweep=sweep, send=send)
    scheduler.start()
    log.info(
        "worker %s started: sweep every %ss (%s)",
        app.worker_id,
        app.config.scheduler.sweep_interval_s,
        app.config.storage.url,
    )
    try:
        if web and _serve_web(app, host, port):
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        while not stop.wait(0.5):
            pass
    finally:
        log.info("stopping: finishing the job in hand")
        app.engine.stopping.set()  # a running sweep ends after the batch in hand
        scheduler.shutdown(wait=True)
        if catcher is not None:
            catcher.stop()
        log.info("stopped")


def _start_catcher(app: App) -> Any:
    """The local mail catcher of ``make run`` (notifications/catcher.py), if installed."""
    try:
        from notifications.catcher import start_catcher
    except ImportError:
        log.warning("the mail catcher is not installed in this build")
        return None
    try:
        catcher = start_catcher(app.config)
    except (OSError, RuntimeError) as exc:
        log.error("mail catcher not started (port %s busy?): %s", app.config.smtp.port, exc)
        return None
    log.info("mail catcher listening on %s:%s", app.config.smtp.host, app.config.smtp.port)
    return catcher


def _serve_web(app: App, host: str | None, port: int | None) -> bool:
    try:
        import uvicorn

        from web.app import create_app
    except ImportError:
        return False
    cfg = app.config.web
    uvicorn.run(create_app(app), host=host or cfg.host, port=port or cfg.port, log_level="info")
    return True
