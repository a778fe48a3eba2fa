"""Wiring: configuration → database, clock, workflows and the engine, built once."""

from __future__ import annotations

import os
import socket

from engine.app import App
from engine.registry import Registry
from engine.runtime import Engine
from kernel.clock import Clock, SystemClock
from kernel.settings import Config
from storage.db import Database


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def open_app(
    config: Config,
    clock: Clock | None = None,
    *,
    worker_id: str | None = None,
    upgrade: bool = False,
) -> App:
    """The services for ``config``; ``upgrade`` migrates the database to head first."""
    clock = clock or SystemClock()
    worker_id = worker_id or config.worker.id or default_worker_id()
    db = Database(config.storage.url)
    if upgrade:
        db.upgrade()
    registry = Registry.load()
    engine = Engine(db, config, registry, clock, worker_id)
    if upgrade or db.has_schema():
        with db.session(write=False) as session:
            engine.reload_calendar(session)
    return App(config, db, clock, registry, engine, worker_id)
