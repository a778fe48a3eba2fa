"""Scenario 4: the cost of one sweep as the database grows (10k, 100k, 1M cases).

Each size holds six groups of 1,000 due deadline timers on consecutive days. A fresh
process opens the real application, sweeps the first group (warm-up: imports, the
holiday tables, SQLite's cache), then sweeps each of the five others at its own
instant and times it; the figure is the median. The sweep must stay flat as cases
grow: the due timers are found by an index walk (partial index on pending
``fire_at``), never a scan. The same process reports its peak RSS (``VmHWM``, see
:func:`peak_rss_mib` for why not ``ru_maxrss``), which must not grow with the
number of cases either.
"""

from __future__ import annotations

import json
import statistics
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import dataset, firing
from bench.common import PYTHON, REPO, check, figure, say, scratch, sized, sqlite_url

SIZES = (10_000, 100_000, 1_000_000)
PER_SWEEP = 1_000
STAGES = 6  # one warm-up, five timed
GOAL_TIME = 1.5
GOAL_RSS = 1.10  # "flat": within 10 %

_CHILD = "import sys; from bench.bench_growth import child; child(sys.argv[1:])"


def child(argv: list[str]) -> None:
    """In the sweeping process: sweep each instant, print times and peak RSS as JSON."""
    import time

    from bench.common import open_app

    url, per_sweep, *instants = argv
    stamps = [datetime.fromisoformat(s) for s in instants]
    app = open_app(url, stamps[0], "growth")
    times, fired = [], []
    try:
        for now in stamps:
            app.clock.set(now)
            start = time.perf_counter()
            report = app.engine.sweep(now)
            times.append(time.perf_counter() - start)
            fired.append(report.fired)
    finally:
        app.close()
    print(json.dumps({"times": times, "fired": fired, "rss_mib": peak_rss_mib()}), flush=True)


def peak_rss_mib() -> float:
    """This process's peak RSS. ``VmHWM`` where Linux has it: ``ru_maxrss`` carries
    the parent's peak across fork and exec (the kernel keeps the old address space's
    high-water mark), so a child of a big parent would report the parent's peak."""
    import resource

    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure(path: Path, cases: int, per_sweep: int) -> dict[str, Any]:
    plan = dataset.staged_plan(cases, per_sweep, STAGES)
    dataset.build_sqlite(path, plan)
    instants = dataset.stage_instants(plan)
    url = sqlite_url(path)
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            before = firing.counts(conn, instants[-1])
        proc = subprocess.run(
            [PYTHON, "-c", _CHILD, url, str(per_sweep), *(i.isoformat() for i in instants)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        check(proc.returncode == 0, f"the sweeping process failed: {proc.stderr[-2000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        with engine.connect() as conn:
            after = firing.counts(conn, instants[-1])
    finally:
        engine.dispose()
    check(result["fired"] == [per_sweep] * STAGES, f"sweeps fired {result['fired']}")
    firing.verify(before, after, per_sweep * STAGES)
    timed_sweeps = result["times"][1:]
    return {"seconds": statistics.median(timed_sweeps), "rss": result["rss_mib"], **result}


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    per_sweep = sized(PER_SWEEP, scale, 10)
    sizes = [sized(n, scale, per_sweep * STAGES) for n in SIZES]
    results = {}
    with scratch("growth") as tmp:
        for cases in sizes:
            say(f"growth: {cases:,} cases, sweeps of {per_sweep:,}")
            results[cases] = measure(tmp / f"growth-{cases}.db", cases, per_sweep)
            (tmp / f"growth-{cases}.db").unlink()
            r = results[cases]
            say(
                f"growth: {cases:,} cases: sweeps {[round(t, 3) for t in r['times']]} s, "
                f"peak RSS {r['rss']:.0f} MiB"
            )
    small, middle, large = sizes
    base = results[small]["seconds"]
    figures = []
    for cases in sizes:
        r = results[cases]
        is_large = cases == large
        figures.append(
            figure(
                f"one sweep finding {per_sweep:,} due timers, {cases:,} cases",
                r["seconds"],
                "s",
                f"the same sweep at {small:,} cases",
                base,
                goal=f"<= {GOAL_TIME}x the time at {small:,} cases" if is_large else None,
                met=r["seconds"] / base <= GOAL_TIME if is_large else None,
                note=(
                    f"median of {STAGES - 1} sweeps "
                    f"{', '.join(f'{t:.3f}' for t in r['times'][1:])} s after a warm-up sweep"
                ),
            )
        )
    for cases in (middle, large):
        r = results[cases]
        figures.append(
            figure(
                f"peak RSS of the sweeping process, {cases:,} cases",
                r["rss"],
                "MiB",
                f"the same process at {middle:,} cases",
                results[middle]["rss"],
                goal=f"<= {GOAL_RSS}x the RSS at {middle:,} cases" if cases == large else None,
                met=r["rss"] / results[middle]["rss"] <= GOAL_RSS if cases == large else None,
                note=f"at {small:,} cases {results[small]['rss']:.0f} MiB"
                if cases == middle
                else None,
            )
        )
    return figures
