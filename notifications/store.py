"""The outbox's own queries: claim, mark, number letters, approve, list.

Each function is one short transaction. Claims are compare-and-set updates (the
row must still be due or its lease expired), so two senders never both claim one
row; on PostgreSQL the candidates are also taken ``FOR UPDATE SKIP LOCKED`` so
senders do not wait on each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from engine.errors import NotFound, TheodoiError
from storage import queries
from storage.db import Database
from storage.models import AppSecret, Case, LetterSequence, OutboxMessage, Unit

OUTBOX = OutboxMessage.__table__
CASE = Case.__table__
UNIT = Unit.__table__
SEQUENCE = LetterSequence.__table__
SECRET = AppSecret.__table__
ACTOR = "system:sender"


class OutboxStateError(TheodoiError):
    """An approval/hold/resend that the row's status does not allow."""


def _insert(session: Any, table: Any) -> Any:
    dialect = session.get_bind().dialect.name
    return (pg_insert if dialect == "postgresql" else sqlite_insert)(table)


def _due(now: datetime) -> Any:
    return or_(
        and_(OUTBOX.c.status == "pending", OUTBOX.c.next_attempt_at <= now),
        and_(OUTBOX.c.status == "sending", OUTBOX.c.claimed_until < now),
    )


# -- the sender ---------------------------------------------------------------------------


def claim(
    db: Database, now: datetime, token: str, lease_until: datetime, limit: int
) -> list[dict[str, Any]]:
    """Mark up to ``limit`` due rows (or rows whose lease expired) ``sending`` for ``token``."""
    with db.session() as session:
        candidates = (
            select(OUTBOX.c.id)
            .where(_due(now))
            .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
            .limit(limit)
        )
        if session.get_bind().dialect.name == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        ids = list(session.execute(candidates).scalars())
        if not ids:
            return []
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(ids), _due(now))
            .values(
                status="sending",
                claimed_by=token,
                claimed_until=lease_until,
                attempts=OUTBOX.c.attempts + 1,
            )
        )
        rows = session.execute(
            select(OUTBOX)
            .where(OUTBOX.c.id.in_(ids), OUTBOX.c.claimed_by == token)
            .order_by(OUTBOX.c.next_attempt_at, OUTBOX.c.id)
        )
        return [dict(r) for r in rows.mappings()]


def defer_closed_window(db: Database, now: datetime, opening: datetime) -> int:
    """Outside the send window: due rows wait for its next opening."""
    with db.session() as session:
        result = session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.status == "pending", OUTBOX.c.next_attempt_at <= now)
            .values(next_attempt_at=opening)
        )
        return result.rowcount or 0


def mark_sent(
    db: Database, row: Mapping[str, Any], now: datetime, refused: Mapping[str, str]
) -> None:
    """Sent is the truth whoever holds the lease; the history gets a ``notice_sent``."""
    with db.session() as session:
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == row["id"], OUTBOX.c.status != "sent")
            .values(
                status="sent",
                sent_at=now,
                refused=dict(refused),
                last_error=None,
                claimed_by=None,
                claimed_until=None,
            )
        )
        _history(
            session,
            row,
            "notice_sent",
            now,
            None,
            {
                "to": list(row["to_addrs"]),
                "cc": list(row["cc_addrs"]),
                "refused": dict(refused),
                "letter_number": row.get("letter_number"),
            },
        )


def mark_retry(
    db: Database, row: Mapping[str, Any], token: str, next_at: datetime, error: str
) -> None:
    with db.session() as session:
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == row["id"], OUTBOX.c.claimed_by == token)
            .values(
                status="pending",
                next_attempt_at=next_at,
                last_error=error[:2000],
                claimed_by=None,
                claimed_until=None,
            )
        )


