"""Named queries: the engine calls these and never builds SQL itself.

Writes are batched (Core ``executemany``): the ORM's one flush per row is ten times
slower than the database allows. Claims differ by backend: on SQLite the write
transaction itself is the lock (BEGIN IMMEDIATE); on PostgreSQL the cases are locked
with ``FOR UPDATE SKIP LOCKED`` so several workers share the due timers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, bindparam, func, insert, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session

from storage.models import (
    CalendarDay,
    Case,
    Decision,
    Event,
    OutboxMessage,
    PeriodicRun,
    Timer,
    Unit,
)

CASE = Case.__table__
TIMER = Timer.__table__
EVENT = Event.__table__
OUTBOX = OutboxMessage.__table__
_CASE_MANAGER = Case._sa_class_manager  # type: ignore[attr-defined]

# Columns the engine may change when it moves a case.
MUTABLE_CASE_COLUMNS = (
    "state",
    "version",
    "actual_departure",
    "actual_return",
    "deadline",
    "report_filed_on",
    "filed_late",
    "escalation_level",
    "data",
    "updated_at",
    "name",
    "name_key",
    "position",
    "category",
    "destinations",
    "purpose",
    "email",
    "planned_departure",
    "planned_return",
    "unit_id",
    "decision_id",
)


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


# -- cases ---------------------------------------------------------------------------


def case_from_row(row: Any, fields: tuple[str, ...] | None = None) -> Case:
    """A detached Case: the engine works on it in memory and writes it in batches.

    Built the way the ORM builds a loaded row (new instance, values into its dict):
    the values come from the database already typed, and ``Case(**values)`` would
    validate them again at ten times the cost (bench: 80 µs vs 8 µs per case).
    """
    case = _CASE_MANAGER.new_instance()
    fields = fields or row._fields  # Row._fields builds a tuple each time: pass it once
    case.__dict__.update(zip(fields, row, strict=True))
    object.__setattr__(case, "__pydantic_fields_set__", set(fields))
    return case


CASE_FIELDS = tuple(Case.model_fields)
_CASE_DEFAULTS = {
    name: info.default
    for name, info in Case.model_fields.items()
    if not info.is_required() and info.default_factory is None
}
_CASE_FACTORIES = [
    (name, info.default_factory)
    for name, info in Case.model_fields.items()
    if info.default_factory is not None
]


def new_case_values(values: dict[str, Any]) -> dict[str, Any]:
    """A new case's fields as ``Case(**values)`` sets them: the model's defaults, then
    ``values`` (keys that are no field ignored)."""
    row = dict(_CASE_DEFAULTS)
    row.update((name, factory()) for name, factory in _CASE_FACTORIES)
    row.update((k, v) for k, v in values.items() if k in Case.model_fields)
    return row


def case_from_fields(source: Any) -> Case:
    """A detached Case with the fields of ``source`` (any object that has them)."""
    return case_from_row(tuple(getattr(source, name) for name in CASE_FIELDS), CASE_FIELDS)


def get_case(session: Session, case_id: int, *, lock: bool = False) -> Case | None:
    stmt = select(CASE).where(CASE.c.id == case_id)
    if lock and _dialect(session) == "postgresql":
        stmt = stmt.with_for_update()
    row = session.execute(stmt).first()
    return case_from_row(row) if row else None


_INSERT_CASE = insert(CASE).returning(CASE.c.id)


def insert_case(session: Session, values: dict[str, Any]) -> int:
    # One statement built once, values as parameters: a statement built per call
    # (``.values(**values)``) cost about a tenth of creating a case (bench).
    result = session.connection().execute(_INSERT_CASE, values)
    return int(result.scalar_one())


_INSERT_CASES = insert(CASE).returning(CASE.c.id, sort_by_parameter_order=True)
_NEW_CASE_COLUMNS = tuple(c.name for c in CASE.columns if c.name != "id")


def insert_cases(session: Session, cases: Sequence[Any]) -> list[int]:
    """Insert new cases (Cases, or any objects with their fields), one statement for
    all; their ids, in the order given."""
    rows = [{col: getattr(case, col) for col in _NEW_CASE_COLUMNS} for case in cases]
    if len(rows) == 1:
        return [insert_case(session, rows[0])]
    if not rows:
        return []
    return [int(i) for i in session.connection().execute(_INSERT_CASES, rows).scalars()]


_UPDATE_CASES = (
    update(CASE)
    .where(and_(CASE.c.id == bindparam("_id"), CASE.c.version == bindparam("_expected")))
    .values({col: bindparam(col) for col in MUTABLE_CASE_COLUMNS})
)


def update_cases(session: Session, cases: Sequence[tuple[Case, int]]) -> bool:
    """Write moved cases, each only if its version is still the expected one.

    False when some case had moved meanwhile (optimistic lock): roll back then.
    """
    if not cases:
        return True
    stmt = _UPDATE_CASES
    rows = []
    for case, expected in cases:
        row = {col: getattr(case, col) for col in MUTABLE_CASE_COLUMNS}
        row["_id"], row["_expected"] = case.id, expected
        rows.append(row)
    result = session.connection().execute(stmt, rows)
    return result.rowcount == len(rows)


def find_cases(
    session: Session,
    *,
    workflow: str | None = None,
    state: str | None = None,
    unit_id: int | None = None,
    parent_id: int | None = None,
    limit: int | None = None,
    with_deadline: bool = False,
) -> list[Case]:
    stmt = select(CASE).order_by(CASE.c.id)
    if workflow:
        stmt = stmt.where(CASE.c.workflow == workflow)
    if state:
        stmt = stmt.where(CASE.c.state == state)
    if unit_id is not None:
        stmt = stmt.where(CASE.c.unit_id == unit_id)
    if parent_id is not None:
        stmt = stmt.where(CASE.c.parent_id == parent_id)
    if with_deadline:
        stmt = stmt.where(CASE.c.deadline.is_not(None))
    if limit:
        stmt = stmt.limit(limit)
    return [case_from_row(r) for r in session.execute(stmt)]


def find_case_by_identity(
    session: Session, workflow: str, decision_id: int | None, name_key: str
) -> Case | None:
    stmt = select(CASE).where(
        CASE.c.workflow == workflow, CASE.c.decision_id == decision_id, CASE.c.name_key == name_key
    )
    row = session.execute(stmt).first()
    return case_from_row(row) if row else None


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


# -- units and decisions -----------------------------------------------------------------


def units_by_id(session: Session) -> dict[int, Unit]:
    return {u.id: u for u in session.scalars(select(Unit))}


_UNITS_IN = select(Unit.__table__).where(Unit.__table__.c.id.in_(bindparam("ids", expanding=True)))
_DECISIONS_IN = select(Decision.__table__).where(
    Decision.__table__.c.id.in_(bindparam("ids", expanding=True))
)


def unit_rows_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, Any]:
    """The given units as read-only rows (attributes as on ``Unit``), for routing
    notices: no ORM objects to build, no other units loaded (bench: loading every
    unit per created case cost a quarter of creating it)."""
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    return {r.id: r for r in session.connection().execute(_UNITS_IN, {"ids": wanted})}


def decision_rows_by_id(session: Session, ids: Iterable[int | None]) -> dict[int, Any]:
    """The given decisions as read-only rows (attributes as on ``Decision``)."""
    wanted = [i for i in set(ids) if i is not None]
    if not wanted:
        return {}
    return {r.id: r for r in session.connection().execute(_DECISIONS_IN, {"ids": wanted})}


def unit_by_code(session: Session, code: str) -> Unit | None:
    return session.scalars(select(Unit).where(Unit.code == code)).first()


def unit_by_code_or_name(session: Session, text: str) -> Unit | None:
    return session.scalars(select(Unit).where(or_(Unit.code == text, Unit.name == text))).first()


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


def calendar_overlay(session: Session) -> tuple[list[date], list[date]]:
    """(closures, make-up working days) an admin added as data."""
    rows = session.scalars(select(CalendarDay)).all()
    return (
        [r.day for r in rows if r.kind == "closure"],
        [r.day for r in rows if r.kind == "working"],
    )


# -- timers -----------------------------------------------------------------------------


def claim_due(session: Session, now: datetime, limit: int) -> dict[int, list[Any]]:
    """Due timers grouped by case, for up to ``limit`` cases, claimed for this transaction.

    All of a claimed case's due timers come along, so a case is caught up whole.
    """
    due_cases = (
        select(TIMER.c.case_id)
        .where(TIMER.c.status == "pending", TIMER.c.fire_at <= now)
        .order_by(TIMER.c.fire_at)
        .limit(limit * 4)
    )
    if _dialect(session) == "postgresql":
        # Lock the cases in the same scan that finds them: rows other workers hold
        # are skipped and the LIMIT counts only rows this worker got, so N workers
        # take N different batches instead of queueing on the first one.
        locked = (
            select(CASE.c.id)
            .join(TIMER, TIMER.c.case_id == CASE.c.id)
            .where(TIMER.c.status == "pending", TIMER.c.fire_at <= now)
            .order_by(TIMER.c.fire_at)
            .limit(limit)
            .with_for_update(of=CASE, skip_locked=True)
        )
        candidate_ids = list(dict.fromkeys(session.execute(locked).scalars()))
    else:  # SQLite: BEGIN IMMEDIATE already made this transaction the only writer
        candidate_ids = list(dict.fromkeys(session.execute(due_cases).scalars()))[:limit]
    if not candidate_ids:
        return {}
    stmt = (
        select(TIMER)
        .where(
            TIMER.c.case_id.in_(candidate_ids),
            TIMER.c.status == "pending",
            TIMER.c.fire_at <= now,
        )
        .order_by(TIMER.c.fire_at, TIMER.c.id)
    )
    grouped: dict[int, list[Any]] = {}
    for row in session.execute(stmt):
        grouped.setdefault(row.case_id, []).append(row)
    return grouped


def load_cases(session: Session, ids: Iterable[int]) -> list[Case]:
    ids = list(ids)
    if not ids:
        return []
    result = session.execute(select(CASE).where(CASE.c.id.in_(ids)))
    fields = tuple(result.keys())
    return [case_from_row(r, fields) for r in result]


def next_timer_at(session: Session, until: datetime | None = None) -> datetime | None:
    stmt = select(func.min(TIMER.c.fire_at)).where(TIMER.c.status == "pending")
    if until is not None:
        stmt = stmt.where(TIMER.c.fire_at <= until)
    return session.execute(stmt).scalar()


def due_timer_count(session: Session, now: datetime) -> int:
    stmt = select(func.count()).where(TIMER.c.status == "pending", TIMER.c.fire_at <= now)
    return int(session.execute(stmt).scalar_one())


def pending_timers(session: Session, case_id: int) -> list[Timer]:
    stmt = (
        select(Timer)
        .where(Timer.case_id == case_id, Timer.status == "pending")
        .order_by(Timer.fire_at)
    )
    return list(session.scalars(stmt))


def set_timer_status(
    session: Session, ids: Sequence[int], status: str, at: datetime, error: str | None = None
) -> None:
    if not ids:
        return
    stmt = (
        update(TIMER)
        .where(TIMER.c.id == bindparam("_id"), TIMER.c.status == "pending")
        .values(status=status, fired_at=at, last_error=error)
    )
    session.connection().execute(stmt, [{"_id": i} for i in ids])


def cancel_pending_timers(session: Session, case_ids: Sequence[int], at: datetime) -> None:
    if not case_ids:
        return
    stmt = (
        update(TIMER)
        .where(TIMER.c.case_id == bindparam("_case"), TIMER.c.status == "pending")
        .values(status="cancelled", fired_at=at)
    )
    session.connection().execute(stmt, [{"_case": i} for i in case_ids])


def insert_timers(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(insert(TIMER), list(rows))


# -- history and outbox ---------------------------------------------------------------------


def insert_events(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.connection().execute(insert(EVENT), list(rows))


def insert_outbox(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Insert notices; a row whose idempotency key exists already is ignored."""
    if not rows:
        return
    maker = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
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


