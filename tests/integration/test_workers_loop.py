"""One worker up close: its metrics and probes, SIGTERM mid-batch, ``--once``, a database
that is not there yet. Real SQLite files, real PostgreSQL, real SMTP, real processes."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError, OperationalError
from tenacity import RetryCallState

from cli.metrics import Metrics, MetricsServer
from cli.runner import Runner
from cli.wiring import open_app
from engine.app import App
from kernel.clock import ManualClock
from kernel.errors import StorageError, StorageUnavailable
from notifications.digest import DigestStates, run_digest
from storage.db import Database, backoff
from storage.models import Unit
from tests.conftest import make_config
from tests.integration.test_workers_scale import BASE, REPO, THEODOI, Sizes, seed
from tests.pg import pg_schema, require_pg, schema_url
from tests.smtp_server import SmtpServer


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _metric(body: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} (\S+)$", body, re.MULTILINE)
    assert match, f"{name} missing from /metrics"
    return float(match.group(1))


def _env(url: str, smtp: SmtpServer | None = None, **extra: str) -> dict[str, str]:
    env = {**os.environ, "THEODOI_STORAGE__URL": url, "THEODOI_NOW": "2026-03-10T09:00"}
    env.pop("THEODOI_CONFIG", None)
    if smtp is not None:
        env.update(smtp.config_env())
    env.update(extra)
    return env


# -- backoff ------------------------------------------------------------------------------


def test_backoff_grows_to_its_ceiling_and_starts_over_after_success() -> None:
    retrying = backoff(initial=0.5, maximum=4)
    state = RetryCallState(retrying, None, (), {})
    delays = []
    for attempt in range(1, 9):
        state.attempt_number = attempt
        delays.append(retrying.wait(state))
    ceilings = [0.5, 1, 2, 4, 4, 4, 4, 4]
    assert all(c / 2 <= d <= c for d, c in zip(delays, ceilings, strict=True)), delays

    slept: list[float] = []
    retrying = retrying.copy(sleep=slept.append)
    outcomes = iter([StorageUnavailable("down"), StorageUnavailable("down"), "ok"])

    def flaky() -> str:
        outcome = next(outcomes)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert retrying(flaky) == "ok"
    assert len(slept) == 2 and 0.25 <= slept[0] <= 0.5 and 0.5 <= slept[1] <= 1
    outcomes = iter([StorageUnavailable("down"), "ok"])
    assert retrying(flaky) == "ok"  # a new call starts over
    assert 0.25 <= slept[2] <= 0.5


def test_backoff_lets_other_errors_through_and_stops_when_told() -> None:
    calls = []

    def broken() -> None:
        calls.append(1)
        raise StorageError("schema mismatch")

    with pytest.raises(StorageError):
        backoff(maximum=1)(broken)  # retries only StorageUnavailable by default
    assert len(calls) == 1
    stopping = threading.Event()
    stopping.set()

    def down() -> None:
        raise StorageUnavailable("down")

    with pytest.raises(StorageUnavailable):
        backoff(maximum=1, stopping=stopping)(down)


# -- metrics and probes ----------------------------------------------------------------------


def test_metrics_show_the_queue_and_what_this_worker_did(
    tmp_path: Path, smtp: SmtpServer
) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    seed(url, Sizes(timers=10, notices=4)).dispose()
    config = make_config(url, **smtp.config_env())
    app = open_app(config, ManualClock(BASE), worker_id="m1")
    metrics = Metrics(app.db, app.clock, ready_max_lag_s=3 * 3600)
    server = MetricsServer(metrics, "127.0.0.1", 0).start()
    base = "http://{}:{}".format(*server.address)
    try:
        status, body = _get(base + "/metrics")
        assert status == 200
        assert _metric(body, "theodoi_database_up") == 1
        assert _metric(body, "theodoi_timers_due") == 10
        assert _metric(body, "theodoi_sweep_lag_seconds") == 2 * 3600  # due at BASE - 2 h
        assert _metric(body, "theodoi_timers_fired_total") == 0

        worker = Runner(app, metrics=metrics)
        while worker.sweep_batch():
            pass
        _status, body = _get(base + "/metrics")
        assert _metric(body, "theodoi_timers_due") == 0
        assert _metric(body, "theodoi_sweep_lag_seconds") == 0
        assert _metric(body, "theodoi_timers_fired_total") == 10
        assert _metric(body, 'theodoi_outbox_messages{status="pending"}') == 4

        while worker.send_batch_once():
            pass
        _status, body = _get(base + "/metrics")
        assert _metric(body, "theodoi_notices_sent_total") == 4
        assert _metric(body, 'theodoi_outbox_messages{status="sent"}') == 4
        assert _metric(body, 'theodoi_outbox_messages{status="pending"}') == 0
        assert _metric(body, "theodoi_smtp_latency_seconds_count") == 4
        assert len(smtp.received()) == 4

        status, body = _get(base + "/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, body = _get(base + "/readyz")
        assert status == 200 and json.loads(body)["status"] == "ok"
        assert _get(base + "/nothing")[0] == 404
    finally:
        server.stop()
        app.close()


def test_readyz_fails_when_the_sweep_lags_or_the_database_is_gone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    db = seed(url, Sizes(timers=3, notices=0))
    lagging = Metrics(db, ManualClock(BASE), ready_max_lag_s=60)  # due for 2 h already
    ready, body = lagging.readiness()
    assert (ready, body["status"]) == (False, "lagging")
    db.dispose()

    gone = Database("postgresql+psycopg://postgres@127.0.0.1:1/none")  # nothing listens
    metrics = Metrics(gone, ManualClock(BASE))
    server = MetricsServer(metrics, "127.0.0.1", 0).start()
    base = "http://{}:{}".format(*server.address)
    try:
        status, body = _get(base + "/readyz")
        assert status == 503 and json.loads(body)["status"] == "unavailable"
        status, body = _get(base + "/metrics")
        assert status == 200 and _metric(body, "theodoi_database_up") == 0
        assert _get(base + "/healthz")[0] == 200  # alive, only not ready
    finally:
        server.stop()
        gone.dispose()


# -- the process ------------------------------------------------------------------------------


def test_sigterm_finishes_the_batch_in_hand(tmp_path: Path) -> None:
    """One big batch; SIGTERM while it holds the write lock: it commits, then exits 0."""
    db_file = tmp_path / "t.db"
    n = 2500
    seed(f"sqlite:///{db_file}", Sizes(timers=n, notices=0)).dispose()
    log = tmp_path / "worker.log"
    env = _env(f"sqlite:///{db_file}", THEODOI_STORAGE__SWEEP_BATCH=str(n))
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [THEODOI, "worker", "--id", "t1", "--no-send"], cwd=REPO, env=env,
            stdout=out, stderr=subprocess.STDOUT,
        )
    probe = sqlite3.connect(db_file, timeout=0, isolation_level=None)
    try:
        limit = time.monotonic() + 60
        while "started" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < limit, log.read_text()
            time.sleep(0.05)
        while True:  # the worker is mid-batch when it holds SQLite's write lock
            try:
                probe.execute("BEGIN IMMEDIATE")
                probe.execute("ROLLBACK")
            except sqlite3.OperationalError:
                break
            assert time.monotonic() < limit, "the worker never started its batch"
            time.sleep(0.005)
        proc.send_signal(signal.SIGTERM)
        fired_at_signal = _fired(db_file)
        assert proc.wait(60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
        probe.close()
    assert fired_at_signal == 0, "the batch was over before the signal: make it bigger"
    assert _fired(db_file) == n, "the batch in hand was not finished"
    text_ = log.read_text()
    assert "SIGTERM received: finishing the batch in hand" in text_
    assert text_.count(" step ") == n


def _fired(db_file: Path) -> int:
    with sqlite3.connect(db_file, timeout=30) as conn:
        return conn.execute("SELECT count(*) FROM timer WHERE status = 'fired'").fetchone()[0]


def test_once_fires_and_sends_what_is_due_then_exits(tmp_path: Path, smtp: SmtpServer) -> None:
    url = f"sqlite:///{tmp_path / 'o.db'}"
    seed(url, Sizes(timers=20, notices=5)).dispose()
    result = subprocess.run(
        [THEODOI, "worker", "--once", "--id", "cron"], cwd=REPO, env=_env(url, smtp),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "fired 20 timers on 20 cases, parked 0; sent 5 notices, failed 0" in result.stdout
    assert len(smtp.received()) == 5
    assert "worker=cron" in result.stderr  # every log line names the worker


def test_a_database_without_tables_is_refused_with_a_hint(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    result = subprocess.run(
        [THEODOI, "worker", "--once"], cwd=REPO, env=_env(url),
        capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 2
    assert "run `theodoi init` first" in result.stderr


class _Proxy:
    """A TCP relay to PostgreSQL that can be down: the database 'is not there yet'."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.listener: socket.socket | None = None

    def up(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def down(self) -> None:
        if self.listener is not None:
            self.listener.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def test_a_worker_waits_for_the_database_then_does_the_work(tmp_path: Path) -> None:
    base = require_pg()
    real = make_url(base)
    with pg_schema(base, prefix="wait") as (schema, direct):
        seed(direct, Sizes(timers=30, notices=0)).dispose()
        proxy = _Proxy((real.host or "127.0.0.1", real.port or 5432))
        via_proxy = schema_url(
            real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False),
            schema,
            application_name=f"{schema}-worker",
        )
        log = tmp_path / "worker.log"
        env = _env(via_proxy, THEODOI_WORKER__BACKOFF_MAX_S="1")
        with log.open("wb") as out:
            proc = subprocess.Popen(
                [THEODOI, "worker", "--id", "late", "--no-send"], cwd=REPO, env=env,
                stdout=out, stderr=subprocess.STDOUT,
            )
        try:
            limit = time.monotonic() + 60
            while log.read_text().count("database unavailable") < 2:
                assert proc.poll() is None and time.monotonic() < limit, log.read_text()
                time.sleep(0.1)
            proxy.up()
            check = Database(direct)
            try:
                while True:
                    with check.session(write=False) as s:
                        fired = s.execute(
                            text("SELECT count(*) FROM timer WHERE status = 'fired'")
                        ).scalar_one()
                    if fired == 30:
                        break
                    assert time.monotonic() < limit, log.read_text()
                    time.sleep(0.2)
            finally:
                check.dispose()
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(30) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()
            proxy.down()


