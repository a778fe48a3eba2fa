"""Bounds on what a request may carry, checked before anything reaches the database.

* :func:`ids_in_range` (an app-wide dependency): a path segment that is a number too
  large for a database integer (``/cases/99999999999999999999``) names nothing, so the
  answer is 404 — not a driver overflow (500).
"""

from __future__ import annotations

from fastapi import Request

from kernel.errors import NotFound

MAX_ID = 2**63 - 1  # BIGINT / SQLite INTEGER


def ids_in_range(request: Request) -> None:
    for value in request.path_params.values():
        text = str(value)
        digits = text[1:] if text.startswith(("-", "+")) else text
        if digits.isdigit() and abs(int(text)) > MAX_ID:
            raise NotFound()