def release(db: Database, ids: Sequence[int], token: str) -> None:
    """Rows claimed but not tried (circuit open, lease running out) go back as they were."""
    if not ids:
        return
    with db.session() as session:
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(list(ids)), OUTBOX.c.claimed_by == token)
            .values(
                status="pending",
                attempts=OUTBOX.c.attempts - 1,
                claimed_by=None,
                claimed_until=None,
            )
        )


def mark_stopped(
    db: Database,
    row: Mapping[str, Any],
    token: str,
    status: str,
    error: str,
    now: datetime,
    alert: dict[str, Any] | None,
) -> None:
    """``failed`` (permanent refusal) or ``parked`` (cannot render): with its alert row."""
    with db.session() as session:
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == row["id"], OUTBOX.c.claimed_by == token)
            .values(status=status, last_error=error[:2000], claimed_by=None, claimed_until=None)
        )
        if alert is not None:
            queries.insert_outbox(session, [alert])
        _history(session, row, f"notice_{status}", now, error[:500], {})


def insert_rows(db: Database, rows: Sequence[dict[str, Any]]) -> None:
    with db.session() as session:
        queries.insert_outbox(session, rows)


def outbox_id_for_key(db: Database, key: str) -> int | None:
    with db.session(write=False) as session:
        return session.execute(select(OUTBOX.c.id).where(OUTBOX.c.key == key)).scalar()


# -- letters -----------------------------------------------------------------------------


