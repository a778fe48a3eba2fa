"""What every scenario shares: the figure record, timing, a scratch folder, checks.

A scenario module exposes ``run(scale: float) -> list[dict]``; ``scale`` is 1.0 for
the real run and 0.1 for ``--quick``. Each dict is a :func:`figure`. A scenario checks
its own results with :func:`check` before it reports a number: a fast wrong answer
raises :class:`BenchError` instead of producing a figure.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kernel.errors import TheodoiError

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG_URL = os.environ.get("THEODOI_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


class BenchError(TheodoiError):
    """A scenario's own correctness check failed: its figures are not reported."""


def check(condition: bool, message: str) -> None:
    if not condition:
        raise BenchError(message)


def figure(
    name: str,
    value: float | None,
    unit: str,
    baseline: str | None = None,
    baseline_value: float | None = None,
    ratio: float | None = None,
    *,
    goal: str | None = None,
    met: bool | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """One reported number. ``ratio`` defaults to value / baseline_value; ``value``
    None means not measured, and ``note`` must then say why."""
    if ratio is None and value is not None and baseline_value:
        ratio = value / baseline_value
    out: dict[str, Any] = {
        "name": name,
        "value": _round(value),
        "unit": unit,
        "baseline": baseline,
        "baseline_value": _round(baseline_value),
        "ratio": _round(ratio, 3),
    }
    if goal is not None:
        out["goal"] = goal
        out["met"] = met
    if note:
        out["note"] = note
    return out


def not_measured(name: str, unit: str, reason: str, goal: str | None = None) -> dict[str, Any]:
    return figure(name, None, unit, goal=goal, met=None, note=f"not measured: {reason}")


def _round(value: float | None, digits: int = 4) -> float | None:
    if value is None:
        return None
    if abs(value) >= 100:
        return round(value, 1)
    return float(f"{value:.{digits}g}")


@dataclass
class Stopwatch:
    """Wall and CPU time of a block (CPU shows whether the machine was contended)."""

    wall: float = 0.0
    cpu: float = 0.0

    @contextmanager
    def running(self) -> Iterator[Stopwatch]:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        try:
            yield self
        finally:
            self.wall += time.perf_counter() - wall0
            self.cpu += time.process_time() - cpu0


def timed() -> Stopwatch:
    return Stopwatch()


@contextmanager
def scratch(name: str) -> Iterator[Path]:
    """A scratch folder for one scenario, removed afterwards (THEODOI_BENCH_TMP moves it)."""
    base = os.environ.get("THEODOI_BENCH_TMP") or None
    with tempfile.TemporaryDirectory(prefix=f"theodoi-bench-{name}-", dir=base) as tmp:
        yield Path(tmp)


def sized(full: int, scale: float, minimum: int = 1) -> int:
    return max(minimum, int(round(full * scale)))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def say(text: str) -> None:
    """Progress on stderr (stdout carries one line per figure)."""
    print(f"  · {text}", file=sys.stderr, flush=True)


def open_app(url: str, now: Any, worker_id: str = "bench", **env: str) -> Any:
    """The real application on ``url`` with a manual clock at ``now``; the settings are
    the shipped defaults (the caller's THEODOI_* environment is not read)."""
    from cli.wiring import open_app
    from kernel.clock import ManualClock
    from kernel.settings import load_config

    config = load_config(None, {"THEODOI_STORAGE__URL": url, **env})
    return open_app(config, ManualClock(now), worker_id=worker_id)
