"""`theodoi doctor` as an IT team runs it: real subprocesses, a real SMTP server."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

from cli.wiring import open_app
from tests.acceptance.test_web_permissions import CHEAP_PASSWORDS
from tests.conftest import make_config
from tests.smtp_server import SmtpServer, free_port, smtp_server  # noqa: F401
from web import users
from web.security import configure_passwords
from web.testing import LiveServer, login

THEODOI = [sys.executable, "-m", "cli"]
ROOT = Path(__file__).resolve().parents[2]


def theodoi(db: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full = {**os.environ, "THEODOI_STORAGE__URL": f"sqlite:///{db}", **(env or {})}
    full.pop("THEODOI_NOW", None)
    return subprocess.run([*THEODOI, *args], capture_output=True, text=True, env=full,
                          timeout=120, cwd=ROOT)


def complete_config(tmp_path: Path, port: int) -> Path:
    year = date.today().year
    path = tmp_path / "site.toml"
    path.write_text(
        f'[organisation]\nsigner_name = "Nguyễn Văn Ký"\n'
        f'[calendar]\nconfirmed_years = [{year}, {year + 1}]\n'
        f'[smtp]\nport = {port}\n',
        encoding="utf-8",
    )
    return path


def test_fresh_demo_database_warns_and_names_the_signer(tmp_path: Path, smtp_server: SmtpServer) -> None:  # noqa: F811
    db = tmp_path / "t.db"
    env = {"THEODOI_SMTP__PORT": str(smtp_server.port)}
    assert theodoi(db, "init").returncode == 0
    assert theodoi(db, "demo").returncode == 0
    proc = theodoi(db, "doctor", env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    signer = [line for line in proc.stdout.splitlines() if line.startswith("WARN signer")]
    assert signer and "(chưa cấu hình)" in signer[0]
    assert "ERR" not in proc.stdout
    assert "signer_name" in theodoi(db, "doctor", "--lang", "en", env=env).stdout
    assert smtp_server.messages == []  # nothing was sent


def test_complete_configuration_is_all_well(tmp_path: Path, smtp_server: SmtpServer) -> None:  # noqa: F811
    db = tmp_path / "t.db"
    config = complete_config(tmp_path, smtp_server.port)
    assert theodoi(db, "init").returncode == 0
    env = {"THEODOI_WEB__SECRET_KEY": "k" * 40}
    proc = theodoi(db, "doctor", "--config", str(config), env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "OK   smtp" in proc.stdout and "EHLO" in proc.stdout
    assert smtp_server.messages == []


def test_closed_smtp_port_is_an_error_naming_smtp(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    config = complete_config(tmp_path, free_port())  # nothing listens there
    assert theodoi(db, "init").returncode == 0
    proc = theodoi(db, "doctor", "--config", str(config), env={"THEODOI_WEB__SECRET_KEY": "k" * 40})
    assert proc.returncode == 2, proc.stdout
    errors = [line for line in proc.stdout.splitlines() if line.startswith("ERR")]
    assert len(errors) == 1 and errors[0].startswith("ERR  smtp:")


def test_world_readable_files_and_a_missing_database(tmp_path: Path) -> None:
    db = tmp_path / "t.db"
    config = complete_config(tmp_path, free_port())
    missing = theodoi(db, "doctor", "--config", str(config))
    assert missing.returncode == 2 and "theodoi init" in missing.stdout
    assert not db.exists()  # the doctor does not create it
    assert theodoi(db, "init").returncode == 0
    key = Path(f"{db}.key")
    key.write_text("x" * 40 + "\n")
    key.chmod(0o644)
    db.chmod(0o644)
    out = theodoi(db, "doctor", "--config", str(config)).stdout
    assert f"ERR  database_file: database {db} can be read by others" in out
    assert f"ERR  key_file: key file {key} can be read by others" in out
    assert f"chmod 600 {key}" in out


def test_bad_configuration_is_an_error(tmp_path: Path) -> None:
    proc = theodoi(tmp_path / "t.db", "doctor", env={"THEODOI_SMTP__NOPE": "1"})
    assert proc.returncode == 2 and "ERR  config" in proc.stdout and "nope" in proc.stdout


def test_the_admin_page_shows_the_same_checks(tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'w.db'}", **CHEAP_PASSWORDS,
                         THEODOI_SMTP__PORT=str(free_port()))
    app = open_app(config, upgrade=True, worker_id="web-test")
    configure_passwords(config.web)
    with app.db.session() as s:
        users.add_user(s, "admin@snv.vn", "admin", now=app.clock.now(), password="mat-khau-dai-1")
    try:
        with LiveServer(app) as server, server.client() as http:
            assert login(http, "admin@snv.vn", "mat-khau-dai-1").status_code == 303
            page = http.get("/admin/doctor")
    finally:
        app.close()
    assert page.status_code == 200
    assert 'class="doctor-warning"><td>signer</td>' in page.text
    assert "(chưa cấu hình)" in page.text and "signer_name" in page.text
    assert 'class="doctor-error"><td>smtp</td>' in page.text  # nothing listens there
