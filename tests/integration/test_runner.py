"""The one runner as a real process: ``theodoi run`` and ``theodoi web`` answer
``/metrics``, ``/healthz`` and ``/readyz`` as a worker's metrics port does."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from pathlib import Path

from cli.runner import Runner
from storage.models import OutboxMessage
from tests.integration.test_workers_loop import _env, _get, _metric
from tests.integration.test_workers_scale import REPO, THEODOI, Sizes, seed
from web.testing import free_port


def _start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with log.open("wb") as out:
        return subprocess.Popen(
            [THEODOI, *args], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _wait_up(proc: subprocess.Popen, base: str, log: Path) -> None:
    limit = time.monotonic() + 90
    while True:
        assert proc.poll() is None and time.monotonic() < limit, log.read_text()
        try:
            if _get(base + "/healthz")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)


def _stop(proc: subprocess.Popen, log: Path) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(60) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()


def test_run_serves_the_web_ui_with_metrics_and_probes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'run.db'}"
    seed(url, Sizes(timers=10, notices=0)).dispose()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "run.log"
    env = _env(url, THEODOI_SCHEDULER__SWEEP_INTERVAL_S="0.2")
    proc = _start(["run", "--host", "127.0.0.1", "--port", str(port), "--no-send"], env, log)
    try:
        _wait_up(proc, base, log)
        limit = time.monotonic() + 60
        while True:  # the runner's sweep loop fires the due timers; /metrics counts them
            status, body = _get(base + "/metrics")
            assert status == 200 and "theodoi_" in body
            if _metric(body, "theodoi_timers_fired_total") == 10:
                break
            assert time.monotonic() < limit, log.read_text()
            time.sleep(0.2)
        assert _metric(body, "theodoi_database_up") == 1
        assert _metric(body, "theodoi_timers_due") == 0
        assert 'theodoi_outbox_messages{status="pending"}' in body
        status, body = _get(base + "/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        status, body = _get(base + "/readyz")
        assert status == 200 and json.loads(body) == {"status": "ok", "sweep_lag_s": 0.0}
        assert _get(base + "/login")[0] == 200  # the web UI, in the same process
    finally:
        _stop(proc, log)
    text = log.read_text()
    assert "SIGTERM received: finishing the batch in hand" in text
    assert text.count(" step ") == 10


def test_web_answers_readyz_as_a_worker_does(tmp_path: Path) -> None:
    """``theodoi web`` sweeps nothing: its /readyz says the fleet lags until a worker
    has fired what was due; its /metrics shows the queue."""
    url = f"sqlite:///{tmp_path / 'web.db'}"
    seed(url, Sizes(timers=3, notices=0)).dispose()  # due for 2 hours already
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "web.log"
    env = _env(url, THEODOI_WORKER__READY_MAX_LAG_S="60")
    proc = _start(["web", "--host", "127.0.0.1", "--port", str(port)], env, log)
    try:
        _wait_up(proc, base, log)
        status, body = _get(base + "/readyz")
        assert status == 503 and json.loads(body)["status"] == "lagging"
        status, body = _get(base + "/metrics")
        assert status == 200
        assert _metric(body, "theodoi_timers_due") == 3
        assert _metric(body, "theodoi_sweep_lag_seconds") == 2 * 3600
        assert _metric(body, "theodoi_timers_fired_total") == 0

        once = subprocess.run(
            [THEODOI, "worker", "--once", "--no-send"], cwd=REPO, env=env,
            capture_output=True, text=True, timeout=120,
        )
        assert once.returncode == 0, once.stderr
        status, body = _get(base + "/readyz")
        assert status == 200 and json.loads(body)["status"] == "ok"
    finally:
        _stop(proc, log)


def test_a_busy_port_is_refused_in_one_line(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'busy.db'}"
    seed(url, Sizes(timers=1, notices=0)).dispose()
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [THEODOI, "web", "--host", "127.0.0.1", "--port", str(port)], cwd=REPO,
            env=_env(url), capture_output=True, text=True, timeout=120,
        )
    assert result.returncode == 2, result.stderr
    assert f"web: cannot listen on 127.0.0.1:{port}" in result.stderr


def test_the_runners_digest_job_writes_this_weeks_digest_once(app) -> None:
    """The cron job the runner schedules (not only the notifications function) works."""
    runner = Runner(app, sweep=False)
    runner.digest()
    runner.digest()
    with app.db.session(write=False) as session:
        kinds = [row.kind for row in session.query(OutboxMessage).all()]
    assert kinds.count("digest") == 1
