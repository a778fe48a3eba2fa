"""Units: lookups by id, code or name."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, or_, select
from sqlmodel import Session

from storage.models import (
    Unit,
)


def units_by_id(session: Session) -> dict[int, Unit]:
    return {u.id: u for u in session.scalars(select(Unit))}


_UNITS_IN = select(Unit.__table__).where(Unit.__table__.c.id.in_(bindparam("ids", expanding=True)))


def unit_rows_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, Any]:
    """The given units as read-only rows (attributes as on ``Unit``), for routing
    notices: no ORM objects to build, no other units loaded (bench: loading every
    unit per created case cost a quarter of creating it)."""
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    return {r.id: r for r in session.connection().execute(_UNITS_IN, {"ids": wanted})}


def unit_by_code(session: Session, code: str) -> Unit | None:
    return session.scalars(select(Unit).where(Unit.code == code)).first()


def unit_by_code_or_name(session: Session, text: str) -> Unit | None:
    return session.scalars(select(Unit).where(or_(Unit.code == text, Unit.name == text))).first()
