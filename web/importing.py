"""The import page's work: validate an uploaded spreadsheet, show the table, confirm."""

from __future__ import annotations

from typing import Any


async def handle(app: Any, form: Any, actor: str) -> dict[str, Any]:
    try:
        from engine import importer  # noqa: F401
    except ImportError:
        return {"available": False, "result": None, "error": "unavailable", "token": None}
    return {"available": True, "result": None, "error": "unavailable", "token": None}
