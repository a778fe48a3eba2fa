"""Scenario 3: theodoi against procrastinate, a PostgreSQL job queue, on one PostgreSQL.

The same reminders, due now:
- procrastinate: one job each (deferred in one batch), run by one worker process
  (concurrency 1, ``wait=False``: it stops once the queue is empty); the task only
  counts what it ran. 2,000 jobs: it commits twice per job, and its rate does not
  grow with the queue, so a fifth of theodoi's count keeps the run in its budget.
- theodoi: 10,000 due deadline timers among 50,000 trip cases; fired by one worker
  process, then (on a fresh copy of the same data) by two worker processes sharing
  the timers with ``FOR UPDATE SKIP LOCKED``. Each firing is a transition, a history
  event, the next timer and an outbox row: more per job than the peer's.

Each run gets its own database (``theodoi_bench_<pid>_…``, created from a template
that holds the dataset), dropped at the end. Workers start, open their connections,
say ready, and begin together on "go"; the time is from the first start to the last
finish, as the workers measure it (monotonic clock).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy.engine import make_url

from bench import dataset, firing
from bench.common import PG_URL, PYTHON, REPO, check, figure, say, scratch, sized, timed

REMINDERS = 10_000
CASES_PER_REMINDER = 5
# procrastinate commits twice per job and ran at ~60 jobs/s here: a fifth of the
# reminders keeps the run inside its budget; its rate does not grow with the queue.
PROCRASTINATE_SHARE = 5


def _libpq(url: str) -> str:
    """A SQLAlchemy URL as a libpq connection string (for psycopg and procrastinate)."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _admin(sql: str) -> None:
    import psycopg

    with psycopg.connect(_libpq(PG_URL), autocommit=True) as conn:
        conn.execute(sql)


@contextmanager
def databases(prefix: str) -> Iterator[Any]:
    """``make(name, template=None) -> url``; every database made is dropped at the end."""
    made: list[str] = []

    def make(suffix: str, template: str | None = None) -> str:
        name = f"{prefix}_{suffix}"
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        made.append(name)
        return _with_database(PG_URL, name)

    try:
        yield make
    finally:
        for name in reversed(made):
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# -- workers (subprocesses) ------------------------------------------------------------


# The workers import this module by name (not as __main__), so that procrastinate
# finds its task where the deferring side registered it.
_WORKER = "import sys; from bench.bench_pg import worker_main; worker_main(sys.argv[1:])"


def _workers(args_list: list[list[str]]) -> list[dict[str, Any]]:
    """Start one worker per args, wait until all are ready, say go, collect results."""
    procs = [
        subprocess.Popen(
            [PYTHON, "-c", _WORKER, *args],
            cwd=REPO,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for args in args_list
    ]
    try:
        for proc in procs:
            ready = proc.stdout.readline().strip()  # type: ignore[union-attr]
            check(ready == "ready", f"a worker did not start: {ready!r}")
        for proc in procs:
            proc.stdin.write("go\n")  # type: ignore[union-attr]
            proc.stdin.flush()  # type: ignore[union-attr]
        results = []
        for proc in procs:
            out, _err = proc.communicate(timeout=600)
            check(proc.returncode == 0, f"a worker failed with status {proc.returncode}")
            results.append(json.loads(out.strip().splitlines()[-1]))
        return results
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()


def _span(results: list[dict[str, Any]]) -> float:
    return max(r["end"] for r in results) - min(r["start"] for r in results)


def _theodoi_worker(url: str, now_iso: str, worker_id: str) -> dict[str, Any]:
    import time

    from bench.common import open_app

    now = datetime.fromisoformat(now_iso)
    app = open_app(url, now, worker_id)
    with app.db.engine.connect():
        pass  # connect before the start
    _ready_and_wait()
    start = time.monotonic()
    report = app.engine.sweep(now)
    end = time.monotonic()
    app.close()
    return {"start": start, "end": end, "fired": report.fired, "parked": report.parked}


def _make_procrastinate(conninfo: str) -> tuple[Any, Any, list[int]]:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))
    ran: list[int] = []

    @app.task(name="remind", queue="reminders")
    def remind(number: int) -> None:
        ran.append(number)

    return app, remind, ran


def _procrastinate_worker(conninfo: str) -> dict[str, Any]:
    import logging
    import time

    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    app, _task, ran = _make_procrastinate(conninfo)

    async def work() -> tuple[float, float]:
        async with app.open_async():
            _ready_and_wait()
            start = time.monotonic()
            await app.run_worker_async(
                queues=["reminders"], wait=False, concurrency=1, install_signal_handlers=False
            )
            return start, time.monotonic()

    start, end = asyncio.run(work())
    return {"start": start, "end": end, "fired": len(ran), "distinct": len(set(ran))}


