"""Several `theodoi worker` processes, many timers due at once, faults on purpose.

Real processes, a real database (PostgreSQL in a schema of its own; SQLite in a
file), a real SMTP server (aiosmtpd) in the test. What must hold every time:

* every timer fires exactly once (one history event per timer, the timer ``fired``);
* timers not yet due stay pending;
* every notice reaches the SMTP server; no Message-ID arrives twice unless a worker
  died (SIGKILL, lost connection) between the server's "250 OK" and writing
  ``sent`` — at most ``[smtp] connections`` messages per such death;
* the work is shared: the history names several workers.

Defaults keep `make test` short: on PostgreSQL 2,000 timers due at once, 200 of them
sending a notice (rendering a message costs ~25 ms of CPU, a timer ~1 ms), 4 workers,
4 kills; on SQLite 1,000 timers, 100 notices, 2 workers. ``THEODOI_SOAK=1`` runs the
sizes of the issue (20,000 timers; 5,000 notices on PostgreSQL, 2,000 on SQLite; ten
kills). ``THEODOI_WORKERS_TIMERS``, ``THEODOI_WORKERS_NOTICES`` and
``THEODOI_WORKERS_KILLS`` set them by hand.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, insert, select, text

import storage.outbox
import storage.timers
from kernel.clock import to_local
from kernel.settings import SmtpSettings, load_config
from storage.db import Database
from storage.models import Case, Unit
from tests.pg import pg_schema, require_pg, schema_url
from tests.smtp_server import SmtpServer

REPO = Path(__file__).resolve().parents[2]
THEODOI = str(Path(sys.executable).parent / "theodoi")
SOAK = os.environ.get("THEODOI_SOAK") == "1"
CONNECTIONS = 4  # [smtp] connections
# The most a dead worker can leave accepted but not marked sent: the outcomes not yet
# written as a batch, and one message in flight per connection.
UNMARKED = SmtpSettings().record_every - 1 + CONNECTIONS

# Tuesday 10 March 2026, 09:00 in Tây Ninh: a working day, inside the send window.
BASE = datetime(2026, 3, 10, 2, 0)
DUE = BASE - timedelta(hours=2)  # every reminder timer is due at this instant
DEADLINE = date(2026, 3, 31)
LATER = datetime(2026, 3, 31, 17, 0)  # the deadline timers: not due during the test
TZ = load_config(None, {}).organisation.tz


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


# -- the scenario -------------------------------------------------------------------------


@dataclass
class Run:
    """Workers against one database, and what the test did to them."""

    url: str
    smtp_port: int
    tmp: Path
    procs: dict[str, subprocess.Popen] = field(default_factory=dict)
    logs: dict[str, list[Path]] = field(default_factory=lambda: collections.defaultdict(list))
    started: float = field(default_factory=time.monotonic)
    kills: int = 0
    terminations: int = 0

    def now_text(self) -> str:
        """The business instant for a worker starting now: BASE plus the time elapsed,
        so a restarted worker's clock agrees with the others' (leases expire)."""
        instant = BASE + timedelta(seconds=time.monotonic() - self.started)
        return to_local(instant, TZ).replace(tzinfo=None).isoformat(timespec="seconds")

    def start(self, worker_id: str) -> None:
        log = self.tmp / f"{worker_id}-{len(self.logs[worker_id])}.log"
        self.logs[worker_id].append(log)
        env = {
            **os.environ,
            "THEODOI_STORAGE__URL": self.url,
            "THEODOI_STORAGE__SWEEP_BATCH": "50",
            "THEODOI_SCHEDULER__SWEEP_INTERVAL_S": "0.3",
            "THEODOI_SCHEDULER__SEND_INTERVAL_S": "0.3",
            "THEODOI_SMTP__HOST": "127.0.0.1",
            "THEODOI_SMTP__PORT": str(self.smtp_port),
            "THEODOI_SMTP__CONNECTIONS": str(CONNECTIONS),
            "THEODOI_SMTP__TIMEOUT_S": "5",
            "THEODOI_WORKER__LEASE_S": "10",
            "THEODOI_WORKER__BACKOFF_MAX_S": "2",
            "THEODOI_NOW": self.now_text(),
        }
        env.pop("THEODOI_CONFIG", None)
        with log.open("wb") as out:
            self.procs[worker_id] = subprocess.Popen(
                [THEODOI, "worker", "--id", worker_id],
                cwd=REPO,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def kill(self, worker_id: str) -> None:
        proc = self.procs[worker_id]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        self.kills += 1

    def stop_all(self) -> dict[str, int]:
        for worker_id, proc in self.procs.items():
            if proc.poll() is None:
                self._wait_started(worker_id, proc)
                proc.send_signal(signal.SIGTERM)
        codes = {}
        for worker_id, proc in self.procs.items():
            try:
                codes[worker_id] = proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                codes[worker_id] = -999
        return codes

    def _wait_started(self, worker_id: str, proc: subprocess.Popen) -> None:
        """A worker restarted a moment ago may not handle SIGTERM yet (it would die
        of it, status -15): wait for its "started" line, which follows the handlers."""
        limit = time.monotonic() + 30
        while proc.poll() is None and time.monotonic() < limit:
            if " started (pid " in self.logs[worker_id][-1].read_text(errors="replace"):
                return
            time.sleep(0.05)

    def log_tail(self, lines: int = 25) -> str:
        """The last lines of each worker's latest log, routine step lines left out."""
        out = []
        for worker_id, paths in self.logs.items():
            text_ = [
                line
                for line in paths[-1].read_text(errors="replace").splitlines()
                if " step " not in line and " mail sent " not in line
            ]
            out.append(f"--- {worker_id} ({paths[-1].name}) ---")
            out.extend(text_[-lines:])
        return "\n".join(out)


