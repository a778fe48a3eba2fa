"""``theodoi backup FILE`` and ``theodoi restore FILE``: one archive with a manifest.

The archive (tar, gzip) holds ``manifest.json`` and the database: ``database.sqlite3``
(SQLite's online backup of the live file, consistent while the runner works) or
``database.pgdump`` (``pg_dump --format=custom``). Attachments are rows of the
database, so they are in it. The manifest gives theodoi's version, the schema
revision, the rows per table and the database file's sha256; ``restore`` checks it,
refuses a database that holds data unless ``--force``, and migrates an older backup to
the current schema.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Annotated, Any

import typer

from cli import main as base
from kernel.clock import SystemClock
from kernel.errors import InvalidInput, StorageError
from storage import backup as store
from storage.db import Database, head_revision

FORMAT = "theodoi-backup/1"
MANIFEST = "manifest.json"


def register(app: typer.Typer) -> None:
    app.command("backup")(backup)
    app.command("restore")(restore)


def version() -> str:
    try:
        return metadata.version("theodoi")
    except metadata.PackageNotFoundError:  # why: running from a source tree
        return "unknown"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@base.cli_errors
def backup(
    file: Annotated[Path, typer.Argument(help="The archive to write (.tar.gz).")],
    config: base.ConfigOpt = None,
) -> None:
    """Sao lưu nhất quán khi hệ thống đang chạy / A consistent backup of a running system."""
    cfg = base.get_config(config)
    db = Database(cfg.storage.url)
    try:
        if not db.has_schema():
            raise StorageError(f"{db.safe_url} has no theodoi tables: nothing to back up")
        with tempfile.TemporaryDirectory(prefix="theodoi-backup-") as tmp:
            if db.is_sqlite:
                member = "database.sqlite3"
                copy = Path(tmp) / member
                store.copy_sqlite(store.sqlite_path(db), copy)
                revision, counts = store.file_facts(copy)
            else:
                member = "database.pgdump"
                copy = Path(tmp) / member
                # pg_dump takes one snapshot; the counts are read just before it
                revision, counts = db.revision(), store.table_counts(db)
                store.dump_postgres(db, copy)
            manifest: dict[str, Any] = {
                "format": FORMAT,
                "theodoi_version": version(),
                "dialect": db.dialect,
                "schema_revision": revision,
                "created_at": SystemClock().now().isoformat() + "Z",
                "database": member,
                "sha256": sha256(copy),
                "size": copy.stat().st_size,
                "counts": counts,
            }
            _write_archive(file, manifest, copy)
    finally:
        db.dispose()
    rows = sum(counts.values())
    typer.echo(
        f"đã sao lưu / backed up: {file} (revision {revision}, {rows} rows, "
        f"{counts.get('attachment', 0)} attachments)"
    )


def _write_archive(file: Path, manifest: dict[str, Any], database: Path) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    partial = file.with_name(file.name + ".partial")
    with tarfile.open(partial, "w:gz") as tar:
        body = json.dumps(manifest, indent=2, ensure_ascii=False).encode()
        info = tarfile.TarInfo(MANIFEST)
        info.size, info.mode = len(body), 0o600
        tar.addfile(info, io.BytesIO(body))
        tar.add(database, arcname=manifest["database"])
    partial.chmod(0o600)
    partial.replace(file)


def read_archive(file: Path, into: Path) -> tuple[dict[str, Any], Path]:
    """The manifest and the extracted database file, checked against each other."""
    try:
        with tarfile.open(file, "r:*") as tar:
            manifest = json.loads(tar.extractfile(MANIFEST).read())  # type: ignore[union-attr]
            if manifest.get("format") != FORMAT:
                raise InvalidInput("file", f"{file} is not a theodoi backup ({manifest.get('format')})")
            name = manifest["database"]
            if name not in ("database.sqlite3", "database.pgdump"):
                raise InvalidInput("file", f"{file}: unexpected member {name!r}")
            tar.extract(name, into, filter="data")
    except (OSError, KeyError, tarfile.TarError, ValueError) as exc:
        raise InvalidInput("file", f"{file} is not a readable theodoi backup: {exc}") from exc
    path = into / name
    if sha256(path) != manifest["sha256"]:
        raise InvalidInput(
            "file", f"{file}: tổng kiểm tra sai / checksum mismatch — the backup is damaged"
        )
    return manifest, path


@base.cli_errors
def restore(
    file: Annotated[Path, typer.Argument(help="An archive written by `theodoi backup`.")],
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite a database that already holds data.")
    ] = False,
    config: base.ConfigOpt = None,
) -> None:
    """Khôi phục bản sao lưu rồi nâng cấp lược đồ / Restore a backup, then migrate it to head."""
    cfg = base.get_config(config)
    db = Database(cfg.storage.url)
    try:
        with tempfile.TemporaryDirectory(prefix="theodoi-restore-") as tmp:
            manifest, path = read_archive(file, Path(tmp))
            want = "sqlite" if manifest["dialect"] == "sqlite" else "postgresql"
            if want != db.dialect:
                raise InvalidInput(
                    "file", f"{file} is a {manifest['dialect']} backup; {db.safe_url} is {db.dialect}"
                )
            if not force and not store.is_empty(db):
                raise InvalidInput(
                    "database",
                    f"{db.safe_url} đã có dữ liệu / already holds data: restore refused "
                    "(--force overwrites it)",
                )
            if db.is_sqlite:
                store.restore_sqlite(path, db)
            else:
                store.restore_postgres(path, db)
        db.upgrade()
        revision = db.revision()
    finally:
        db.dispose()
    migrated = "" if manifest["schema_revision"] == revision else (
        f", migrated from {manifest['schema_revision']}"
    )
    assert revision == head_revision()
    typer.echo(f"đã khôi phục / restored: {file} → {db.safe_url} (revision {revision}{migrated})")
