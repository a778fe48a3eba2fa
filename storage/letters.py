"""Formal letters: the per-year letter sequence, the number and context fixed on an
outbox row, and what an escalation letter lists (a unit's late cases, each with the
urging letter last sent about it).

Functions run in the caller's transaction; which states count as late and which
notice kind is the urging letter are the caller's to say.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select, update

import storage.decisions
from storage.db import Session
from storage.dialects import insert_or_ignore
from storage.models import LetterSequence
from storage.tables import CASE, OUTBOX

SEQUENCE = LetterSequence.__table__


def next_number(session: Session, year: int) -> int:
    """The next letter number of ``year`` (1, 2, …), taken in this transaction."""
    session.execute(insert_or_ignore(session, SEQUENCE, "year").values(year=year, last_number=0))
    session.execute(
        update(SEQUENCE)
        .where(SEQUENCE.c.year == year)
        .values(last_number=SEQUENCE.c.last_number + 1)
    )
    return session.execute(
        select(SEQUENCE.c.last_number).where(SEQUENCE.c.year == year)
    ).scalar_one()


def letter_of(session: Session, outbox_id: int) -> tuple[str | None, dict[str, Any]]:
    """(letter number or None, context) of an outbox row."""
    row = session.execute(
        select(OUTBOX.c.letter_number, OUTBOX.c.context).where(OUTBOX.c.id == outbox_id)
    ).one()
    return row.letter_number, dict(row.context or {})


def set_letter(session: Session, outbox_id: int, number: str, context: Mapping[str, Any]) -> None:
    session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == outbox_id)
        .values(letter_number=number, context=dict(context))
    )


def unit_cases(
    session: Session, case_id: int, workflow: str, states: Iterable[str], letter_kind: str
) -> list[dict[str, Any]]:
    """``case_id`` and the cases of its unit in ``workflow`` that are in ``states``,
    oldest deadline first (only ``case_id`` when it has no unit). Each: the case's
    columns ``id, name, position, actual_end, deadline, escalation_level``, its
    decision's ``decision_number`` and ``decided_on``, and ``urging_number`` and
    ``urging_sent_at`` of the last ``letter_kind`` row numbered about it."""
    unit_id = session.execute(select(CASE.c.unit_id).where(CASE.c.id == case_id)).scalar()
    if unit_id is None:
        cond = CASE.c.id == case_id
    else:
        cond = and_(
            CASE.c.unit_id == unit_id,
            CASE.c.workflow == workflow,
            CASE.c.state.in_(tuple(states)),
        )
    rows = (
        session.execute(
            select(CASE).where(or_(cond, CASE.c.id == case_id)).order_by(CASE.c.deadline, CASE.c.id)
        )
        .mappings()
        .all()
    )
    ids = [r["id"] for r in rows]
    letters: dict[int, tuple[str, datetime | None]] = {}
    if ids:
        for lr in session.execute(
            select(OUTBOX.c.case_id, OUTBOX.c.letter_number, OUTBOX.c.sent_at)
            .where(
                OUTBOX.c.case_id.in_(ids),
                OUTBOX.c.kind == letter_kind,
                OUTBOX.c.letter_number.is_not(None),
            )
            .order_by(OUTBOX.c.id)
        ):
            letters[lr.case_id] = (lr.letter_number, lr.sent_at)
    decisions = storage.decisions.decisions_by_id(session, {r["decision_id"] for r in rows})
    out = []
    for r in rows:
        decision = decisions.get(r["decision_id"])
        urging = letters.get(r["id"])
        out.append(
            {
                "id": r["id"],
                "name": r["name"],
                "position": r["position"],
                "actual_end": r["actual_end"],
                "deadline": r["deadline"],
                "escalation_level": r["escalation_level"],
                "decision_number": decision.number if decision else None,
                "decided_on": decision.decided_on if decision else None,
                "urging_number": urging[0] if urging else None,
                "urging_sent_at": urging[1] if urging else None,
            }
        )
    return out


def give_back(session: Session, year: int, number: int) -> bool:
    """Return ``number`` to ``year``'s sequence if it is still the last one taken (a
    letter numbered, then withdrawn before it left); whether it was."""
    result = session.execute(
        update(SEQUENCE)
        .where(SEQUENCE.c.year == year, SEQUENCE.c.last_number == number)
        .values(last_number=number - 1)
    )
    return bool(result.rowcount)


def clear_letter(session: Session, outbox_id: int, context: Mapping[str, Any]) -> None:
    session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == outbox_id)
        .values(letter_number=None, context=dict(context))
    )