@dataclass(frozen=True)
class Sizes:
    timers: int  # timers due at once
    notices: int  # of which this many send a notice (the rest move a case, silently)

    @property
    def departures(self) -> int:
        return self.timers - self.notices


def sizes(default: tuple[int, int], soak: tuple[int, int]) -> Sizes:
    timers, notices = soak if SOAK else default
    timers = int(os.environ.get("THEODOI_WORKERS_TIMERS") or timers)
    notices = int(os.environ.get("THEODOI_WORKERS_NOTICES") or notices)
    return Sizes(timers, min(notices, timers))


def seed(url: str, size: Sizes) -> Database:
    """Trips, written in bulk as an import of many cases would, each with one timer due
    at DUE: ``size.notices`` wait for their report and get a reminder (a notice; their
    deadline timer is not due during the test); the others are approved and depart (a
    state change that schedules their return timer)."""
    db = Database(url)
    db.upgrade()
    with db.session() as s:
        s.add(Unit(code="SYT", name="Sở Y tế", email="syt@example.vn", head_email="gd@example.vn"))
        s.flush()
        unit_id = s.scalars(select(Unit.id)).one()
        common = {
            "workflow": "trip",
            "version": 1,
            "unit_id": unit_id,
            "category": "unit",
            "country_codes": "KH",
            "purpose": "official",
            "escalation_level": 0,
            "data": {},
            "created_at": BASE - timedelta(days=10),
            "updated_at": BASE - timedelta(days=10),
        }
        rows = []
        for i in range(size.timers):
            row = {**common, "name": f"Nguyễn Văn {i}", "name_key": f"nguyen van {i}",
                   "email": f"nguoi{i}@example.vn"}
            if i < size.notices:
                row.update(state="report_due", planned_start=date(2026, 2, 20),
                           planned_end=date(2026, 3, 1), actual_start=date(2026, 2, 20),
                           actual_end=date(2026, 3, 1), deadline=DEADLINE)
            else:
                row.update(state="approved", planned_start=date(2026, 3, 10),
                           planned_end=date(2026, 3, 25), actual_start=None,
                           actual_end=None, deadline=None)
            rows.append(row)
        table = Case.__table__
        ids = list(
            s.execute(
                insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
            ).scalars()
        )
        timers = []
        for i, case_id in enumerate(ids):
            kind = "reminder" if i < size.notices else "depart"
            timers.append(
                {"case_id": case_id, "kind": kind, "level": 1, "fire_at": DUE, "status": "pending"}
            )
            if i < size.notices:  # a reminder does not leave the state: this one stays
                timers.append(
                    {"case_id": case_id, "kind": "deadline", "level": 1, "fire_at": LATER,
                     "status": "pending"}
                )
        storage.timers.insert_timers(s, timers)
    return db


def wait_done(run: Run, db: Database, smtp: SmtpServer, size: Sizes, timeout: float,
              during: Any = None) -> None:
    """Poll until every due timer fired, the outbox is empty and the server has all."""
    limit = time.monotonic() + timeout
    while True:
        if during is not None:
            during()
        with db.session(write=False) as s:
            due = storage.timers.due_timer_count(s, BASE + timedelta(days=1))
            status = storage.outbox.outbox_status_counts(s)
        waiting = status.get("pending", 0) + status.get("sending", 0)
        received = len(smtp.message_ids())
        if due == 0 and waiting == 0 and received >= size.notices:
            return
        if time.monotonic() > limit:
            pytest.fail(
                f"not done after {timeout:.0f} s: {due} timers due, outbox {status}, "
                f"{received} received\n{run.log_tail()}"
            )
        time.sleep(0.3)