def claim_period(session: Session, key: str, now: datetime, worker: str) -> bool:
    """Insert-or-ignore a once-per-period key; True for the one worker that got it."""
    maker = pg_insert if _dialect(session) == "postgresql" else sqlite_insert
    stmt = maker(PeriodicRun.__table__).values(key=key, ran_at=now, worker=worker)
    stmt = stmt.on_conflict_do_nothing(index_elements=["key"])
    # RETURNING, not rowcount: psycopg reports -1 for this statement.
    result = session.execute(stmt.returning(PeriodicRun.__table__.c.key))
    return result.first() is not None


# -- cases, for the creation paths (engine/creation.py, engine/imports/writer.py) ------


def cases_under_decisions(
    session: Session, workflow: str, decision_ids: Iterable[int]
) -> list[Case]:
    """The cases of ``workflow`` opened under the given decisions (in chunks: a large
    import names thousands)."""
    ids = sorted(set(decision_ids))
    found: list[Case] = []
    for start in range(0, len(ids), 5000):
        stmt = select(Case).where(
            Case.workflow == workflow, Case.decision_id.in_(ids[start : start + 5000])
        )
        found.extend(session.scalars(stmt))
    return found


def find_case_by_key(session: Session, workflow: str, name_key: str) -> Case | None:
    """The case of ``workflow`` with this identity key, whatever its decision (a
    project's code, an agreement's reference)."""
    stmt = select(CASE).where(CASE.c.workflow == workflow, CASE.c.name_key == name_key)
    row = session.execute(stmt).first()
    return case_from_row(row) if row else None
