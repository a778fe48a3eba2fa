"""The admins' calendar: closures and make-up working days stored as data, on top of
the statutory holidays kernel/calendar.py knows (storage.calendar.calendar_overlay gives
the engine the whole overlay)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select

from storage.db import Session
from storage.models import (
    CalendarDay,
)


def days_in_year(session: Session, year: int) -> list[CalendarDay]:
    """The days stored for ``year``, in date order."""
    stmt = (
        select(CalendarDay)
        .where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
        .order_by(CalendarDay.day)
    )
    return list(session.scalars(stmt))


def set_day(session: Session, day: date, kind: str, source: str, now: datetime) -> CalendarDay:
    """Store ``day`` as ``kind`` (closure or working), or change the stored one."""
    row = session.get(CalendarDay, day) or CalendarDay(
        day=day, kind=kind, source="", created_at=now
    )
    row.kind, row.source = kind, source
    session.add(row)
    session.flush()
    return row


def remove_day(session: Session, day: date) -> bool:
    """Forget ``day``; whether it was stored."""
    row = session.get(CalendarDay, day)
    if row is None:
        return False
    session.delete(row)
    session.flush()
    return True


def calendar_overlay(session: Session) -> tuple[list[date], list[date]]:
    """(closures, make-up working days) an admin added as data."""
    rows = session.scalars(select(CalendarDay)).all()
    return (
        [r.day for r in rows if r.kind == "closure"],
        [r.day for r in rows if r.kind == "working"],
    )


def sources(session: Session) -> dict[date, str]:
    """The source of every day stored (the explanation of a deadline names it)."""
    return {row.day: row.source for row in session.scalars(select(CalendarDay))}