def verify(db: Database, smtp: SmtpServer, size: Sizes, min_actors: int, dup_bound: int
           ) -> dict[str, Any]:
    """The guarantees; returns the figures worth printing."""
    with db.session(write=False) as s:
        timers = {
            (status, kind): count
            for status, kind, count in s.execute(
                text("SELECT status, kind, count(*) FROM timer GROUP BY status, kind")
            )
        }
        per_case = s.execute(text(
            "SELECT case_id, count(*) FROM event WHERE event IN ('reminder', 'depart') "
            "GROUP BY case_id"
        )).all()
        actors = dict(s.execute(text(
            "SELECT actor, count(*) FROM event WHERE event IN ('reminder', 'depart') "
            "GROUP BY actor"
        )).all())
        states = dict(s.execute(text('SELECT state, count(*) FROM "case" GROUP BY state')).all())
        outbox = s.execute(text("SELECT kind, status, message_id FROM outbox")).all()
    expected_timers = {
        ("fired", "reminder"): size.notices,
        ("pending", "deadline"): size.notices,
        ("fired", "depart"): size.departures,
        ("pending", "return"): size.departures,  # scheduled by each departure, once
    }
    assert timers == {k: v for k, v in expected_timers.items() if v}, timers
    assert len(per_case) == size.timers, "some due timer never fired"
    doubled = [case for case, count in per_case if count != 1]
    assert not doubled, f"timers fired more than once for cases {doubled[:10]}"
    assert states == {k: v for k, v in
                      {"report_due": size.notices, "travelling": size.departures}.items() if v}
    assert all(a.startswith("worker:w") for a in actors), actors
    assert len(actors) >= min_actors, f"the work was not shared: {actors}"

    kinds = collections.Counter((k, st) for k, st, _ in outbox)
    assert kinds == ({("reminder", "sent"): size.notices} if size.notices else {}), kinds
    expected = {mid for _, _, mid in outbox}
    received = smtp.message_ids()
    missing = expected - set(received)
    assert not missing, f"{len(missing)} notices never reached the server"
    assert set(received) <= expected, "the server got a message the outbox does not know"
    extra = sum(received.values()) - len(received)
    assert extra <= dup_bound, f"{extra} duplicate deliveries, more than the bound {dup_bound}"
    return {"actors": actors, "duplicates": extra}


def _timeout(size: Sizes) -> float:
    # Generous: 2 cores shared by the workers, the database and the SMTP server; a
    # notice costs far more than a timer (rendering, MIME, SMTP).
    return 45 + size.timers / 100 + size.notices / 10


# -- PostgreSQL ---------------------------------------------------------------------------

PG_SIZES = ((2000, 200), (20000, 5000))  # (timers, notices): default, THEODOI_SOAK=1


@pytest.fixture
def pg_run(tmp_path: Path, smtp: SmtpServer) -> Iterator[tuple[Run, str]]:
    base = require_pg()
    with pg_schema(base, prefix="w") as (schema, _url):
        # application_name lets the test find (and terminate) these workers' sessions.
        url = schema_url(base, schema, application_name=f"{schema}-worker")
        run = Run(url, smtp.port, tmp_path)
        try:
            yield run, schema
        finally:
            run.stop_all()


def test_four_workers_share_the_timers_and_fire_each_once(
    pg_run: tuple[Run, str], smtp: SmtpServer
) -> None:
    run, _schema = pg_run
    size = sizes(*PG_SIZES)
    db = seed(run.url, size)
    try:
        for i in range(4):
            run.start(f"w{i}")
        wait_done(run, db, smtp, size, _timeout(size))
        codes = run.stop_all()
        figures = verify(db, smtp, size, min_actors=2, dup_bound=0)
    finally:
        db.dispose()
    assert set(codes.values()) == {0}, f"SIGTERM must stop cleanly: {codes}\n{run.log_tail()}"
    print(f"\n{size}, 4 workers: {figures}")


