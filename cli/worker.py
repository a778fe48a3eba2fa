"""``theodoi worker``: sweep and send without the web UI; run one or many.

    theodoi worker [--id ID] [--once] [--metrics-port PORT] [--no-sweep] [--no-send]

``--now`` (or ``THEODOI_NOW``) starts the worker's clock at that local instant and
lets it run from there (demos, soak tests); without it the system clock is used.
"""

from __future__ import annotations

import logging
import threading
from typing import Annotated

import typer

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config", "-c", help="Configuration file (or THEODOI_CONFIG).", show_default=False
    ),
]

log = logging.getLogger("theodoi.worker")


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)


def worker(
    worker_id: Annotated[
        str | None,
        typer.Option("--id", help="Worker id in logs and history (default host-pid)."),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Fire what is due and send what is due, then exit.")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(help="Serve /metrics, /healthz, /readyz on this port (0: any free port)."),
    ] = None,
    metrics_host: Annotated[str | None, typer.Option(help="Address for --metrics-port.")] = None,
    sweep: Annotated[bool, typer.Option("--sweep/--no-sweep", help="Fire due timers.")] = True,
    send: Annotated[bool, typer.Option("--send/--no-send", help="Deliver the outbox.")] = True,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING…")] = "INFO",
    config: ConfigOpt = None,
) -> None:
    """A worker: the sweep and the sender, no web UI. Any number may share one PostgreSQL."""
    from cli import main as base

    base.cli_errors(_run)(
        worker_id, once, metrics_port, metrics_host, sweep, send, log_level, config
    )


def _run(
    worker_id: str | None,
    once: bool,
    metrics_port: int | None,
    metrics_host: str | None,
    sweep: bool,
    send: bool,
    log_level: str,
    config_path: str | None,
) -> None:
    from cli import main as base
    from cli.metrics import Metrics, MetricsServer
    from cli.runner import Worker, configure_logging, install_signal_handlers, open_app
    from cli.wiring import default_worker_id
    from kernel.clock import ScaledClock

    cfg = base.get_config(config_path)
    worker_id = worker_id or cfg.worker.id or default_worker_id()
    configure_logging(worker_id, log_level)
    fixed = base._FIXED_NOW.get("now")
    clock = ScaledClock(base.parse_instant(fixed, "now", cfg), 1.0) if fixed else None

    stopping = threading.Event()
    install_signal_handlers(stopping)
    app = open_app(cfg, clock, worker_id, stopping)
    if app is None:
        return
    server = None
    try:
        port = cfg.worker.metrics_port if metrics_port is None else metrics_port
        metrics = Metrics(app.db, app.clock, ready_max_lag_s=cfg.worker.ready_max_lag_s)
        if metrics_port is not None or cfg.worker.metrics_port:
            host = metrics_host or cfg.worker.metrics_host
            server = MetricsServer(metrics, host, port).start()
            bound_host, bound_port = server.address
            log.info("metrics on http://%s:%s/metrics", bound_host, bound_port)
        runner = Worker(app, metrics=metrics, sweep=sweep, send=send, stopping=stopping)
        if once:
            totals = runner.run_once()
            log.info("worker %s done: %s", worker_id, totals)
            typer.echo(str(totals))
        else:
            runner.run_forever()
    finally:
        if server is not None:
            server.stop()
        app.close()
