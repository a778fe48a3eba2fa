"""Timers: the due claim (BEGIN IMMEDIATE on SQLite, FOR UPDATE SKIP LOCKED on
PostgreSQL) and timer rows."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, insert, select, update
from sqlmodel import Session

from storage.dialects import dialect_name
from storage.models import (
    Timer,
)
from storage.tables import CASE, TIMER


def claim_due(session: Session, now: datetime, limit: int) -> dict[int, list[Any]]:
    """Due timers grouped by case, for up to ``limit`` cases, claimed for this transaction.

    All of a claimed case's due timers come along, so a case is caught up whole.
    """
    due_cases = (
        select(TIMER.c.case_id)
        .where(TIMER.c.status == "pending", TIMER.c.fire_at <= now)
        .order_by(TIMER.c.fire_at)
        .limit(limit * 4)
    )
    if dialect_name(session) == "postgresql":
        # Lock the cases in the same scan that finds them: rows other workers hold
        # are skipped and the LIMIT counts only rows this worker got, so N workers
        # take N different batches instead of queueing on the first one.
        locked = (
            select(CASE.c.id)
            .join(TIMER, TIMER.c.case_id == CASE.c.id)
            .where(TIMER.c.status == "pending", TIMER.c.fire_at <= now)
            .order_by(TIMER.c.fire_at)
            .limit(limit)
            .with_for_update(of=CASE, skip_locked=True)
        )
        candidate_ids = list(dict.fromkeys(session.execute(locked).scalars()))
    else:  # SQLite: BEGIN IMMEDIATE already made this transaction the only writer
        candidate_ids = list(dict.fromkeys(session.execute(due_cases).scalars()))[:limit]
    if not candidate_ids:
        return {}
    stmt = (
        select(TIMER)
        .where(
            TIMER.c.case_id.in_(candidate_ids),
            TIMER.c.status == "pending",
            TIMER.c.fire_at <= now,
        )
        .order_by(TIMER.c.fire_at, TIMER.c.id)
    )
    grouped: dict[int, list[Any]] = {}
    for row in session.execute(stmt):
        grouped.setdefault(row.case_id, []).append(row)
    return grouped


def next_timer_at(session: Session, until: datetime | None = None) -> datetime | None:
    stmt = select(func.min(TIMER.c.fire_at)).where(TIMER.c.status == "pending")
    if until is not None:
        stmt = stmt.where(TIMER.c.fire_at <= until)
    return session.execute(stmt).scalar()


def due_timer_count(session: Session, now: datetime) -> int:
    stmt = select(func.count()).where(TIMER.c.status == "pending", TIMER.c.fire_at <= now)
    return int(session.execute(stmt).scalar_one())


def pending_timers(session: Session, case_id: int) -> list[Timer]:
    stmt = (
        select(Timer)
        .where(Timer.case_id == case_id, Timer.status == "pending")
        .order_by(Timer.fire_at)
    )
    return list(session.scalars(stmt))


def set_timer_status(
    session: Session, ids: Sequence[int], status: str, at: datetime, error: str | None = None
) -> None:
    if not ids:
        return
    stmt = (
        update(TIMER)
        .where(TIMER.c.id == bindparam("_id"), TIMER.c.status == "pending")
        .values(status=status, fired_at=at, last_error=error)
    )
    session.connection().execute(stmt, [{"_id": i} for i in ids])


def cancel_pending_timers(session: Session, case_ids: Sequence[int], at: datetime) -> None:
    if not case_ids:
        return
    stmt = (
        update(TIMER)
        .where(TIMER.c.case_id == bindparam("_case"), TIMER.c.status == "pending")
        .values(status="cancelled", fired_at=at)
    )
    session.connection().execute(stmt, [{"_case": i} for i in case_ids])


def insert_timers(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(insert(TIMER), list(rows))
