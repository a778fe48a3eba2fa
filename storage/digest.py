"""The weekly digest's read model: cases by state and deadline, recent events.

Rows are plain dicts with the case's ``id, workflow, name, state, deadline,
escalation_level, category, report_filed_on, filed_late`` and its unit's
``unit_name``. Which states are open, late or cancelled is the caller's to say.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from sqlalchemy import select

from storage.db import Session
from storage.models import Unit
from storage.tables import CASE, EVENT

UNIT = Unit.__table__

_CASES = select(
    CASE.c.id,
    CASE.c.workflow,
    CASE.c.name,
    CASE.c.state,
    CASE.c.deadline,
    CASE.c.escalation_level,
    CASE.c.category,
    CASE.c.report_filed_on,
    CASE.c.filed_late,
    UNIT.c.name.label("unit_name"),
).select_from(CASE.outerjoin(UNIT, UNIT.c.id == CASE.c.unit_id))


def _rows(session: Session, stmt: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in session.execute(stmt).mappings()]


def cases_due_between(
    session: Session, states: Iterable[str], first: date, last: date
) -> list[dict[str, Any]]:
    """Cases in ``states`` whose deadline falls in ``first``…``last``, by deadline."""
    stmt = _CASES.where(
        CASE.c.state.in_(tuple(states)), CASE.c.deadline >= first, CASE.c.deadline <= last
    ).order_by(CASE.c.deadline, CASE.c.id)
    return _rows(session, stmt)


def cases_in(session: Session, states: Iterable[str]) -> list[dict[str, Any]]:
    """Cases in ``states``, oldest deadline first."""
    stmt = _CASES.where(CASE.c.state.in_(tuple(states))).order_by(CASE.c.deadline, CASE.c.id)
    return _rows(session, stmt)


def cases_with_deadline(
    session: Session, start: date, before: date, exclude: Iterable[str]
) -> list[dict[str, Any]]:
    """Cases whose deadline is in ``start`` ≤ deadline < ``before``, not in ``exclude``."""
    stmt = _CASES.where(
        CASE.c.deadline >= start,
        CASE.c.deadline < before,
        CASE.c.state.not_in(tuple(exclude)),
    )
    return _rows(session, stmt)


def events_between(
    session: Session, event: str, since: datetime, until: datetime
) -> list[dict[str, Any]]:
    """``event`` history rows with ``since`` ≤ at ≤ ``until``, in order: ``case_id, at``
    and the case's ``name, escalation_level, unit_name`` (as they are now)."""
    stmt = (
        select(
            EVENT.c.case_id,
            EVENT.c.at,
            CASE.c.name,
            CASE.c.escalation_level,
            UNIT.c.name.label("unit_name"),
        )
        .select_from(
            EVENT.join(CASE, CASE.c.id == EVENT.c.case_id).outerjoin(
                UNIT, UNIT.c.id == CASE.c.unit_id
            )
        )
        .where(EVENT.c.event == event, EVENT.c.at >= since, EVENT.c.at <= until)
        .order_by(EVENT.c.at)
    )
    return _rows(session, stmt)
