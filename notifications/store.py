"""The outbox's own queries: claim, record outcomes, number letters, approve, list.

Each function is one short transaction. Claims are compare-and-set updates (the
row must still be due or its lease expired), so two senders never both claim one
row; on PostgreSQL the candidates are also taken ``FOR UPDATE SKIP LOCKED`` so
senders do not wait on each other. The sender records its outcomes (sent, retry,
failed/parked, released, alerts) in batches: :func:`record` writes many in one
transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    DateTime,
    Integer,
    and_,
    bindparam,
    func,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from kernel.errors import NotFound, TheodoiError
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


# SQLite's planner, without statistics, prefers ix_outbox_status (an equality) and then
# sorts every pending row; INDEXED BY makes it walk the partial index (and fail loudly
# rather than scan if the index ever goes).
_DUE_SQLITE = text(
    "SELECT id FROM outbox INDEXED BY ix_outbox_due"
    " WHERE status = 'pending' AND next_attempt_at <= :now"
    " ORDER BY next_attempt_at LIMIT :n"
).bindparams(bindparam("now", type_=DateTime()), bindparam("n", type_=Integer()))


def due_ids(dialect: str, now: datetime, limit: int) -> Any:
    """Pending rows due at ``now``, oldest first: a walk of the partial index
    ``ix_outbox_due`` (``next_attempt_at WHERE status = 'pending'``) that stops after
    ``limit`` rows, however long the outbox. The status is a literal: neither SQLite
    nor a generic PostgreSQL plan matches a partial index's predicate against a
    bound parameter."""
    if dialect == "sqlite":
        return _DUE_SQLITE.bindparams(now=now, n=limit)
    return (
        select(OUTBOX.c.id)
        .where(OUTBOX.c.status == literal_column("'pending'"), OUTBOX.c.next_attempt_at <= now)
        .order_by(OUTBOX.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )


def expired_ids(dialect: str, now: datetime, limit: int) -> Any:
    """Rows whose sender died holding them (``sending``, lease expired), through
    ``ix_outbox_status``: only the few ``sending`` rows (those in flight) are read."""
    stmt = (
        select(OUTBOX.c.id)
        .where(OUTBOX.c.status == literal_column("'sending'"), OUTBOX.c.claimed_until < now)
        .limit(limit)
    )
    return stmt.with_for_update(skip_locked=True) if dialect == "postgresql" else stmt


# -- the sender ---------------------------------------------------------------------------


def claim(
    db: Database, now: datetime, token: str, lease_until: datetime, limit: int
) -> list[dict[str, Any]]:
    """Mark up to ``limit`` due rows (or rows whose lease expired) ``sending`` for ``token``."""
    with db.session() as session:
        dialect = session.get_bind().dialect.name
        ids = list(session.execute(expired_ids(dialect, now, limit)).scalars())
        if len(ids) < limit:
            ids += session.execute(due_ids(dialect, now, limit - len(ids))).scalars()
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


@dataclass(frozen=True)
class Sent:
    """The server accepted the message (``refused``: recipients it refused meanwhile)."""

    row: Mapping[str, Any]
    refused: Mapping[str, str]


@dataclass(frozen=True)
class Retry:
    """A temporary failure: back to ``pending`` at ``next_at``."""

    row: Mapping[str, Any]
    token: str
    next_at: datetime
    error: str


@dataclass(frozen=True)
class Stopped:
    """``failed`` (permanent refusal, attempts spent) or ``parked`` (cannot render),
    with its alert row."""

    row: Mapping[str, Any]
    token: str
    status: str
    error: str
    alert: dict[str, Any] | None


@dataclass(frozen=True)
class Released:
    """Claimed but not tried (circuit open, lease running out): back as it was."""

    ids: Sequence[int]
    token: str


@dataclass(frozen=True)
class Alert:
    """An alert row for the coordinators (e.g. recipients refused)."""

    row: dict[str, Any]


Mark = Sent | Retry | Stopped | Released | Alert

_RETRY = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("r_id"), OUTBOX.c.claimed_by == bindparam("r_token"))
    .values(
        status="pending",
        next_attempt_at=bindparam("r_next"),
        last_error=bindparam("r_error"),
        claimed_by=None,
        claimed_until=None,
    )
)


def record(db: Database, now: datetime, marks: Sequence[Mark]) -> None:
    """Write the sender's outcomes, in one transaction.

    ``sent`` is the truth whoever holds the lease (and gets a ``notice_sent`` history
    event); the other outcomes apply only while ``claimed_by`` is still the claim's.
    """
    if not marks:
        return
    plain: list[int] = []
    refused: list[Sent] = []
    retries: list[dict[str, Any]] = []
    alerts: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    with db.session() as session:
        for mark in marks:
            if isinstance(mark, Sent):
                if mark.refused:
                    refused.append(mark)
                else:
                    plain.append(mark.row["id"])
                events.append(
                    _event(
                        mark.row,
                        "notice_sent",
                        now,
                        None,
                        {
                            "to": list(mark.row["to_addrs"]),
                            "cc": list(mark.row["cc_addrs"]),
                            "refused": dict(mark.refused),
                            "letter_number": mark.row.get("letter_number"),
                        },
                    )
                )
            elif isinstance(mark, Retry):
                retries.append(
                    {
                        "r_id": mark.row["id"],
                        "r_token": mark.token,
                        "r_next": mark.next_at,
                        "r_error": mark.error[:2000],
                    }
                )
            elif isinstance(mark, Stopped):
                session.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id == mark.row["id"], OUTBOX.c.claimed_by == mark.token)
                    .values(
                        status=mark.status,
                        last_error=mark.error[:2000],
                        claimed_by=None,
                        claimed_until=None,
                    )
                )
                if mark.alert is not None:
                    alerts.append(mark.alert)
                events.append(_event(mark.row, f"notice_{mark.status}", now, mark.error[:500], {}))
            elif isinstance(mark, Released):
                session.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id.in_(list(mark.ids)), OUTBOX.c.claimed_by == mark.token)
                    .values(
                        status="pending",
                        attempts=OUTBOX.c.attempts - 1,
                        claimed_by=None,
                        claimed_until=None,
                    )
                )
            else:
                alerts.append(mark.row)
        sent = {
            "status": "sent",
            "sent_at": now,
            "last_error": None,
            "claimed_by": None,
            "claimed_until": None,
        }
        if plain:
            session.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id.in_(plain), OUTBOX.c.status != "sent")
                .values(refused={}, **sent)
            )
        for mark in refused:
            session.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == mark.row["id"], OUTBOX.c.status != "sent")
                .values(refused=dict(mark.refused), **sent)
            )
        if retries:
            session.connection().execute(_RETRY, retries)
        queries.insert_outbox(session, alerts)
        queries.insert_events(session, [e for e in events if e is not None])


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
    item = _event(row, event, now, reason, data, actor)
    if item is not None:
        queries.insert_events(session, [item])


def _event(
    row: Mapping[str, Any],
    event: str,
    now: datetime,
    reason: str | None,
    data: dict[str, Any],
    actor: str = ACTOR,
) -> dict[str, Any] | None:
    """The history event about an outbox row (none for a row without a case)."""
    if row.get("case_id") is None:
        return None
    return {
        "case_id": row["case_id"],
        "event": event,
        "from_state": None,
        "to_state": None,
        "actor": actor,
        "at": now,
        "recorded_at": now,
        "reason": reason,
        "data": {
            "notice": row["kind"],
            "level": row.get("level") or 0,
            "outbox_id": row["id"],
            "message_id": row.get("message_id"),
            **data,
        },
    }