def _ready_and_wait() -> None:
    print("ready", flush=True)
    check(sys.stdin.readline().strip() == "go", "no go")


# -- the scenario --------------------------------------------------------------------------


def procrastinate_run(url: str, count: int) -> tuple[float, float]:
    """(seconds to defer, seconds for one worker to run all) of ``count`` jobs."""
    conninfo = _libpq(url)
    app, task, _ran = _make_procrastinate(conninfo)
    with app.open():
        app.schema_manager.apply_schema()
        defer = timed()
        with defer.running():
            task.batch_defer(*({"number": n} for n in range(count)))
    results = _workers([["procrastinate", conninfo]])
    result = results[0]
    check(result["fired"] == result["distinct"] == count, f"procrastinate ran {result}")
    import psycopg

    with psycopg.connect(conninfo) as conn:
        statuses = dict(
            conn.execute("SELECT status, count(*) FROM procrastinate_jobs GROUP BY status")
        )
    check(statuses == {"succeeded": count}, f"procrastinate job statuses {statuses}")
    return defer.wall, _span(results)


def theodoi_run(url: str, count: int, workers: int) -> tuple[float, list[int]]:
    """(seconds, timers fired per worker) for ``workers`` processes sweeping ``count``."""
    from sqlalchemy import create_engine

    now = dataset.now_instant()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            before = firing.counts(conn, now)
        check(before["due_pending"] == count, f"{before['due_pending']} due, expected {count}")
        results = _workers(
            [["theodoi", url, now.isoformat(), f"bench-{k}"] for k in range(workers)]
        )
        with engine.connect() as conn:
            after = firing.counts(conn, now)
    finally:
        engine.dispose()
    check(sum(r["parked"] for r in results) == 0, "timers parked")
    check(sum(r["fired"] for r in results) == count, f"workers fired {results}")
    firing.verify(before, after, count)
    return _span(results), [r["fired"] for r in results]


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    count = sized(REMINDERS, scale, 10)
    jobs = sized(REMINDERS // PROCRASTINATE_SHARE, scale, 10)
    cases = count * CASES_PER_REMINDER
    prefix = f"theodoi_bench_{os.getpid()}"
    with databases(prefix) as make, scratch("pg") as tmp:
        say(f"pg: procrastinate, {jobs:,} jobs, one worker")
        defer_s, proc_s = procrastinate_run(make("procrastinate"), jobs)
        say(f"pg: procrastinate deferred in {defer_s:.1f} s, ran in {proc_s:.1f} s")
        say(f"pg: theodoi dataset, {cases:,} cases, {count:,} due")
        build = timed()
        with build.running():
            dataset.build_core(make("template"), dataset.simple_plan(cases, count), tmp)
        say(f"pg: built in {build.wall:.1f} s; theodoi, one worker")
        one_s, _ = theodoi_run(make("one", template=f"{prefix}_template"), count, 1)
        say(f"pg: one worker {one_s:.1f} s; two workers")
        two_s, shares = theodoi_run(make("two", template=f"{prefix}_template"), count, 2)
        say(f"pg: two workers {two_s:.1f} s, shares {shares}")
    baseline = "procrastinate 3, one worker process (concurrency 1)"
    rate = {"one": count / one_s, "two": count / two_s, "proc": jobs / proc_s}
    goal = ">= procrastinate, one worker each"
    return [
        figure(
            f"PostgreSQL: theodoi, one worker, {count:,} due timers",
            rate["one"],
            "timers/s",
            baseline,
            rate["proc"],
            goal=goal,
            met=rate["one"] >= rate["proc"],
            note=(
                f"theodoi {one_s:.2f} s (transition, history, next timer, outbox row per "
                f"timer, among {cases:,} cases); procrastinate {proc_s:.2f} s for "
                f"{jobs:,} no-op jobs (deferred in one batch in {defer_s:.2f} s)"
            ),
        ),
        figure(
            f"PostgreSQL: theodoi, two workers, {count:,} due timers",
            rate["two"],
            "timers/s",
            baseline,
            rate["proc"],
            note=f"{two_s:.2f} s; timers per worker {shares}; vs one theodoi worker "
            f"{rate['two'] / rate['one']:.2f}x (two processes on {os.cpu_count()} cores, "
            "PostgreSQL on the same cores)",
        ),
    ]


def worker_main(argv: list[str]) -> None:
    kind, *rest = argv
    if kind == "theodoi":
        result = _theodoi_worker(*rest)
    elif kind == "procrastinate":
        result = _procrastinate_worker(*rest)
    else:
        raise SystemExit(f"unknown worker kind {kind}")
    print(json.dumps(result), flush=True)
