"""The history: appending events and reading a case's events."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select
from sqlmodel import Session

from storage.models import (
    Event,
)
from storage.tables import EVENT


def case_events(session: Session, case_id: int) -> list[Event]:
    stmt = select(Event).where(Event.case_id == case_id).order_by(Event.at, Event.id)
    return list(session.scalars(stmt))


def state_entry_event(
    session: Session, case_id: int, state: str, events: Sequence[str]
) -> Event | None:
    """The latest of ``events`` (transitions, not reminders or notes) that brought the
    case into ``state``."""
    stmt = (
        select(Event)
        .where(Event.case_id == case_id, Event.to_state == state, Event.event.in_(events))
        .order_by(Event.at.desc(), Event.id.desc())
    )
    return session.scalars(stmt).first()


def latest_instant(session: Session) -> datetime | None:
    """The latest business instant recorded anywhere (the simulation starts there)."""
    return session.execute(select(func.max(EVENT.c.at))).scalar()


def insert_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(insert(EVENT), list(rows))
