"""The runner's commands: one runner (cli/runner.py), three ways to start it.

    theodoi run     [--host H] [--port P] [--no-web] [--speed X] [--mail-catcher] …
    theodoi worker  [--id ID] [--once] [--metrics-port PORT] [--no-sweep] [--no-send]
    theodoi web     [--host H] [--port P]

``run`` is the loops (sweep, send, the weekly digest) plus the web UI (which answers
``/metrics``, ``/healthz``, ``/readyz`` too) and, with ``--mail-catcher``, the local
mail catcher; it creates or upgrades the schema first. ``worker`` is the same runner
without the web UI (the probes on ``--metrics-port``); ``web`` is the web UI alone.

``--now`` (or ``THEODOI_NOW``) sets the clock: a worker's starts at that local instant
and runs from there (demos, soak tests); ``run`` and ``web`` stop it there (a manual
clock, moved by the web's test clock).
"""

from __future__ import annotations

import threading
from typing import Annotated

import typer

from cli import main as base
from cli.metrics import Metrics
from cli.runner import (
    Runner,
    Service,
    configure_logging,
    install_signal_handlers,
    open_app,
    start_mail_catcher,
    start_probes,
    start_web,
)
from cli.wiring import default_worker_id
from kernel.clock import Clock, ManualClock, ScaledClock, SystemClock
from kernel.settings import Config

IdOpt = Annotated[
    str | None, typer.Option("--id", help="Worker id in logs and history (default host-pid).")
]
MetricsPortOpt = Annotated[
    int | None,
    typer.Option(help="Serve /metrics, /healthz, /readyz on this port (0: any free port)."),
]
MetricsHostOpt = Annotated[str | None, typer.Option(help="Address for --metrics-port.")]
SweepOpt = Annotated[bool, typer.Option("--sweep/--no-sweep", help="Fire due timers.")]
SendOpt = Annotated[bool, typer.Option("--send/--no-send", help="Deliver the outbox.")]
LogLevelOpt = Annotated[str, typer.Option(help="DEBUG, INFO, WARNING…")]
LogFormatOpt = Annotated[
    str, typer.Option("--log-format", help="text (readable) or json (one object per line).")
]
HostOpt = Annotated[str | None, typer.Option(help="Web UI address.")]
PortOpt = Annotated[int | None, typer.Option(help="Web UI port.")]


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("worker")(worker)
    app.command("web")(web)


@base.cli_errors
def run(
    host: HostOpt = None,
    port: PortOpt = None,
    web: Annotated[bool, typer.Option("--web/--no-web", help="Serve the web UI.")] = True,
    speed: Annotated[
        float, typer.Option(help="Demo only: let time run this many times faster.")
    ] = 1.0,
    mail_catcher: Annotated[
        bool, typer.Option("--mail-catcher/--no-mail-catcher", help="Run the local catcher.")
    ] = False,
    worker_id: IdOpt = None,
    metrics_port: MetricsPortOpt = None,
    metrics_host: MetricsHostOpt = None,
    sweep: SweepOpt = True,
    send: SendOpt = True,
    log_level: LogLevelOpt = "INFO",
    log_format: LogFormatOpt = "text",
    config: base.ConfigOpt = None,
) -> None:
    """The long-running service: sweeps, sender, digest and the web UI, one process."""
    cfg = base.get_config(config)
    clock = ScaledClock(SystemClock().now(), speed) if speed != 1.0 else _fixed_clock(cfg)
    _serve(
        cfg,
        clock,
        worker_id,
        log_level,
        log_format=log_format,
        sweep=sweep,
        send=send,
        upgrade=True,
        web=(host, port) if web else None,
        metrics=(metrics_host, metrics_port),
        mail_catcher=mail_catcher,
    )


@base.cli_errors
def worker(
    worker_id: IdOpt = None,
    once: Annotated[
        bool, typer.Option("--once", help="Fire what is due and send what is due, then exit.")
    ] = False,
    metrics_port: MetricsPortOpt = None,
    metrics_host: MetricsHostOpt = None,
    sweep: SweepOpt = True,
    send: SendOpt = True,
    log_level: LogLevelOpt = "INFO",
    log_format: LogFormatOpt = "text",
    config: base.ConfigOpt = None,
) -> None:
    """A worker: the sweep and the sender, no web UI. Any number may share one PostgreSQL."""
    cfg = base.get_config(config)
    fixed = base._FIXED_NOW.get("now")
    clock = ScaledClock(base.parse_instant(fixed, "now", cfg), 1.0) if fixed else None
    _serve(
        cfg,
        clock,
        worker_id,
        log_level,
        log_format=log_format,
        sweep=sweep,
        send=send,
        once=once,
        metrics=(metrics_host, metrics_port),
    )


@base.cli_errors
def web(
    host: HostOpt = None,
    port: PortOpt = None,
    log_level: LogLevelOpt = "INFO",
    log_format: LogFormatOpt = "text",
    config: base.ConfigOpt = None,
) -> None:
    """Serve only the web pages (the sweeps and the sender run elsewhere)."""
    cfg = base.get_config(config)
    _serve(
        cfg, _fixed_clock(cfg), None, log_level, log_format=log_format, sweep=False, send=False,
        web=(host, port),
    )


def _fixed_clock(cfg: Config) -> Clock | None:
    """``--now``: a manual clock stopped at that instant (the web's test clock moves it)."""
    fixed = base._FIXED_NOW.get("now")
    return ManualClock(base.parse_instant(fixed, "now", cfg)) if fixed else None


def _serve(
    cfg: Config,
    clock: Clock | None,
    worker_id: str | None,
    log_level: str,
    *,
    log_format: str = "text",
    sweep: bool,
    send: bool,
    upgrade: bool = False,
    once: bool = False,
    web: tuple[str | None, int | None] | None = None,
    metrics: tuple[str | None, int | None] = (None, None),
    mail_catcher: bool = False,
) -> None:
    """Open the app (waiting for the database), start the services, run the loops
    until SIGTERM/SIGINT (or once), stop everything in reverse order."""
    worker_id = worker_id or cfg.worker.id or default_worker_id()
    configure_logging(worker_id, log_level, log_format, cfg.organisation.short_name)
    stopping = threading.Event()
    install_signal_handlers(stopping)
    app = open_app(cfg, clock, worker_id, stopping, upgrade=upgrade)
    if app is None:
        return
    probes = Metrics(app.db, app.clock, ready_max_lag_s=cfg.worker.ready_max_lag_s)
    runner = Runner(app, metrics=probes, sweep=sweep, send=send, stopping=stopping)
    services: list[Service] = []
    try:
        if mail_catcher and (catcher := start_mail_catcher(app)) is not None:
            services.append(catcher)
        metrics_host, metrics_port = metrics
        if metrics_port is not None or cfg.worker.metrics_port:
            port = cfg.worker.metrics_port if metrics_port is None else metrics_port
            services.append(start_probes(probes, metrics_host or cfg.worker.metrics_host, port))
        if web is not None:
            host, port = web
            services.append(start_web(app, probes, host or cfg.web.host, port or cfg.web.port))
        if once:
            totals = runner.run_once()
            typer.echo(str(totals))
        else:
            runner.run_forever()
    finally:
        for service in reversed(services):
            service.stop()
        app.close()
