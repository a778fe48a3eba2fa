"""The database-specific half of backup and restore (the archive is the edge's).

SQLite: a consistent copy of a live database through SQLite's online backup API (the
stdlib ``sqlite3`` connection's :meth:`~sqlite3.Connection.backup`), which copies
pages while other connections keep writing and restarts when they do, so the copy is
one committed state. PostgreSQL: ``pg_dump --format=custom`` / ``pg_restore`` when the
client programs are installed. Attachments are rows of the ``attachment`` table, so
they travel with the database.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
from pathlib import Path

from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text
from sqlalchemy.engine import make_url

from kernel.errors import StorageError
from kernel.keyfile import create_private
from storage.db import Database

# Tables a fresh `theodoi init` may fill by itself; any other row makes a database "in use".
_BOOKKEEPING = {"alembic_version"}


def sqlite_path(db: Database) -> Path:
    path = db.beside("")
    if path is None:
        raise StorageError(f"{db.safe_url} is not a SQLite database file")
    return path


def copy_sqlite(source: Path, dest: Path) -> None:
    """A consistent copy of the SQLite database ``source`` (live or not) into ``dest``."""
    dest.unlink(missing_ok=True)
    create_private(dest)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=30)
    try:
        out = sqlite3.connect(dest)
        try:
            src.backup(out, pages=256)
            out.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            out.close()
    except sqlite3.Error as exc:
        raise StorageError(f"backing up {source} failed: {exc}") from exc
    finally:
        src.close()


def restore_sqlite(source: Path, db: Database) -> None:
    """Replace the content of ``db`` (a SQLite file, created if missing) with ``source``."""
    target = sqlite_path(db)
    db.dispose()
    target.parent.mkdir(parents=True, exist_ok=True)
    create_private(target)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        out = sqlite3.connect(target, timeout=30)
        try:
            src.backup(out)
        finally:
            out.close()
    except sqlite3.Error as exc:
        raise StorageError(f"restoring into {target} failed: {exc}") from exc
    finally:
        src.close()


def file_facts(path: Path) -> tuple[str | None, dict[str, int]]:
    """The schema revision and the row count of every table of a SQLite file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        names = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
                " ORDER BY name"
            )
        ]
        counts = {
            name: conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0] for name in names
        }
        revision = None
        if "alembic_version" in names:
            row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
            revision = row[0] if row else None
        return revision, counts
    finally:
        conn.close()


def table_counts(db: Database) -> dict[str, int]:
    """Rows per table of a database (any dialect)."""
    with db.session(write=False, doing="counting rows") as session:
        names = sorted(sa_inspect(session.connection()).get_table_names())
        return {
            name: session.execute(text(f'SELECT count(*) FROM "{name}"')).scalar_one()
            for name in names
        }


def is_empty(db: Database) -> bool:
    """No schema, or no row in any table but the bookkeeping ones."""
    if not db.has_schema():
        return True
    counts = table_counts(db)
    return not any(n for name, n in counts.items() if name not in _BOOKKEEPING)


def _libpq_url(db: Database) -> str:
    url = make_url(db.url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _client(program: str) -> str:
    found = shutil.which(program)
    if found is None:
        raise StorageError(
            f"{program} không có trên máy này: cài gói postgresql-client / "
            f"{program} is not installed: install the postgresql-client package"
        )
    return found


def dump_postgres(db: Database, dest: Path) -> None:
    """``pg_dump --format=custom`` of ``db`` into ``dest``."""
    proc = subprocess.run(
        [_client("pg_dump"), "--format=custom", "--no-owner", "--file", str(dest), _libpq_url(db)],
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise StorageError(f"pg_dump of {db.safe_url} failed: {proc.stderr.strip()}")


def restore_postgres(source: Path, db: Database) -> None:
    """``pg_restore --clean`` of a custom-format dump into ``db``."""
    db.dispose()
    proc = subprocess.run(
        [
            _client("pg_restore"),
            "--clean",
            "--if-exists",
            "--no-owner",
            "--dbname",
            _libpq_url(db),
            str(source),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode:
        raise StorageError(f"pg_restore into {db.safe_url} failed: {proc.stderr.strip()}")
