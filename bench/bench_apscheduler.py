"""Scenario 2: theodoi against APScheduler 3, one date job per reminder.

The approach a Python developer reaches for first: each reminder is a date job in a
``SQLAlchemyJobStore`` on SQLite (each job a pickled row, each add and each removal
its own transaction). The headline baseline gives APScheduler the same SQLite pragmas as
theodoi (WAL, synchronous=NORMAL), so the comparison is the design, not disk settings.

Same reminders on the theodoi side: scheduling one is creating the trip case through
the engine (case, history, its departure timer, the approval notice in the outbox;
500 cases per transaction, as an import does); running it is the sweep firing the
timer (transition, history, next timer). Both sides must run every reminder exactly
once before a figure is reported.

Size: 10,000 reminders (100,000 would keep APScheduler busy for minutes). A second
baseline gives APScheduler SQLite's defaults, what a developer gets without tuning
(rollback journal, a disk sync at each of its per-job commits): 500 reminders, since
it runs at disk speed.
"""

from __future__ import annotations

import threading
import time as clock_time
from datetime import UTC, date, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, func, select, text

import storage.tables
from bench import dataset
from bench.common import check, figure, open_app, say, scratch, sized, sqlite_url, timed
from kernel.clock import from_local

REMINDERS = 10_000
GOAL = 20.0
BATCH = 500
# SQLite's default journal syncs the disk at every commit: APScheduler's one
# transaction per job then runs at disk speed, so that variant runs a twentieth.
DEFAULTS_SHARE = 20

_ran: list[int] = []
_ran_lock = threading.Lock()
_all_ran = threading.Event()
_expected = 0


def remind(number: int) -> None:
    """The job: record that reminder ``number`` ran (referenced by name in the store)."""
    with _ran_lock:
        _ran.append(number)
        if len(_ran) >= _expected:
            _all_ran.set()


def _sqlite_engine(path: Path, tuned: bool) -> Any:
    engine = create_engine(sqlite_url(path))
    if not tuned:
        return engine  # SQLite's defaults: rollback journal, synchronous=FULL

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    return engine


