"""The import page's work: upload a spreadsheet, show the validation table (a dry run of
engine.imports, which writes nothing), then confirm to import the same file for real.

The uploaded file waits in a private temporary folder under a random name that only the
uploader's session knows; confirming imports exactly what was checked.
"""

from __future__ import annotations

import secrets
import tempfile
from pathlib import Path
from typing import Any

from engine.imports import ImportOptions, ImportRefused, import_file, kinds
from kernel.errors import TheodoiError

UPLOADS = Path(tempfile.gettempdir()) / "theodoi-imports"
SUFFIXES = (".xlsx", ".csv")
MAX_BYTES = 20 * 1024 * 1024


def _path(token: str) -> Path | None:
    for suffix in SUFFIXES:
        path = UPLOADS / f"{token}{suffix}"
        if path.is_file():
            return path
    return None


def _context(**values: Any) -> dict[str, Any]:
    base = {
        "available": True,
        "kinds": kinds(),
        "kind": "trips",
        "report": None,
        "problems": None,
        "error": None,
        "token": None,
        "done": None,
    }
    base.update(values)
    return base


async def handle(app: Any, form: Any, session: dict[str, Any], actor: str) -> dict[str, Any]:
    kind = str(form.get("kind") or "trips")
    if kind not in kinds():
        return _context(error=f"kind: '{kind}'")
    if form.get("confirm"):
        token = str(form.get("token") or "")
        path = _path(token) if token and token == session.get("import_token") else None
        if path is None:
            return _context(kind=kind, error="file: upload it again")
        try:
            report = import_file(app, kind, path, ImportOptions(actor=actor))
        except ImportRefused as exc:
            return _context(kind=kind, problems=exc.problems)
        finally:
            path.unlink(missing_ok=True)
            session.pop("import_token", None)
        return _context(kind=kind, done=len(report.result.rows))
    upload = form.get("file")
    name = getattr(upload, "filename", "") or ""
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        return _context(kind=kind, error="file: .xlsx or .csv")
    content = await upload.read(MAX_BYTES + 1)
    if not content or len(content) > MAX_BYTES:
        return _context(kind=kind, error="file: empty or larger than 20 MB")
    UPLOADS.mkdir(mode=0o700, exist_ok=True)
    token = secrets.token_urlsafe(18)
    path = UPLOADS / f"{token}{suffix}"
    path.write_bytes(content)
    try:
        report = import_file(app, kind, path, ImportOptions(dry_run=True, actor=actor))
    except ImportRefused as exc:
        path.unlink(missing_ok=True)
        return _context(kind=kind, problems=exc.problems)
    except TheodoiError as exc:
        path.unlink(missing_ok=True)
        return _context(kind=kind, error=str(exc))
    session["import_token"] = token
    return _context(kind=kind, report=report, token=token)
