"""The outbox table: enqueue, claim with a lease, record outcomes, list.

Every function runs in the caller's transaction (a :class:`storage.db.Session`) and
takes plain values; what an outcome means (which history event goes with it, which
status a coordinator may move a row from) is decided in ``notifications/``.

Claims are compare-and-set updates (the row must still be due or its lease
expired), so two senders never both claim one row: on SQLite the write transaction
is the lock (``BEGIN IMMEDIATE``); on PostgreSQL the candidates are also taken
``FOR UPDATE SKIP LOCKED`` so senders do not wait on each other. Outcomes other
than ``sent`` apply only while ``claimed_by`` is still the claim's token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
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

from storage.db import Session
from storage.dialects import dialect_name, insert_or_ignore
from storage.models import MailServer, OutboxMessage
from storage.tables import CASE, OUTBOX


def enqueue(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert outbox rows; a row whose idempotency key exists already is ignored."""
    insert_outbox(session, rows)


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


def claim(
    session: Session, now: datetime, token: str, lease_until: datetime, limit: int
) -> list[dict[str, Any]]:
    """Mark up to ``limit`` rows ``sending`` for ``token`` until ``lease_until``: rows
    whose lease expired first, then due rows, oldest due first. The claimed rows,
    in the order they fell due."""
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


def postpone_due(session: Session, now: datetime, until: datetime) -> int:
    """Pending rows due at ``now`` become due at ``until``; how many."""
    result = session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.status == "pending", OUTBOX.c.next_attempt_at <= now)
        .values(next_attempt_at=until)
    )
    return result.rowcount or 0


# -- outcomes ---------------------------------------------------------------------------

_UNCLAIMED = {"claimed_by": None, "claimed_until": None}


def mark_sent(session: Session, now: datetime, sent: Mapping[int, Mapping[str, str]]) -> None:
    """``sent`` at ``now`` whoever holds the lease: row id → the recipients the server
    refused while accepting the others (usually none: those rows share one update)."""
    values = {"status": "sent", "sent_at": now, "last_error": None, **_UNCLAIMED}
    plain = [i for i, refused in sent.items() if not refused]
    if plain:
        session.execute(
            update(OUTBOX)
            .where(OUTBOX.c.id.in_(plain), OUTBOX.c.status != "sent")
            .values(refused={}, **values)
        )
    for outbox_id, refused in sent.items():
        if refused:
            session.execute(
                update(OUTBOX)
                .where(OUTBOX.c.id == outbox_id, OUTBOX.c.status != "sent")
                .values(refused=dict(refused), **values)
            )


_RETRY = (
    update(OUTBOX)
    .where(OUTBOX.c.id == bindparam("r_id"), OUTBOX.c.claimed_by == bindparam("r_token"))
    .values(
        status="pending",
        next_attempt_at=bindparam("r_next"),
        last_error=bindparam("r_error"),
        **_UNCLAIMED,
    )
)


def mark_retry(session: Session, retries: Sequence[tuple[int, str, datetime, str]]) -> None:
    """Back to ``pending``: (row id, claim token, next attempt at, error) each, in one
    ``executemany``."""
    if retries:
        params = [
            {"r_id": i, "r_token": token, "r_next": next_at, "r_error": error}
            for i, token, next_at, error in retries
        ]
        session.connection().execute(_RETRY, params)


def mark_stopped(session: Session, outbox_id: int, token: str, status: str, error: str) -> None:
    """``failed`` or ``parked`` with the reason, if ``token`` still holds the row."""
    session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == outbox_id, OUTBOX.c.claimed_by == token)
        .values(status=status, last_error=error, **_UNCLAIMED)
    )


def release(session: Session, ids: Sequence[int], token: str) -> None:
    """Claimed but not tried: back to ``pending`` as before the claim (the attempt the
    claim counted is given back)."""
    session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id.in_(list(ids)), OUTBOX.c.claimed_by == token)
        .values(status="pending", attempts=OUTBOX.c.attempts - 1, **_UNCLAIMED)
    )


# -- single rows and listings -----------------------------------------------------------


def get(session: Session, outbox_id: int) -> dict[str, Any] | None:
    row = session.execute(select(OUTBOX).where(OUTBOX.c.id == outbox_id)).mappings().first()
    return dict(row) if row is not None else None


def id_for_key(session: Session, key: str) -> int | None:
    return session.execute(select(OUTBOX.c.id).where(OUTBOX.c.key == key)).scalar()


def update_if_status(
    session: Session, outbox_id: int, status: str, values: Mapping[str, Any]
) -> bool:
    """Set ``values`` on the row if it is still ``status``; whether it was."""
    result = session.execute(
        update(OUTBOX).where(OUTBOX.c.id == outbox_id, OUTBOX.c.status == status).values(**values)
    )
    return bool(result.rowcount)


