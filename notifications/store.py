"""The sender's and the coordinators' side of the outbox, one short transaction each.

The SQL lives in ``storage/`` (:mod:`storage.outbox`: claim with a lease, outcomes,
listings; :mod:`storage.letters`: letter numbers); here is what it means: which
history event an outcome writes, which statuses a coordinator may move a row from,
and the outcomes the sender records in batches (:func:`record` writes many in one
transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kernel.errors import NotFound, TheodoiError
from storage import app_secrets, letters, queries
from storage import outbox as outbox_rows
from storage.db import Database, Session
from storage.models import Unit

ACTOR = "system:sender"
LATE = ("overdue", "escalated")  # the states an escalation letter lists
URGING = "urging_letter"  # the notice kind whose letter an escalation letter cites


class OutboxStateError(TheodoiError):
    """An approval/hold/resend that the row's status does not allow."""


# -- the sender ---------------------------------------------------------------------------


def claim(
    db: Database, now: datetime, token: str, lease_until: datetime, limit: int
) -> list[dict[str, Any]]:
    """Mark up to ``limit`` due rows (or rows whose lease expired) ``sending`` for ``token``."""
    with db.session() as session:
        return outbox_rows.claim(session, now, token, lease_until, limit)


def defer_closed_window(db: Database, now: datetime, opening: datetime) -> int:
    """Outside the send window: due rows wait for its next opening."""
    with db.session() as session:
        return outbox_rows.postpone_due(session, now, opening)


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


def record(db: Database, now: datetime, marks: Sequence[Mark]) -> None:
    """Write the sender's outcomes, in one transaction.

    ``sent`` is the truth whoever holds the lease (and gets a ``notice_sent`` history
    event); the other outcomes apply only while ``claimed_by`` is still the claim's.
    """
    if not marks:
        return
    sent: dict[int, Mapping[str, str]] = {}
    retries: list[tuple[int, str, datetime, str]] = []
    alerts: list[dict[str, Any]] = []
    events: list[dict[str, Any] | None] = []
    with db.session() as session:
        for mark in marks:
            if isinstance(mark, Sent):
                sent[mark.row["id"]] = mark.refused
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
                retries.append((mark.row["id"], mark.token, mark.next_at, mark.error[:2000]))
            elif isinstance(mark, Stopped):
                outbox_rows.mark_stopped(
                    session, mark.row["id"], mark.token, mark.status, mark.error[:2000]
                )
                if mark.alert is not None:
                    alerts.append(mark.alert)
                events.append(_event(mark.row, f"notice_{mark.status}", now, mark.error[:500], {}))
            elif isinstance(mark, Released):
                outbox_rows.release(session, mark.ids, mark.token)
            else:
                alerts.append(mark.row)
        outbox_rows.mark_sent(session, now, sent)
        outbox_rows.mark_retry(session, retries)
        outbox_rows.enqueue(session, alerts)
        queries.insert_events(session, [e for e in events if e is not None])


def insert_rows(db: Database, rows: Sequence[dict[str, Any]]) -> None:
    with db.session() as session:
        outbox_rows.enqueue(session, rows)


def outbox_id_for_key(db: Database, key: str) -> int | None:
    with db.session(write=False) as session:
        return outbox_rows.id_for_key(session, key)


# -- letters -----------------------------------------------------------------------------


def number_letter(
    db: Database,
    row_id: int,
    year: int,
    format_number: Callable[[int], str],
    extra_context: Mapping[str, Any],
) -> tuple[str, dict[str, Any]]:
    """Assign, format and store the letter number in one transaction; (number, context).

    A row numbered already keeps its number and context (a retry renders the same
    letter)."""
    with db.session() as session:
        number, context = letters.letter_of(session, row_id)
        if number:
            return number, context
        text = format_number(letters.next_number(session, year))
        context = {**context, **extra_context}
        letters.set_letter(session, row_id, text, context)
        return text, context


def unit_overdue_cases(db: Database, case_id: int | None, workflow: str) -> list[dict[str, Any]]:
    """The overdue cases of ``case_id``'s unit (same workflow), oldest deadline first,
    each with the number and date of the last urging letter sent about it."""
    if case_id is None:
        return []
    with db.session(write=False) as session:
        rows = letters.unit_cases(session, case_id, workflow, LATE, URGING)
    return [
        {
            "case_id": r["id"],
            "name": r["name"],
            "position": r["position"],
            "decision_number": r["decision_number"],
            "decision_date": _iso(r["decided_on"]),
            "actual_return": _iso(r["actual_return"]),
            "deadline": _iso(r["deadline"]),
            "escalation_level": r["escalation_level"],
            "urging_number": r["urging_number"],
            "urging_date": _iso(r["urging_sent_at"]),
        }
        for r in rows
    ]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


# -- coordinators' actions ---------------------------------------------------------------


def get_row(db: Database, outbox_id: int) -> dict[str, Any]:
    with db.session(write=False) as session:
        row = outbox_rows.get(session, outbox_id)
    if row is None:
        raise NotFound(f"outbox message {outbox_id} does not exist")
    return row


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
        row = outbox_rows.get(session, outbox_id)
        if row is None:
            raise NotFound(f"outbox message {outbox_id} does not exist")
        if row["status"] not in allowed:
            raise OutboxStateError(
                f"outbox message {outbox_id} is {row['status']}; "
                f"this needs one of: {', '.join(allowed)}"
            )
        outbox_rows.update_if_status(session, outbox_id, row["status"], values)
        _history(session, row, event, now, None, {"by": actor}, actor=actor)
        new = outbox_rows.get(session, outbox_id)
        assert new is not None  # read in this transaction
        return new


def units_by_id(db: Database) -> dict[int, Unit]:
    with db.session(write=False) as session:
        return queries.units_by_id(session)


def list_rows(
    db: Database, status: str | None = None, limit: int = 100, case_id: int | None = None
) -> list[dict[str, Any]]:
    with db.session(write=False) as session:
        return outbox_rows.list_rows(session, status, limit, case_id)


# -- secrets ----------------------------------------------------------------------------


def stored_secret(db: Database, name: str) -> str | None:
    """A key an older version kept in the database (``app_secret``), if any."""
    with db.session(write=False) as session:
        return app_secrets.peek(session, name)


def forget_secret(db: Database, name: str) -> None:
    with db.session() as session:
        app_secrets.forget(session, name)


def get_or_create_secret(db: Database, name: str, candidate: str, now: datetime) -> str:
    """The stored value of ``name``; ``candidate`` is stored first if there is none."""
    with db.session() as session:
        return app_secrets.get_or_create(session, name, candidate, now)


def _history(
    session: Session,
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