def apscheduler(path: Path, count: int, tuned: bool = True) -> tuple[float, float]:
    """(seconds to schedule, seconds until all ran) for ``count`` date jobs due now;
    ``tuned``: with theodoi's pragmas, else with SQLite's defaults."""
    from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    global _expected
    _ran.clear()
    _all_ran.clear()
    _expected = count
    failures: list[Any] = []
    engine = _sqlite_engine(path, tuned)
    scheduler = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=engine)},
        executors={"default": ThreadPoolExecutor(10)},
        timezone=UTC,
    )
    scheduler.add_listener(failures.append, EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    scheduler.start(paused=True)  # jobs go to the store now, and run on resume
    try:
        from kernel.clock import SystemClock

        due = SystemClock().now().replace(tzinfo=UTC)
        schedule = timed()
        with schedule.running():
            for number in range(count):
                scheduler.add_job(
                    "bench.bench_apscheduler:remind",
                    "date",
                    run_date=due,
                    args=[number],
                    id=f"reminder-{number}",
                    misfire_grace_time=None,
                )
        stored = _stored(engine)
        check(stored == count, f"APScheduler stored {stored} jobs of {count}")
        run = timed()
        with run.running():
            scheduler.resume()
            finished = _all_ran.wait(timeout=600)
            while _stored(engine):  # a date job is removed from the store once it ran
                clock_time.sleep(0.01)
    finally:
        scheduler.shutdown(wait=True)
        engine.dispose()
    check(finished, f"APScheduler ran {len(_ran)} of {count} jobs in 10 minutes")
    check(not failures, f"APScheduler jobs failed or were missed: {failures[:3]}")
    check(len(_ran) == count and len(set(_ran)) == count, "a job ran twice or not at all")
    return schedule.wall, run.wall


def _stored(engine: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM apscheduler_jobs")).scalar_one())


def theodoi(path: Path, count: int) -> tuple[float, float]:
    """(seconds to create ``count`` trips with their timers, seconds to fire them all)."""
    dataset.build_sqlite(path, dataset.Plan(0, ()))
    leave = dataset.BASE_DAY + timedelta(days=10)
    scheduled_at = dataset.now_instant()
    fire_at = from_local(leave, time(1, 0), dataset.TZ)
    app = open_app(sqlite_url(path), scheduled_at)
    try:
        schedule = timed()
        with schedule.running():
            for start in range(0, count, BATCH):
                with app.db.session() as session:
                    for number in range(start, min(start + BATCH, count)):
                        app.engine.create_case(
                            session, "trip", _trip(number, leave), actor="bench"
                        )
        check(_count(app, storage.tables.TIMER.c.kind == "depart") == count, "departure timers missing")
        check(_count(app, storage.tables.OUTBOX.c.kind == "approval_notice") == count, "notices missing")
        app.clock.set(fire_at)  # type: ignore[attr-defined]
        run = timed()
        with run.running():
            report = app.engine.sweep(fire_at)
        check(report.fired == count, f"theodoi fired {report.fired} of {count}")
        fired = _count(app, storage.tables.TIMER.c.status == "fired")
        departed = _count(app, storage.tables.EVENT.c.event == "depart")
        travelling = _count(app, storage.tables.CASE.c.state == "travelling")
        returns = _count(app, (storage.tables.TIMER.c.kind == "return") & (storage.tables.TIMER.c.status == "pending"))
        check(fired == departed == travelling == returns == count, "theodoi lost or doubled a timer")
    finally:
        app.close()
    return schedule.wall, run.wall


def _trip(number: int, leave: date) -> dict[str, Any]:
    return {
        "unit_id": number % dataset.UNITS + 1,
        "decision_id": 1,
        "name": f"Trần Thị Bình {number}",
        "name_key": f"tran thi binh {number}",
        "position": "Chuyên viên",
        "category": "unit",
        "country_codes": "KH",
        "purpose": "official",
        "email": f"person{number}@bench.local",
        "planned_start": leave,
        "planned_end": leave + timedelta(days=6),
    }


def _count(app: Any, where: Any) -> int:
    with app.db.engine.connect() as conn:
        return int(conn.execute(select(func.count()).where(where)).scalar_one())


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    count = sized(REMINDERS, scale, 10)
    default_count = sized(REMINDERS // DEFAULTS_SHARE, scale, 10)
    with scratch("apscheduler") as tmp:
        say(f"apscheduler: {count:,} date jobs in SQLAlchemyJobStore on SQLite (WAL)")
        aps = apscheduler(tmp / "apscheduler.db", count, tuned=True)
        say(f"apscheduler: scheduled in {aps[0]:.1f} s, ran in {aps[1]:.1f} s; defaults")
        aps_default = apscheduler(tmp / "apscheduler-default.db", default_count, tuned=False)
        say(f"apscheduler: {default_count:,} with defaults: {aps_default[0]:.1f} s, "
            f"{aps_default[1]:.1f} s; theodoi")
        ours = theodoi(tmp / "theodoi.db", count)
    figures = []
    for leg, what in enumerate(
        ("scheduling reminders (theodoi: create trip + timer + notice)",
         "running reminders (theodoi: fire timer, transition, next timer)")
    ):
        for variant, label, size, theirs in (
            ("tuned", "WAL, synchronous=NORMAL as theodoi", count, aps),
            ("defaults", "SQLite defaults: rollback journal, synchronous=FULL", default_count,
             aps_default),
        ):
            figures.append(
                figure(
                    f"{what}, vs APScheduler {variant}",
                    count / ours[leg],
                    "reminders/s",
                    f"APScheduler 3 date jobs in SQLAlchemyJobStore, SQLite ({label})",
                    size / theirs[leg],
                    goal=f">= {GOAL:g}x APScheduler",
                    met=(count / ours[leg]) / (size / theirs[leg]) >= GOAL,
                    note=(
                        f"theodoi {count:,} in {ours[leg]:.2f} s; "
                        f"APScheduler {size:,} in {theirs[leg]:.2f} s"
                    ),
                )
            )
    return figures