def test_a_worker_killed_again_and_again_loses_and_doubles_nothing(
    pg_run: tuple[Run, str], smtp: SmtpServer
) -> None:
    run, _schema = pg_run
    size = sizes(*PG_SIZES)
    kills = int(os.environ.get("THEODOI_WORKERS_KILLS") or (10 if SOAK else 4))
    db = seed(run.url, size)
    victims = [f"w{i}" for i in range(4)]
    for worker_id in victims:
        run.start(worker_id)
    state = {"next": time.monotonic() + 1.5}

    def chaos() -> None:
        if run.kills >= kills or time.monotonic() < state["next"]:
            return
        victim = victims[run.kills % len(victims)]
        run.kill(victim)
        run.start(victim)
        state["next"] = time.monotonic() + 1.5

    try:
        wait_done(run, db, smtp, size, _timeout(size) + 3 * kills, during=chaos)
        run.stop_all()
        figures = verify(db, smtp, size, min_actors=2, dup_bound=run.kills * UNMARKED)
    finally:
        db.dispose()
    assert run.kills >= 1, "no worker was killed: the run finished too early to prove anything"
    print(f"\n{size}, {run.kills} SIGKILLs: {figures}")


def test_workers_recover_when_the_server_drops_their_connections(
    pg_run: tuple[Run, str], smtp: SmtpServer
) -> None:
    run, schema = pg_run
    size = sizes(*PG_SIZES)
    db = seed(run.url, size)
    admin = create_engine(require_pg(), isolation_level="AUTOCOMMIT")
    state = {"next": time.monotonic() + 1.0, "rounds": 0, "busy": 0}

    def noticed() -> bool:
        return any(
            "database unavailable" in p.read_text(errors="replace")
            for paths in run.logs.values()
            for p in paths
        )

    def terminate() -> None:
        """Every session of the workers, idle or mid-transaction, every 0.7 s: at least
        three rounds, and on until a worker lost a connection in the middle of work."""
        if time.monotonic() < state["next"]:
            return
        if state["rounds"] >= 3 and state["busy"] >= 1 and noticed():
            return
        with admin.connect() as conn:
            busy, killed = conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE state <> 'idle'), "
                    "count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = :name"
                ),
                {"name": f"{schema}-worker"},
            ).one()
        run.terminations += killed
        state["busy"] += busy
        state["rounds"] += 1
        state["next"] = time.monotonic() + 0.7

    try:
        for i in range(4):
            run.start(f"w{i}")
        wait_done(run, db, smtp, size, _timeout(size) + 10, during=terminate)
        codes = run.stop_all()
        # A connection dropped between the server's 250 and the "sent" write: resent.
        figures = verify(db, smtp, size, min_actors=2, dup_bound=run.terminations * UNMARKED)
    finally:
        db.dispose()
        admin.dispose()
    assert state["busy"] >= 1, "no session was caught mid-work: nothing was proved"
    assert set(codes.values()) == {0}, f"workers did not survive: {codes}\n{run.log_tail()}"
    assert noticed(), "no worker lost a connection mid-work: nothing was proved"
    print(f"\n{size}, {run.terminations} sessions terminated ({state['busy']} mid-work): {figures}")


# -- SQLite -------------------------------------------------------------------------------


def test_two_workers_on_sqlite_with_kills_keep_the_same_guarantees(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    size = sizes((1000, 100), (20000, 2000))
    run = Run(f"sqlite:///{tmp_path / 'workers.db'}", smtp.port, tmp_path)
    db = seed(run.url, size)
    state = {"next": time.monotonic() + 2.0}

    def chaos() -> None:
        if run.kills >= 3 or time.monotonic() < state["next"]:
            return
        victim = f"w{run.kills % 2}"
        run.kill(victim)
        run.start(victim)
        state["next"] = time.monotonic() + 2.0

    try:
        for i in range(2):
            run.start(f"w{i}")
        wait_done(run, db, smtp, size, _timeout(size), during=chaos)
        codes = run.stop_all()
        # SQLite has one writer at a time: the second worker waits its turn, so the
        # work need not be shared (kills move it from one worker to the other anyway).
        figures = verify(db, smtp, size, min_actors=1, dup_bound=run.kills * UNMARKED)
    finally:
        run.stop_all()
        db.dispose()
    assert set(codes.values()) == {0}, f"SIGTERM must stop cleanly: {codes}\n{run.log_tail()}"
    print(f"\n{size} on SQLite, 2 workers, {run.kills} SIGKILLs: {figures}")


def test_seed_writes_what_the_scenarios_count(tmp_path: Path) -> None:
    """The checks above are only as good as the seed."""
    db = seed(f"sqlite:///{tmp_path / 'seed.db'}", Sizes(timers=7, notices=3))
    try:
        with db.session(write=False) as s:
            assert storage.timers.due_timer_count(s, BASE) == 7
            assert storage.timers.due_timer_count(s, LATER) == 10
    finally:
        db.dispose()
