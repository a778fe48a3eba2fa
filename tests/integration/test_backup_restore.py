"""`theodoi backup` while a real worker sweeps and sends, `theodoi restore` elsewhere."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import tarfile
from datetime import datetime
from pathlib import Path

from click.testing import Result
from typer.testing import CliRunner

import storage.pages
from cli.commands import full_app
from storage.db import Database, head_revision
from tests.integration.test_workers_scale import REPO, THEODOI, Sizes, seed
from tests.pg import pg_schema, require_pg
from tests.smtp_server import SmtpServer, smtp_server  # noqa: F401


def theodoi(db: Path, *args: str) -> Result:
    """The command line in this process (the worker is the real process here)."""
    env = {"THEODOI_STORAGE__URL": f"sqlite:///{db}", "THEODOI_NOW": None, "THEODOI_CONFIG": None}
    return CliRunner().invoke(full_app(), list(args), env=env)


def rows(path: Path) -> dict[str, list[tuple]]:
    """Every table, every row, in primary-key order (the schema's bookkeeping included)."""
    conn = sqlite3.connect(path)
    try:
        names = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        return {n: conn.execute(f'SELECT * FROM "{n}" ORDER BY 1').fetchall() for n in sorted(names)}
    finally:
        conn.close()


def add_attachments(db_path: Path, count: int) -> dict[int, bytes]:
    db = Database(f"sqlite:///{db_path}")
    files = {}
    with db.session() as s:
        for case_id in range(1, count + 1):
            content = os.urandom(2000 + case_id) + "báo cáo".encode()
            file_id = storage.pages.add_attachment(s, {
                "case_id": case_id, "filename": f"bao-cao-{case_id}.pdf",
                "content_type": "application/pdf", "size": len(content), "content": content,
                "uploaded_by": "syt", "uploaded_at": datetime(2026, 3, 9, 8, 0)})
            files[file_id] = content
    db.dispose()
    return files


def test_backup_while_a_worker_sends_then_restore_into_an_empty_database(
    tmp_path: Path, smtp_server: SmtpServer  # noqa: F811
) -> None:
    source = tmp_path / "live.db"
    seed(f"sqlite:///{source}", Sizes(timers=120, notices=80)).dispose()
    files = add_attachments(source, 5)
    smtp_server.delay = 0.1  # the worker is still sending when the backup runs
    env = {**os.environ, "THEODOI_STORAGE__URL": f"sqlite:///{source}",
           "THEODOI_NOW": "2026-03-10T09:00", **smtp_server.config_env()}
    worker = subprocess.Popen([THEODOI, "worker", "--id", "w1"], env=env, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        smtp_server.wait_for(5)
        during = tmp_path / "during.tar.gz"
        made = theodoi(source, "backup", str(during))
        assert made.exit_code == 0, made.output
        assert worker.poll() is None
        smtp_server.wait_for(80)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=30)

    # the backup taken mid-sweep is one committed state: restorable, intact, a prefix
    copy = tmp_path / "copy.db"
    restored = theodoi(copy, "restore", str(during))
    assert restored.exit_code == 0, restored.output
    assert sqlite3.connect(copy).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert sqlite3.connect(copy).execute("PRAGMA foreign_key_check").fetchall() == []
    mid, final = rows(copy), rows(source)
    assert set(mid["event"]) <= set(final["event"])  # history is append-only
    assert len(mid["outbox"]) > 0 and mid["attachment"] == final["attachment"]
    sent = "SELECT count(*) FROM outbox WHERE status = 'sent'"
    sent_mid = sqlite3.connect(copy).execute(sent).fetchone()[0]
    assert sent_mid < sqlite3.connect(source).execute(sent).fetchone()[0]  # taken mid-work

    # after the sweep: restore into an empty database, every table equal row by row
    after = tmp_path / "after.tar.gz"
    assert theodoi(source, "backup", str(after)).exit_code == 0
    target = tmp_path / "restored.db"
    assert theodoi(target, "init").exit_code == 0  # an empty schema may be overwritten
    assert theodoi(target, "restore", str(after)).exit_code == 0
    got = rows(target)
    assert got == rows(source)
    assert len(got["case"]) == 120 and len(got["event"]) > 120 and len(got["outbox"]) >= 80
    stored = {r[0]: r for r in got["attachment"]}
    content_at = [c[1] for c in sqlite3.connect(target).execute(
        "SELECT id, content FROM attachment ORDER BY id")]
    assert dict(zip(sorted(stored), content_at, strict=True)) == files  # byte-equal

    # a database that holds data is not overwritten unless told
    refused = theodoi(target, "restore", str(after))
    assert refused.exit_code == 2 and "--force" in refused.output
    assert theodoi(target, "restore", "--force", str(during)).exit_code == 0
    assert rows(target) == mid


def test_a_damaged_backup_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "s.db"
    assert theodoi(source, "init").exit_code == 0
    archive = tmp_path / "b.tar.gz"
    assert theodoi(source, "backup", str(archive)).exit_code == 0
    with tarfile.open(archive) as tar:
        manifest = tar.extractfile("manifest.json").read()
        database = bytearray(tar.extractfile("database.sqlite3").read())
    database[-1] ^= 0xFF
    damaged = tmp_path / "damaged.tar.gz"
    with tarfile.open(damaged, "w:gz") as tar:
        for name, body in (("manifest.json", manifest), ("database.sqlite3", bytes(database))):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    proc = theodoi(tmp_path / "t.db", "restore", str(damaged))
    assert proc.exit_code == 2 and "checksum" in proc.output


def test_restoring_an_older_backup_migrates_it(tmp_path: Path) -> None:
    old = tmp_path / "old.db"
    db = Database(f"sqlite:///{old}")
    db.upgrade("0004_notice_truth")
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO app_user (email, role, language, active, created_at)"
            " VALUES ('admin@snv.vn', 'admin', 'vi', 1, '2026-01-01')")
    db.dispose()
    archive = tmp_path / "old.tar.gz"
    made = theodoi(old, "backup", str(archive))
    assert made.exit_code == 0 and "0004_notice_truth" in made.stdout
    target = tmp_path / "new.db"
    proc = theodoi(target, "restore", str(archive))
    assert proc.exit_code == 0, proc.output
    assert "migrated from 0004_notice_truth" in proc.stdout
    assert Database(f"sqlite:///{target}").revision() == head_revision()
    user = sqlite3.connect(target).execute(
        "SELECT email, session_epoch FROM app_user").fetchall()
    assert user == [("admin@snv.vn", 0)]  # the column 0005 added, on the old row


def test_postgres_backup_without_pg_dump_says_so(tmp_path: Path) -> None:
    with pg_schema(require_pg(), "bk") as (_schema, url):
        Database(url).upgrade()
        env = {**os.environ, "THEODOI_STORAGE__URL": url, "PATH": str(tmp_path)}
        proc = subprocess.run([THEODOI, "backup", str(tmp_path / "pg.tar.gz")], env=env,
                              capture_output=True, text=True, cwd=REPO, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "pg_dump" in proc.stderr and "postgresql-client" in proc.stderr
