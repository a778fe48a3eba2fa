"""Statements whose SQL differs by backend (SQLite, PostgreSQL)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Session


def dialect_name(session: Session) -> str:
    """``sqlite`` or ``postgresql``: the backend of the session's connection."""
    return session.get_bind().dialect.name


def insert_or_ignore(session: Session, table: Any, key: str) -> Any:
    """``INSERT … ON CONFLICT (key) DO NOTHING`` on ``table``, for the session's backend."""
    maker = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    return maker(table).on_conflict_do_nothing(index_elements=[key])
