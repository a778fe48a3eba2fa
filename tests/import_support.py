"""Helpers for the import and report tests: the CLI as a subprocess, a row-for-row
dump of a database, and the seed-shaped files in tests/data/."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

from cli import main as cli
from cli.commands import full_app

REPO = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
THEODOI = [sys.executable, "-m", "cli"]
# The inspection's date (23/11/2021, 09:00 in Tây Ninh): every seed trip is long due.
INSPECTION = "2021-11-23T09:00"


def run(db: Path, *args: str, now: str | None = INSPECTION, ok: bool = True,
        cwd: Path | None = None) -> subprocess.CompletedProcess:
    """``theodoi ARGS`` on the SQLite file ``db``, the clock fixed at ``now``."""
    env = {**os.environ, "THEODOI_STORAGE__URL": f"sqlite:///{db}"}
    env.pop("THEODOI_NOW", None)
    if now:
        env["THEODOI_NOW"] = now
    env["COLUMNS"] = "200"
    proc = subprocess.run(
        [*THEODOI, *args], capture_output=True, text=True, env=env, timeout=120,
        cwd=cwd or REPO,
    )
    if ok:
        assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def invoke(db: Path, *args: str, now: str = INSPECTION, code: int = 0) -> Result:
    """The same CLI in this process (Typer's runner): for the many small checks where a
    subprocess per command would cost seconds. Always with a fixed clock."""
    runner = CliRunner()
    try:
        result = runner.invoke(
            full_app(), ["--now", now, *args], env={"THEODOI_STORAGE__URL": f"sqlite:///{db}"}
        )
    finally:
        cli._FIXED_NOW.clear()  # the CLI keeps --now in a module global: do not leak it
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result


def dump(db: Path) -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order: two dumps are equal exactly when
    the databases hold the same data."""
    con = sqlite3.connect(db)
    try:
        tables = [
            r[0]
            for r in con.execute(
                "SELECT name FROM sqlite_master WHERE type='table' "
                "AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        return {t: con.execute(f'SELECT * FROM "{t}" ORDER BY 1').fetchall() for t in tables}
    finally:
        con.close()