def number_letter(
    db: Database, row_id: int, year: int, format_number: Any, extra_context: Mapping[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Assign, format and store the letter number in one transaction; (number, context)."""
    with db.session() as session:
        current = session.execute(
            select(OUTBOX.c.letter_number, OUTBOX.c.context).where(OUTBOX.c.id == row_id)
        ).one()
        if current.letter_number:
            return current.letter_number, dict(current.context or {})
        session.execute(
            _insert(session, SEQUENCE)
            .values(year=year, last_number=0)
            .on_conflict_do_nothing(index_elements=["year"])
        )
        session.execute(
            update(SEQUENCE)
            .where(SEQUENCE.c.year == year)
            .values(last_number=SEQUENCE.c.last_number + 1)
        )
        number = session.execute(
            select(SEQUENCE.c.last_number).where(SEQUENCE.c.year == year)
        ).scalar_one()
        text = format_number(number)
        context = {**(current.context or {}), **extra_context}
        session.execute(
            update(OUTBOX).where(OUTBOX.c.id == row_id).values(letter_number=text, context=context)
        )
        return text, context


def unit_overdue_cases(db: Database, case_id: int | None, workflow: str) -> list[dict[str, Any]]:
    """The overdue cases of ``case_id``'s unit (same workflow), oldest deadline first,
    each with the number and date of the last urging letter sent about it."""
    if case_id is None:
        return []
    with db.session(write=False) as session:
        unit_id = session.execute(select(CASE.c.unit_id).where(CASE.c.id == case_id)).scalar()
        if unit_id is None:
            cond = CASE.c.id == case_id
        else:
            cond = and_(
                CASE.c.unit_id == unit_id,
                CASE.c.workflow == workflow,
                CASE.c.state.in_(("overdue", "escalated")),
            )
        rows = (
            session.execute(
                select(CASE)
                .where(or_(cond, CASE.c.id == case_id))
                .order_by(CASE.c.deadline, CASE.c.id)
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
                    OUTBOX.c.kind == "urging_letter",
                    OUTBOX.c.letter_number.is_not(None),
                )
                .order_by(OUTBOX.c.id)
            ):
                letters[lr.case_id] = (lr.letter_number, lr.sent_at)
        decisions = queries.decisions_by_id(session, {r["decision_id"] for r in rows})
        out = []
        for r in rows:
            decision = decisions.get(r["decision_id"])
            urging = letters.get(r["id"])
            out.append(
                {
                    "case_id": r["id"],
                    "name": r["name"],
                    "position": r["position"],
                    "decision_number": decision.number if decision else None,
                    "decision_date": decision.decided_on.isoformat() if decision else None,
                    "actual_return": r["actual_return"].isoformat() if r["actual_return"] else None,
                    "deadline": r["deadline"].isoformat() if r["deadline"] else None,
                    "escalation_level": r["escalation_level"],
                    "urging_number": urging[0] if urging else None,
                    "urging_date": urging[1].isoformat() if urging and urging[1] else None,
                }
            )
        return out


# -- coordinators' actions ---------------------------------------------------------------


def get_row(db: Database, outbox_id: int) -> dict[str, Any]:
    with db.session(write=False) as session:
        row = session.execute(select(OUTBOX).where(OUTBOX.c.id == outbox_id)).mappings().first()
    if row is None:
        raise NotFound(f"outbox message {outbox_id} does not exist")
    return dict(row)


def change_status(
    db: Database,
    outbox_id: int,
    allowed: Iterable[str],
    values: Mapping[str, Any],
    event: str,
    actor: str,
    now: datetime,
) -> dict[str, Any]:
    """Move a row from one of ``allowed`` statuses, with a history event; the new row."""
    allowed = tuple(allowed)
    with db.session() as session:
        row = session.execute(select(OUTBOX).where(OUTBOX.c.id == outbox_id)).mappings().first()
        if row is None:
            raise NotFound(f"outbox message {outbox_id} does not exist")
        if row["status"] not in allowed:
            raise OutboxStateError(
                f"outbox message {outbox_id} is {row['status']}; "
                f"this needs one of: {', '.join(allowed)}"
            )
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id == outbox_id, OUTBOX.c.status == row["status"])
            .values(**values)
        )
        _history(session, dict(row), event, now, None, {"by": actor}, actor=actor)
        new = session.execute(select(OUTBOX).where(OUTBOX.c.id == outbox_id)).mappings().one()
        return dict(new)


def units_by_id(db: Database) -> dict[int, Unit]:
    with db.session(write=False) as session:
        return queries.units_by_id(session)


def list_rows(
    db: Database, status: str | None = None, limit: int = 100, case_id: int | None = None
) -> list[dict[str, Any]]:
    with db.session(write=False) as session:
        stmt = select(OUTBOX).order_by(OUTBOX.c.id.desc()).limit(limit)
        if status:
            stmt = stmt.where(OUTBOX.c.status == status)
        if case_id is not None:
            stmt = stmt.where(OUTBOX.c.case_id == case_id)
        return [dict(r) for r in session.execute(stmt).mappings()]


def status_counts(db: Database) -> dict[str, int]:
    with db.session(write=False) as session:
        stmt = select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status)
        return {status: count for status, count in session.execute(stmt)}


def calendar_overlay(db: Database) -> tuple[list[Any], list[Any]]:
    with db.session(write=False) as session:
        return queries.calendar_overlay(session)


# -- secrets ----------------------------------------------------------------------------


def get_or_create_secret(db: Database, name: str, candidate: str, now: datetime) -> str:
    """The stored value of ``name``; ``candidate`` is stored first if there is none."""
    with db.session() as session:
        session.execute(
            _insert(session, SECRET)
            .values(name=name, value=candidate, created_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        return session.execute(select(SECRET.c.value).where(SECRET.c.name == name)).scalar_one()


def _history(
    session: Any,
    row: Mapping[str, Any],
    event: str,
    now: datetime,
    reason: str | None,
    data: dict[str, Any],
    actor: str = ACTOR,
) -> None:
    if row.get("case_id") is None:
        return
    payload = {
        "notice": row["kind"],
        "level": row.get("level") or 0,
        "outbox_id": row["id"],
        "message_id": row.get("message_id"),
        **data,
    }
    queries.insert_events(
        session,
        [
            {
                "case_id": row["case_id"],
                "event": event,
                "from_state": None,
                "to_state": None,
                "actor": actor,
                "at": now,
                "recorded_at": now,
                "reason": reason,
                "data": payload,
            }
        ],
    )
