"""Profiles behind docs/performance.md: ``python -m bench.profile WHAT [--size N]``.

WHAT is one of:

- ``sweep``: the engine firing N due deadline timers (among 10 N cases), as scenario 1;
- ``create``: the engine creating N trips (scheduling, as in scenario 2);
- ``send``: theodoi's sender delivering N notices, rendering included (scenario 5).

Prints pyinstrument's call tree (wall time; on a busy machine compare shares, not
seconds) and the CPU seconds of the run.
"""

from __future__ import annotations

import argparse
import shutil
import time
from datetime import timedelta
from pathlib import Path

from pyinstrument import Profiler

from bench import dataset
from bench.common import open_app, scratch, sqlite_url


def _sweep(tmp: Path, size: int, profiler: Profiler) -> None:
    path = tmp / "sweep.db"
    dataset.build_sqlite(path, dataset.simple_plan(size * 10, size))
    app = open_app(sqlite_url(path), dataset.now_instant())
    try:
        with profiler:
            report = app.engine.sweep()
    finally:
        app.close()
    print(f"fired {report.fired}")


def _create(tmp: Path, size: int, profiler: Profiler) -> None:
    from bench.bench_apscheduler import BATCH, _trip

    path = tmp / "create.db"
    dataset.build_sqlite(path, dataset.Plan(0, ()))
    app = open_app(sqlite_url(path), dataset.now_instant())
    leave = dataset.BASE_DAY + timedelta(days=10)
    try:
        with profiler:
            for start in range(0, size, BATCH):
                with app.db.session() as session:
                    for n in range(start, min(start + BATCH, size)):
                        app.engine.create_case(session, "trip", _trip(n, leave), actor="bench")
    finally:
        app.close()
    print(f"created {size}")


def _send(tmp: Path, size: int, profiler: Profiler) -> None:
    from bench.bench_mail import make_outbox, send
    from bench.smtp_sink import running_sink
    from notifications import smtp

    path = tmp / "send.db"
    make_outbox(path, size)
    shutil.copyfile(path, tmp / "copy.db")
    with running_sink() as sink, profiler:
        send(path, sink.port, size, smtp._Pass._build)
    print(f"sent {size}")


RUNS = {"sweep": _sweep, "create": _create, "send": _send}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.profile")
    parser.add_argument("what", choices=sorted(RUNS))
    parser.add_argument("--size", type=int, default=5_000)
    args = parser.parse_args()
    profiler = Profiler()
    with scratch("profile") as tmp:
        cpu = time.process_time()
        RUNS[args.what](tmp, args.size, profiler)
        print(f"CPU {time.process_time() - cpu:.2f} s (including the dataset build)")
    print(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()
