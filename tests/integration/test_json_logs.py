"""``--log-format json``: a real worker's log, one JSON object per line."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from tests.integration.test_workers_scale import REPO, THEODOI, Sizes, seed
from tests.smtp_server import SmtpServer, smtp_server  # noqa: F401


def worker(db: Path, smtp: SmtpServer, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "THEODOI_STORAGE__URL": f"sqlite:///{db}",
           "THEODOI_NOW": "2026-03-10T09:00", **smtp.config_env()}
    env.pop("THEODOI_CONFIG", None)
    return subprocess.run([THEODOI, "worker", "--once", "--id", "w-json", *args], env=env,
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_worker_logs_one_json_object_per_line(tmp_path: Path, smtp_server: SmtpServer) -> None:  # noqa: F811
    db = tmp_path / "t.db"
    seed(f"sqlite:///{db}", Sizes(timers=4, notices=2)).dispose()
    proc = worker(db, smtp_server, "--log-format", "json")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in proc.stderr.splitlines()]  # every line parses
    assert records and all(r["worker"] == "w-json" and r["organisation"] == "SNgV" for r in records)
    assert {"time", "level", "logger", "message"} <= set(records[0])
    steps = [r for r in records if r["message"].startswith("step ")]
    assert steps and all(isinstance(r["case_id"], int) for r in steps)
    assert {r["case_id"] for r in steps} == {1, 2, 3, 4}


def test_text_stays_the_default_and_a_bad_format_is_refused(
    tmp_path: Path, smtp_server: SmtpServer  # noqa: F811
) -> None:
    db = tmp_path / "t.db"
    seed(f"sqlite:///{db}", Sizes(timers=1, notices=1)).dispose()
    text = worker(db, smtp_server)
    assert text.returncode == 0 and "worker=w-json" in text.stderr
    assert not text.stderr.lstrip().startswith("{")
    bad = worker(db, smtp_server, "--log-format", "xml")
    assert bad.returncode == 2 and "log-format" in bad.stderr
