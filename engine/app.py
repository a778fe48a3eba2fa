"""Wiring: configuration, database, clock, workflows and the engine, built once."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

from engine.clock import Clock, SystemClock
from engine.config import Config
from engine.registry import Registry
from engine.runtime import Engine
from storage.db import Database


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass
class App:
    config: Config
    db: Database
    clock: Clock
    registry: Registry
    engine: Engine
    worker_id: str

    @classmethod
    def open(
        cls,
        config: Config,
        clock: Clock | None = None,
        *,
        worker_id: str | None = None,
        upgrade: bool = False,
    ) -> App:
        clock = clock or SystemClock()
        worker_id = worker_id or config.worker.id or default_worker_id()
        db = Database(config.storage.url)
        if upgrade:
            db.upgrade()
        registry = Registry.load()
        engine = Engine(db, config, registry, clock, worker_id)
        if upgrade or has_schema(db):
            with db.session(write=False) as session:
                engine.reload_calendar(session)
        return cls(config, db, clock, registry, engine, worker_id)

    def close(self) -> None:
        self.db.dispose()


def has_schema(db: Database) -> bool:
    from sqlalchemy import inspect

    return inspect(db.engine).has_table("calendar_day")
