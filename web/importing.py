"""The import page's work, off the request: upload a spreadsheet, check it in the
background (a dry run of engine.imports, which writes nothing and holds no write lock),
show the validation table, then confirm to import the same file, in the background too.

The upload waits in a private folder (0700) under a random name that only the uploader's
session knows, with its job's state in a JSON file beside it (``TOKEN.json``): what the
job is doing (``checking``, ``checked``, ``refused``, ``importing``, ``done``,
``failed``), how far it got, and its result. The page polls it (web/routes/coordinator.py
``/import/{token}``, a ``<meta http-equiv="refresh">``: no script). The job is a thread of
the web process; requests go on being answered meanwhile.

Uploads nobody confirmed are deleted after :data:`MAX_AGE` (on each new upload).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from engine.imports import ImportOptions, ImportRefused, import_file, kinds
from kernel.errors import TheodoiError

log = logging.getLogger(__name__)

UPLOADS = Path(tempfile.gettempdir()) / "theodoi-imports"
SUFFIXES = (".xlsx", ".csv")
MAX_BYTES = 20 * 1024 * 1024
MAX_AGE = timedelta(hours=3)  # an upload nobody confirmed is deleted after this
PREVIEW_ROWS = 500  # rows of the validation table shown (the counts cover them all)
SHOWN_PROBLEMS = 1000
RUNNING = ("checking", "importing")


def _context(**values: Any) -> dict[str, Any]:
    base = {
        "available": True,
        "kinds": kinds(),
        "kind": "trips",
        "job": None,
        "report": None,
        "problems": None,
        "error": None,
        "token": None,
        "done": None,
    }
    base.update(values)
    return base


# -- the job's state, a file beside the upload ------------------------------------------


def _status_path(token: str) -> Path:
    return UPLOADS / f"{token}.json"


def _upload_path(token: str) -> Path | None:
    for suffix in SUFFIXES:
        path = UPLOADS / f"{token}{suffix}"
        if path.is_file():
            return path
    return None


def read_status(token: str) -> dict[str, Any] | None:
    """The job's state, or None (no such job, or deleted)."""
    if not token or not token.replace("-", "").replace("_", "").isalnum():
        return None
    try:
        return json.loads(_status_path(token).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_status(token: str, status: dict[str, Any]) -> None:
    path = _status_path(token)
    partial = path.with_suffix(".json.part")
    partial.write_text(json.dumps(status, default=str, ensure_ascii=False), encoding="utf-8")
    os.chmod(partial, 0o600)
    os.replace(partial, path)  # the page never reads half a file


def discard(token: str) -> None:
    """Delete the upload and its state."""
    upload = _upload_path(token)
    if upload is not None:
        upload.unlink(missing_ok=True)
    _status_path(token).unlink(missing_ok=True)


def clean_old(now: float | None = None) -> int:
    """Delete uploads (and states) older than :data:`MAX_AGE` whose job is not running;
    the number of uploads deleted."""
    if not UPLOADS.is_dir():
        return 0
    cutoff = (now or time.time()) - MAX_AGE.total_seconds()
    deleted = 0
    for path in UPLOADS.iterdir():
        try:
            if path.stat().st_mtime >= cutoff:
                continue
        except OSError:
            continue
        token = path.name.split(".", 1)[0]
        status = read_status(token) or {}
        if status.get("state") in RUNNING and _status_path(token).stat().st_mtime >= cutoff:
            continue  # still moving
        if path.suffix in SUFFIXES:
            deleted += 1
        path.unlink(missing_ok=True)
    return deleted


# -- the background job -------------------------------------------------------------------


def _summary(report: Any) -> dict[str, Any]:
    result = report.result
    items = [
        {
            "row": r.row,
            "action": r.action,
            "label": r.label,
            "state": r.state,
            "changes": r.changes,
            "notes": r.notes,
        }
        for r in result.rows[:PREVIEW_ROWS]
    ]
    return {
        "rows": report.rows,
        "warnings": report.warnings,
        "counts": {a: result.count(a) for a in ("created", "updated", "unchanged")},
        "shown": len(items),
        "result": {"rows": items},
    }


def _progress(token: str, status: dict[str, Any]) -> Callable[[int], Callable[[int], None]]:
    """The engine's progress hook: total rows → an advance function that writes the
    state at most every quarter second."""

    def start(total: int) -> Callable[[int], None]:
        status["total"] = total
        last = [0.0]

        def advance(n: int) -> None:
            status["done"] = status.get("done", 0) + n
            now = time.monotonic()
            if now - last[0] > 0.25 or status["done"] >= total:
                last[0] = now
                _write_status(token, status)

        _write_status(token, status)
        return advance

    return start


def _run(app: Any, token: str, path: Path, dry_run: bool, actor: str) -> None:
    status = read_status(token) or {}
    status.update(done=0, total=None)
    options = ImportOptions(dry_run=dry_run, actor=actor, progress=_progress(token, status))
    try:
        report = import_file(app, status["kind"], path, options)
    except ImportRefused as exc:
        status.update(
            state="refused",
            problems=[asdict(p) for p in exc.problems[:SHOWN_PROBLEMS]],
            problem_count=len(exc.problems),
        )
    except TheodoiError as exc:
        status.update(state="failed", error=str(exc))
    except Exception as exc:  # noqa: BLE001 - the page must learn that the job ended
        log.exception("import job %s failed", token)
        status.update(state="failed", error=f"{type(exc).__name__}: {exc}")
    else:
        if dry_run:
            status.update(state="checked", report=_summary(report))
        else:
            status.update(state="done", imported=len(report.result.rows), report=None)
    if status["state"] != "checked":
        path.unlink(missing_ok=True)  # nothing more to do with the file
    _write_status(token, status)


def _start(app: Any, token: str, path: Path, dry_run: bool, actor: str) -> None:
    thread = threading.Thread(
        target=_run, args=(app, token, path, dry_run, actor), name=f"import-{token[:6]}"
    )
    thread.daemon = True
    thread.start()


# -- what the routes call -------------------------------------------------------------------


async def upload(app: Any, form: Any, session: dict[str, Any], actor: str) -> dict[str, Any]:
    """Store the upload and start checking it; ``token`` in the answer, or ``error``."""
    kind = str(form.get("kind") or "trips")
    if kind not in kinds():
        return _context(error=f"kind: '{kind}'")
    item = form.get("file")
    name = getattr(item, "filename", "") or ""
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        return _context(kind=kind, error="file: .xlsx or .csv")
    content = await item.read(MAX_BYTES + 1)
    if not content or len(content) > MAX_BYTES:
        return _context(kind=kind, error="file: empty or larger than 20 MB")
    UPLOADS.mkdir(mode=0o700, exist_ok=True)
    clean_old()
    old = session.get("import_token")
    if old and (read_status(old) or {}).get("state") not in RUNNING:
        discard(old)  # one upload per session waits for confirmation
    token = secrets.token_urlsafe(18)
    path = UPLOADS / f"{token}{suffix}"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    status = {
        "state": "checking",
        "kind": kind,
        "file": Path(name).name,
        "actor": actor,
        "created": datetime.now(UTC).isoformat(),
    }
    _write_status(token, status)
    session["import_token"] = token
    _start(app, token, path, True, actor)
    return _context(kind=kind, token=token)


def confirm(app: Any, form: Any, session: dict[str, Any], actor: str) -> dict[str, Any]:
    """Import the checked upload of this session for real, in the background."""
    token = str(form.get("token") or "")
    status = read_status(token) if token and token == session.get("import_token") else None
    path = _upload_path(token) if status else None
    if status is None or path is None or status.get("state") != "checked":
        return _context(error="file: upload it again")
    status.update(state="importing", done=0, total=None)
    _write_status(token, status)
    _start(app, token, path, False, actor)
    return _context(kind=status["kind"], token=token)


def job_context(token: str, session: dict[str, Any]) -> dict[str, Any] | None:
    """The page of this session's job ``token``, or None (not its job, or gone)."""
    status = read_status(token) if token and token == session.get("import_token") else None
    if status is None:
        return None
    state = status.get("state")
    values: dict[str, Any] = {"kind": status.get("kind", "trips"), "job": status, "token": token}
    if state == "checked":
        values["report"] = status.get("report")
    elif state == "refused":
        values["problems"] = status.get("problems") or []
    elif state == "failed":
        values["error"] = status.get("error")
    elif state == "done":
        values["done"] = status.get("imported", 0)
    return _context(**values)
