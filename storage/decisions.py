"""Decisions and units as the creation paths read and write them (engine/creation.py,
the import writer): lookups by natural key, and new rows added to the caller's
transaction (written with its next flush, so a batch of new cases gets its decisions'
ids with one round trip)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import Session

from storage.models import (
    Decision,
    Unit,
)

__all__ = [
    "add_decision",
    "add_unit",
    "decisions_by_key",
    "save",
]


def decisions_by_key(session: Session) -> dict[tuple[str, int], Decision]:
    """Every decision by (number, year): numbers restart each year."""
    return {(d.number, d.year): d for d in session.scalars(select(Decision))}


def add_decision(session: Session, number: str, decided_on: date, issuer: str) -> Decision:
    """A new decision, inserted with the session's next flush."""
    decision = Decision(number=number, year=decided_on.year, decided_on=decided_on, issuer=issuer)
    session.add(decision)
    return decision


def add_unit(session: Session, code: str, **values: Any) -> Unit:
    """A new unit, inserted with the session's next flush."""
    unit = Unit(code=code, **values)
    session.add(unit)
    return unit


def save(session: Session, rows: Iterable[Decision | Unit]) -> None:
    """Changed decisions or units, written with the session's next flush."""
    session.add_all(list(rows))


_DECISIONS_IN = select(Decision.__table__).where(
    Decision.__table__.c.id.in_(bindparam("ids", expanding=True))
)


def decision_rows_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, Any]:
    """The given decisions as read-only rows (attributes as on ``Decision``)."""
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    return {r.id: r for r in session.connection().execute(_DECISIONS_IN, {"ids": wanted})}


def decisions_by_id(session: Session, ids: Iterable[int]) -> dict[int, Decision]:
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    return {d.id: d for d in session.scalars(select(Decision).where(Decision.id.in_(ids)))}


def get_or_create_decision(
    session: Session, number: str, decided_on: date, issuer: str
) -> Decision:
    """A decision is its number plus the year of its date (numbers restart each year)."""
    found = session.scalars(
        select(Decision).where(Decision.number == number, Decision.year == decided_on.year)
    ).first()
    if found is not None:
        return found
    decision = Decision(number=number, year=decided_on.year, decided_on=decided_on, issuer=issuer)
    session.add(decision)
    session.flush()
    return decision