# -- once per period, whatever the clock does --------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'p.db'}"
        return
    with pg_schema(require_pg()) as (_schema, url):
        yield url


def test_the_weekly_digest_is_written_once_however_many_workers_run(any_url: str) -> None:
    seed(any_url, Sizes(timers=3, notices=3)).dispose()
    config = make_config(any_url)
    apps = [open_app(config, ManualClock(BASE), worker_id=f"w{i}") for i in range(4)]
    barrier = threading.Barrier(len(apps))
    wins: list[bool] = []

    def job(app: App) -> None:
        barrier.wait(10)
        wins.append(
            run_digest(
                app.db,
                config,
                BASE,
                worker_id=app.worker_id,
                calendar=app.engine.calendar,
                states=DigestStates.of(app.registry["trip"].workflow),
            )
        )

    try:
        threads = [threading.Thread(target=job, args=(app,)) for app in apps]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        with apps[0].db.session(write=False) as s:
            rows = s.execute(text("SELECT count(*) FROM outbox WHERE kind = 'digest'")).scalar()
            runs = s.execute(text("SELECT count(*) FROM periodic_run")).scalar()
    finally:
        for app in apps:
            app.close()
    assert sorted(wins) == [False, False, False, True]
    assert (rows, runs) == (1, 1)


def test_clock_jumps_neither_refire_nor_skip_timers(tmp_path: Path) -> None:
    """The host clock goes back a day, then forward a month: each timer fires once,
    when its instant has come on the clock the worker reads."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    seed(url, Sizes(timers=6, notices=2)).dispose()
    clock = ManualClock(BASE)
    app = open_app(make_config(url), clock, worker_id="jumpy")
    worker = Runner(app, send=False)
    try:
        while worker.sweep_batch():
            pass
        assert worker.totals.fired == 6
        clock.set(BASE - timedelta(days=1))  # back: what fired stays fired
        while worker.sweep_batch():
            pass
        assert worker.totals.fired == 6
        clock.set(BASE + timedelta(days=40))  # forward: the later timers, once each
        while worker.sweep_batch():
            pass
        clock.set(BASE + timedelta(days=40, hours=1))
        assert worker.sweep_batch() is False
        with app.db.session(write=False) as s:
            per_timer = s.execute(text(
                "SELECT count(*) FROM event WHERE event IN "
                "('reminder', 'depart', 'return', 'deadline_passed') "
                "GROUP BY case_id, event, json_extract(data, '$.level') HAVING count(*) <> 1"
            )).all()
            pending_due = s.execute(text(
                "SELECT count(*) FROM timer WHERE status = 'pending' AND fire_at <= :t"
            ), {"t": BASE + timedelta(days=40)}).scalar()
    finally:
        app.close()
    assert per_timer == []
    assert pending_due == 0
    assert worker.totals.fired > 6  # the jump forward did fire the later timers


def test_sqlite_database_is_locked_is_retried_not_lost(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another process holds SQLite's write lock longer than the busy timeout: the
    batch fails with 'database is locked', the worker backs off and fires every timer."""
    db_file = tmp_path / "l.db"
    seed(f"sqlite:///{db_file}", Sizes(timers=40, notices=0)).dispose()
    app = open_app(make_config(f"sqlite:///{db_file}"), ManualClock(BASE), worker_id="locked")

    @event.listens_for(app.db.engine, "connect")
    def _short_busy_timeout(dbapi_conn, _record) -> None:  # after theodoi's own PRAGMAs
        dbapi_conn.execute("PRAGMA busy_timeout=50")

    app.db.engine.dispose()  # new connections get the short timeout
    holder = sqlite3.connect(db_file, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(1.5, lambda: holder.execute("ROLLBACK"))
    metrics = Metrics(app.db, app.clock)
    worker = Runner(app, metrics=metrics, send=False)
    try:
        release.start()
        with caplog.at_level("WARNING", logger="theodoi.worker"):
            totals = worker.run_once()
    finally:
        release.join()
        holder.close()
        app.close()
    assert totals.fired == 40
    assert "database is locked" in caplog.text
    assert metrics.database_errors._value.get() >= 1


# -- driver errors at the storage boundary ----------------------------------------------


def test_driver_errors_leave_storage_wrapped_with_what_and_where(tmp_path: Path) -> None:
    gone = Database("postgresql+psycopg://theodoi:secret@127.0.0.1:1/none")  # refused
    try:
        with (
            pytest.raises(StorageUnavailable) as refused,
            gone.session(write=False, doing="reading the queue state"),
        ):
            pass
    finally:
        gone.dispose()
    message = str(refused.value)
    assert "reading the queue state on postgresql+psycopg://theodoi:***@127.0.0.1:1/none" in message
    assert "secret" not in message
    assert isinstance(refused.value.__cause__, OperationalError)

    db = Database(f"sqlite:///{tmp_path / 'e.db'}")
    db.upgrade()
    try:
        with db.session() as s:
            s.add(Unit(code="SYT", name="Sở Y tế"))
        # Inside the block, under a savepoint, the driver's own error is caught as ever.
        with db.session() as s, pytest.raises(IntegrityError), s.begin_nested():
            s.add(Unit(code="SYT", name="again"))
            s.flush()
        # Escaping the block, it is wrapped (and not transient).
        with pytest.raises(StorageError) as duplicate, db.session() as s:
            s.add(Unit(code="SYT", name="again"))
        assert not isinstance(duplicate.value, StorageUnavailable)
        assert "write transaction on sqlite:///" in str(duplicate.value)
        assert "IntegrityError" in str(duplicate.value)
    finally:
        db.dispose()
