"""The assembled services one command, request or job works with.

Built by the edge (``cli.wiring.open_app``) from the configuration; the web and the
engine's own helpers receive it and never build one.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.registry import Registry
from engine.runtime import Engine
from kernel.clock import Clock
from kernel.settings import Config
from storage.db import Database


@dataclass
class App:
    config: Config
    db: Database
    clock: Clock
    registry: Registry
    engine: Engine
    worker_id: str

    def close(self) -> None:
        self.db.dispose()
