"""Periodic runs: one claim per (job, period), so a cron job runs once across workers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from storage.dialects import dialect_name
from storage.models import (
    PeriodicRun,
)


def claim_period(session: Session, key: str, now: datetime, worker: str) -> bool:
    """Insert-or-ignore a once-per-period key; True for the one worker that got it."""
    maker = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    stmt = maker(PeriodicRun.__table__).values(key=key, ran_at=now, worker=worker)
    stmt = stmt.on_conflict_do_nothing(index_elements=["key"])
    # RETURNING, not rowcount: psycopg reports -1 for this statement.
    result = session.execute(stmt.returning(PeriodicRun.__table__.c.key))
    return result.first() is not None