def list_rows(
    session: Session, status: str | None = None, limit: int = 100, case_id: int | None = None
) -> list[dict[str, Any]]:
    """The newest ``limit`` rows, optionally of one status and/or one case."""
    stmt = select(OUTBOX).order_by(OUTBOX.c.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(OUTBOX.c.status == status)
    if case_id is not None:
        stmt = stmt.where(OUTBOX.c.case_id == case_id)
    return [dict(r) for r in session.execute(stmt).mappings()]


def insert_outbox(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert notices; a row whose idempotency key exists already is ignored."""
    if not rows:
        return
    maker = pg_insert if dialect_name(session) == "postgresql" else sqlite_insert
    stmt = maker(OUTBOX).on_conflict_do_nothing(index_elements=["key"])
    session.connection().execute(stmt, list(rows))


def next_outbox_at(session: Session, until: datetime) -> datetime | None:
    stmt = select(func.min(OUTBOX.c.next_attempt_at)).where(
        OUTBOX.c.status == "pending", OUTBOX.c.next_attempt_at <= until
    )
    return session.execute(stmt).scalar()


def outbox_status_counts(session: Session) -> dict[str, int]:
    """Outbox rows per status (pending, sending, sent, failed, held, parked)."""
    stmt = select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status)
    return {status: int(n) for status, n in session.execute(stmt)}


def outbox_for_case(session: Session, case_id: int) -> list[OutboxMessage]:
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.case_id == case_id)
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
    )
    return list(session.scalars(stmt))


# -- truth at send time -----------------------------------------------------------------

SERVER = MailServer.__table__
TO_GO = ("pending", "held", "sending")  # a row that may still leave


def cases_now(session: Session, case_ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    """case id → the case as it is now: ``state, escalation_level, deadline,
    report_filed_on, workflow`` (cases that no longer exist are absent)."""
    ids = sorted({i for i in case_ids if i is not None})
    if not ids:
        return {}
    stmt = select(
        CASE.c.id,
        CASE.c.workflow,
        CASE.c.state,
        CASE.c.escalation_level,
        CASE.c.deadline,
        CASE.c.report_filed_on,
    ).where(CASE.c.id.in_(ids))
    return {r["id"]: dict(r) for r in session.execute(stmt).mappings()}


def newer_to_go(session: Session, rows: Sequence[Mapping[str, Any]]) -> set[int]:
    """The ids among ``rows`` that a newer row of the same case and kind, still to go
    (pending, held, sending), makes redundant."""
    pairs = {(r["case_id"], r["kind"]) for r in rows if r.get("case_id") is not None}
    if not pairs:
        return set()
    stmt = (
        select(OUTBOX.c.case_id, OUTBOX.c.kind, func.max(OUTBOX.c.id))
        .where(
            OUTBOX.c.case_id.in_(sorted({c for c, _k in pairs})),
            OUTBOX.c.kind.in_(sorted({k for _c, k in pairs})),
            OUTBOX.c.status.in_(TO_GO),
        )
        .group_by(OUTBOX.c.case_id, OUTBOX.c.kind)
    )
    newest = {(c, k): n for c, k, n in session.execute(stmt)}
    return {
        r["id"]
        for r in rows
        if r.get("case_id") is not None and newest.get((r["case_id"], r["kind"]), 0) > r["id"]
    }


def withdraw(
    session: Session,
    outbox_id: int,
    status: str,
    reason: str,
    *,
    token: str | None = None,
    from_status: Iterable[str] = (),
) -> bool:
    """``withdrawn`` or ``superseded`` with the reason, if ``token`` still holds the row
    (the sender) or it is still in one of ``from_status`` (a coordinator); whether it was."""
    cond = OUTBOX.c.claimed_by == token if token else OUTBOX.c.status.in_(tuple(from_status))
    result = session.execute(
        update(OUTBOX)
        .where(OUTBOX.c.id == outbox_id, cond)
        .values(status=status, last_error=reason[:2000], **_UNCLAIMED)
    )
    return bool(result.rowcount)


def set_context(session: Session, outbox_id: int, context: Mapping[str, Any]) -> None:
    session.execute(update(OUTBOX).where(OUTBOX.c.id == outbox_id).values(context=dict(context)))


def give_back(session: Session, ids: Sequence[int], token: str) -> None:
    """Claimed, tried, but the server could not be reached: back to ``pending`` at the
    same place in the queue, the attempt given back (an outage burns no attempts)."""
    release(session, ids, token)


# -- the mail server's circuit breaker ------------------------------------------------------


def server_state(session: Session, name: str = "smtp") -> dict[str, Any] | None:
    row = session.execute(select(SERVER).where(SERVER.c.name == name)).mappings().first()
    return dict(row) if row is not None else None


def server_down(
    session: Session, now: datetime, error: str, next_probe_at: datetime, name: str = "smtp"
) -> None:
    """Record a failed attempt to reach the server: down since the first failure."""
    session.execute(insert_or_ignore(session, SERVER, "name").values(name=name, failures=0))
    session.execute(
        update(SERVER)
        .where(SERVER.c.name == name)
        .values(
            down_since=func.coalesce(SERVER.c.down_since, now),
            last_error=error[:2000],
            failures=SERVER.c.failures + 1,
            next_probe_at=next_probe_at,
            checked_at=now,
        )
    )


def server_up(session: Session, now: datetime, name: str = "smtp") -> bool:
    """Record that the server answered; whether it had been down."""
    state = server_state(session, name)
    was_down = bool(state and state["down_since"])
    session.execute(insert_or_ignore(session, SERVER, "name").values(name=name, failures=0))
    values: dict[str, Any] = {"checked_at": now, "failures": 0, "next_probe_at": None}
    if was_down or state is None:
        values.update(down_since=None, up_since=now)
    session.execute(update(SERVER).where(SERVER.c.name == name).values(**values))
    return was_down
