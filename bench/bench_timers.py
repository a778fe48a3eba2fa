"""Scenario 1: timer throughput end to end on SQLite, against the raw write limit.

1,000,000 trip cases, 100,000 of them with their deadline timer due now. The real
engine fires them all (claim, transition, history, next timer, outbox row; batches of
``storage.sweep_batch`` cases per transaction). Baseline, in the same run on a copy of
the same file: a plain sqlite3 ``executemany`` UPDATE of the same 100,000 timer rows in
one transaction, with the engine's pragmas (WAL, synchronous=NORMAL). The engine
writes several rows per timer, so the fair comparison counts rows written.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

from bench import dataset, firing
from bench.common import (
    check,
    figure,
    open_app,
    say,
    scratch,
    sized,
    sqlite_url,
    timed,
)

CASES = 1_000_000
DUE = 100_000
GOAL_RATE = 5_000
GOAL_ROWS_RATIO = 0.5


def raw_update(path: Path, now: datetime, due: int) -> tuple[float, float]:
    """(rows/s, seconds) of one executemany UPDATE of the due timers."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        stamp = now.strftime("%Y-%m-%d %H:%M:%S.%f")
        ids = [
            row[0]
            for row in conn.execute(
                "SELECT id FROM timer WHERE status = 'pending' AND fire_at <= ?", (stamp,)
            )
        ]
        check(len(ids) == due, f"raw baseline found {len(ids)} due timers, expected {due}")
        params = [(stamp, i) for i in ids]
        watch = timed()
        with watch.running():
            conn.execute("BEGIN IMMEDIATE")
            cursor = conn.executemany(
                "UPDATE timer SET status = 'fired', fired_at = ? WHERE id = ?", params
            )
            conn.execute("COMMIT")
        check(cursor.rowcount == due, f"raw UPDATE wrote {cursor.rowcount} rows of {due}")
        left = conn.execute(
            "SELECT count(*) FROM timer WHERE status = 'pending' AND fire_at <= ?", (stamp,)
        ).fetchone()[0]
        check(left == 0, "raw UPDATE left due timers pending")
    finally:
        conn.close()
    return due / watch.wall, watch.wall


def fire_all(url: str, now: datetime, due: int, worker_id: str = "bench") -> dict[str, Any]:
    """Sweep everything due at ``now`` through the engine; verify; time it."""
    app = open_app(url, now, worker_id)
    try:
        with app.db.engine.connect() as conn:
            before = firing.counts(conn, now)
        watch = timed()
        with watch.running():
            report = app.engine.sweep(now)
        with app.db.engine.connect() as conn:
            after = firing.counts(conn, now)
    finally:
        app.close()
    check(report.fired == due, f"the sweep reported {report.fired} fired, {due} were due")
    check(report.parked == 0, f"{report.parked} timers parked")
    rows_per_timer = firing.verify(before, after, due)
    return {"seconds": watch.wall, "cpu": watch.cpu, "rows_per_timer": rows_per_timer}


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    cases, due = sized(CASES, scale, 100), sized(DUE, scale, 10)
    plan = dataset.simple_plan(cases, due)
    now = dataset.now_instant()
    with scratch("timers") as tmp:
        path = tmp / "timers.db"
        say(f"timers: building {cases:,} cases, {due:,} due")
        build = timed()
        with build.running():
            dataset.build_sqlite(path, plan)
        say(f"timers: built in {build.wall:.1f} s; raw UPDATE baseline on a copy")
        raw_path = tmp / "raw.db"
        shutil.copyfile(path, raw_path)
        raw_rate, raw_s = raw_update(raw_path, now, due)
        raw_path.unlink()
        say(f"timers: raw {raw_rate:,.0f} rows/s; firing {due:,} timers through the engine")
        result = fire_all(sqlite_url(path), now, due)
    rate = due / result["seconds"]
    rows = result["rows_per_timer"]
    engine_rows = rate * rows
    where = f"SQLite, {due:,} due of {cases:,} cases"
    contention = result["cpu"] / result["seconds"]
    return [
        figure(
            f"timers fired end to end ({where})",
            rate,
            "timers/s",
            "raw sqlite3 executemany UPDATE of the same timer rows",
            raw_rate,
            goal=f">= {GOAL_RATE:,} timers/s",
            met=rate >= GOAL_RATE,
            note=(
                f"{result['seconds']:.2f} s for {due:,} timers, CPU {contention:.0%} of wall; "
                f"raw UPDATE {raw_s:.2f} s; dataset built in {build.wall:.1f} s"
            ),
        ),
        figure(
            f"rows written by the engine ({where})",
            engine_rows,
            "rows/s",
            "raw sqlite3 executemany UPDATE of the same timer rows",
            raw_rate,
            goal=f"engine/raw >= {GOAL_ROWS_RATIO} in rows",
            met=engine_rows / raw_rate >= GOAL_ROWS_RATIO,
            note=(
                f"{rows:g} rows per timer: case update, timer fired, history event, "
                "next timer, outbox row"
            ),
        ),
    ]

