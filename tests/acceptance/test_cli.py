"""The CLI as a user runs it: real subprocesses on a real SQLite file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

THEODOI = [sys.executable, "-m", "cli"]


def run(db: Path, *args: str, ok: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "THEODOI_STORAGE__URL": f"sqlite:///{db}", **(env or {})}
    full_env.pop("THEODOI_NOW", None)
    proc = subprocess.run(
        [*THEODOI, *args], capture_output=True, text=True, env=full_env, timeout=120,
        cwd=Path(__file__).resolve().parents[2],
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


TRIP = [
    "trip", "add", "--decision", "36/QĐ-SNgV", "--decision-date", "2021-08-20",
    "--issuer", "department", "--name", "Nguyễn Văn A", "--position", "Chuyên viên",
    "--unit", "SYT", "--category", "unit", "--destination", "KH,KR",
    "--depart", "2021-08-30", "--return", "2021-09-06",
]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cli.db"
    run(path, "init")
    run(path, "unit", "add", "SYT", "--name", "Sở Y tế", "--email", "syt@example.vn",
        "--head-email", "gd.syt@example.vn")
    return path


def test_simulate_a_trip_life_then_show(db: Path) -> None:
    created = run(db, "--now", "2021-08-20 09:00", *TRIP)
    case_id = created.stdout.strip()
    assert case_id == "1"
    sim = run(db, "simulate", "--until", "2021-10-20", "--no-send")
    assert "overdue" in sim.stdout and "(level 2)" in sim.stdout
    shown = json.loads(run(db, "show", case_id, "--format", "json").stdout)
    path = [(e["event"], e["to"], e["at"]) for e in shown["history"] if e["to"]]
    assert path == [
        ("create", "approved", "2021-08-19T17:00:00"),  # the decision day, as an import
        ("depart", "travelling", "2021-08-29T17:00:00"),
        ("return", "returned", "2021-09-05T17:00:00"),
        ("open_report", "report_due", "2021-09-05T17:00:00"),
        ("reminder", "report_due", "2021-09-14T00:30:00"),
        ("reminder", "report_due", "2021-09-20T00:30:00"),
        ("deadline_passed", "overdue", "2021-09-21T17:00:00"),
        ("escalate", "escalated", "2021-09-28T17:00:00"),
        ("escalate", "escalated", "2021-10-12T17:00:00"),
    ]
    assert shown["deadline"] == "2021-09-21" and shown["escalation_level"] == 2
    filed = run(db, "--now", "2021-10-20 09:00", "event", case_id, "file", "--by", "chuyenvien")
    assert "report_filed" in filed.stdout
    shown = json.loads(run(db, "show", case_id, "--format", "json").stdout)
    assert shown["state"] == "report_filed" and shown["filed_late"] is True
    cases = json.loads(run(db, "cases", "--format", "json").stdout)
    assert {k: cases[0][k] for k in ("id", "workflow", "state", "unit", "name", "deadline",
                                     "escalation_level")} == {
        "id": 1, "workflow": "trip", "state": "report_filed", "unit": "SYT",
        "name": "Nguyễn Văn A", "deadline": "2021-09-21", "escalation_level": 2,
    }


def _dump(db: Path) -> list:
    with sqlite3.connect(db) as conn:
        tables = [r[0] for r in conn.execute("select name from sqlite_master where type='table'")]
        return [(t, conn.execute(f'select * from "{t}"').fetchall()) for t in sorted(tables)]


BAD_INPUT = [
    ([*TRIP[:-1], "2021-08-01"], "return"),  # return before departure
    ([*TRIP[:13], "NOPE", *TRIP[14:]], "unit"),
    ([*TRIP[:-1], "06/09/2021x"], "return"),
    ([*TRIP[:17], "ZZ", *TRIP[18:]], "destination"),
    (["event", "1", "fly"], "fly"),
    (["event", "99", "depart"], "99"),
    (["--now", "2021-08-21", "event", "1", "cancel"], "reason"),
    (["tick", "--now", "yesterday"], "now"),
]


def test_bad_input_is_one_clear_line_exit_2_and_no_write(db: Path) -> None:
    run(db, "--now", "2021-08-20 09:00", *TRIP)
    before = _dump(db)
    for args, field in BAD_INPUT:
        proc = run(db, *args, ok=False)
        assert proc.returncode == 2, (args, proc.stderr)
        lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        assert len(lines) == 1 and lines[0].startswith("error:") and field in lines[0], lines
        assert _dump(db) == before


def test_tick_fires_once(db: Path) -> None:
    run(db, "--now", "2021-08-20 09:00", *TRIP)
    first = run(db, "tick", "--now", "2021-09-07 08:00")
    again = run(db, "tick", "--now", "2021-09-07 08:00")
    assert "fired 2 timers" in first.stdout
    assert "fired 0 timers" in again.stdout
