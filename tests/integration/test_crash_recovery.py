"""Killing `theodoi run` (SIGKILL) in the middle of a sweep loses and doubles nothing."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import date, datetime
from pathlib import Path

import pytest

import storage.decisions
from cli.wiring import open_app
from kernel.clock import ManualClock
from storage.models import Unit
from tests.conftest import make_config

REPO = Path(__file__).resolve().parents[2]
CASES = 1500


def _seed(db: Path) -> None:
    """Trips decided in 2021: by now (the real clock) every one of their timers is due."""
    app = open_app(make_config(f"sqlite:///{db}"), ManualClock(datetime(2021, 8, 1, 1)),
                   upgrade=True, worker_id="seed")
    try:
        with app.db.session() as session:
            unit = Unit(code="SYT", name="Sở Y tế", email="syt@example.vn")
            session.add(unit)
            session.flush()
            decision = storage.decisions.get_or_create_decision(session, "36/QĐ-SNgV", date(2021, 8, 1),
                                                      "department")
            for n in range(CASES):
                app.engine.create_case(session, "trip", {
                    "decision_id": decision.id, "unit_id": unit.id, "name": f"Người {n}",
                    "name_key": f"nguoi {n}", "category": "unit", "country_codes": "KH",
                    "purpose": "official", "planned_start": date(2021, 8, 30),
                    "planned_end": date(2021, 9, 6),
                }, actor="seed", notify=False)
    finally:
        app.close()


def _count(db: Path, sql: str) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(sql).fetchone()[0]


def _start(db: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "THEODOI_STORAGE__URL": f"sqlite:///{db}",
        "THEODOI_STORAGE__SWEEP_BATCH": "25",
        "THEODOI_SCHEDULER__SWEEP_INTERVAL_S": "0.2",
        "THEODOI_SMTP__PORT": "9",  # nothing listens: notices stay in the outbox
    }
    env.pop("THEODOI_NOW", None)
    return subprocess.Popen(
        [sys.executable, "-m", "cli", "run", "--no-web"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


@pytest.mark.slow
def test_sigkill_mid_sweep_then_restart_fires_each_timer_once(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    _seed(db)
    assert _count(db, "select count(*) from timer where status='pending'") == CASES
    proc = _start(db)
    deadline = time.monotonic() + 60
    while _count(db, "select count(*) from event where event='depart'") < CASES // 5:
        assert time.monotonic() < deadline, "the service did not start sweeping"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    done_at_kill = _count(db, "select count(*) from event where event='depart'")
    assert 0 < done_at_kill < CASES, "the kill did not land mid-sweep; make the seed larger"

    proc = _start(db)
    deadline = time.monotonic() + 120
    try:
        while _count(db, "select count(*) from timer where status='pending' and fire_at < '2022-01-01'"):
            assert time.monotonic() < deadline, "the restarted service did not finish"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0  # SIGTERM stops it cleanly

    # Each timer fired exactly once: one of each step per case, none twice.
    for event, per_case in (("depart", 1), ("return", 1), ("deadline_passed", 1), ("escalate", 2)):
        rows = _count(db, f"select count(*) from event where event='{event}'")
        distinct = _count(db, f"select count(distinct case_id) from event where event='{event}'")
        assert (rows, distinct) == (CASES * per_case, CASES), event
    assert _count(db, "select count(*) from \"case\" where state='escalated' "
                      "and escalation_level=2") == CASES
    assert _count(db, "select count(*) from timer where status='fired'") == CASES
