"""Read models for the web pages and the JSON API (the engine has cases, timers, events …).

The case list pages with a keyset cursor (sort value, id), so page 2,000 costs what
page 1 costs; filters use the indexed columns (workflow/state, unit/state, deadline,
name_key, decision). Everything here takes the caller's session and plain values and
returns rows, models or plain values; what a page shows and who may see it is decided
in web/.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.sql import ColumnElement, Select

from storage.db import Session
from storage.models import (
    Attachment,
    Case,
    Decision,
    Event,
    OutboxMessage,
    Timer,
    Unit,
)
from storage.tables import CASE

DECISION = Decision.__table__
UNIT = Unit.__table__

PAGE_SIZE = 50

# sort name → (column, descending?, value parser for the cursor). Each is an indexed
# column, with the id as tie-breaker (SQLite indexes carry the rowid), so a page is an
# index range scan. Sorting by deadline shows the cases that have one.
SORTS: dict[str, tuple[Any, bool, Any]] = {
    "id": (CASE.c.id, True, int),
    "deadline": (CASE.c.deadline, False, date.fromisoformat),
    "name": (CASE.c.name_key, False, str),
}


@dataclass
class CaseFilter:
    """What the case list shows; every field is optional."""

    workflow: str | None = None
    state: str | None = None
    unit_id: int | None = None
    category: str | None = None
    issuer: str | None = None
    decision: str | None = None  # decision number (exact)
    period_from: date | None = None  # decision date from … to
    period_to: date | None = None
    q: str | None = None  # words from a name or a decision number
    q_key: str | None = None  # q as a name's identity key (name_key); q itself if unset
    sort: str = "id"
    # the registered workflows: a state filter alone then probes ix_case_workflow_state
    known_workflows: tuple[str, ...] = ()
    only_unit: int | None = field(default=None, repr=False)  # a unit user's own unit

    def conditions(self) -> list[ColumnElement[bool]]:
        conds: list[ColumnElement[bool]] = []
        if self.workflow:
            conds.append(CASE.c.workflow == self.workflow)
        if self.state:
            conds.append(CASE.c.state == self.state)
            if not self.workflow and self.known_workflows:
                conds.append(CASE.c.workflow.in_(self.known_workflows))
        if self.unit_id is not None:
            conds.append(CASE.c.unit_id == self.unit_id)
        if self.only_unit is not None:
            conds.append(CASE.c.unit_id == self.only_unit)
        if self.category:
            conds.append(CASE.c.category == self.category)
        if self.issuer:
            conds.append(DECISION.c.issuer == self.issuer)
        if self.decision:
            conds.append(DECISION.c.number == self.decision.strip())
        if self.period_from:
            conds.append(DECISION.c.decided_on >= self.period_from)
        if self.period_to:
            conds.append(DECISION.c.decided_on <= self.period_to)
        if self.sort == "deadline":
            conds.append(CASE.c.deadline.is_not(None))
        if self.q and self.q.strip():
            conds.append(
                or_(
                    CASE.c.name_key.contains(self.q_key or self.q.strip(), autoescape=True),
                    DECISION.c.number.contains(self.q.strip(), autoescape=True),
                )
            )
        return conds

    @property
    def selective(self) -> bool:
        """A filter that an index narrows to a small part of the cases."""
        return bool(
            self.state or self.decision or self.unit_id is not None or self.only_unit is not None
        )

    @property
    def needs_decision(self) -> bool:
        return bool(self.issuer or self.decision or self.period_from or self.period_to or self.q)


def _base(columns: list[Any], flt: CaseFilter, with_joins: bool) -> Select:
    source = CASE
    if with_joins or flt.needs_decision:
        source = source.outerjoin(DECISION, CASE.c.decision_id == DECISION.c.id)
    if with_joins:
        source = source.outerjoin(UNIT, CASE.c.unit_id == UNIT.c.id)
    stmt = select(*columns).select_from(source)
    conds = flt.conditions()
    return stmt.where(and_(*conds)) if conds else stmt


LIST_COLUMNS = [
    CASE.c.id,
    CASE.c.workflow,
    CASE.c.state,
    CASE.c.name,
    CASE.c.position,
    CASE.c.category,
    CASE.c.country_codes,
    CASE.c.purpose,
    CASE.c.planned_start,
    CASE.c.planned_end,
    CASE.c.actual_end,
    CASE.c.deadline,
    CASE.c.report_filed_on,
    CASE.c.filed_late,
    CASE.c.escalation_level,
    CASE.c.updated_at,
    CASE.c.unit_id,
    UNIT.c.code.label("unit_code"),
    UNIT.c.name.label("unit_name"),
    DECISION.c.number.label("decision_number"),
    DECISION.c.decided_on.label("decision_date"),
    DECISION.c.issuer.label("issuer"),
]


def encode_cursor(value: Any, case_id: int) -> str:
    raw = json.dumps([value.isoformat() if hasattr(value, "isoformat") else value, case_id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, sort: str) -> tuple[Any, int] | None:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value, case_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        return SORTS[sort][2](value), int(case_id)
    except (ValueError, TypeError, KeyError):
        return None


@dataclass
class Page:
    rows: list[dict[str, Any]]
    next_cursor: str | None
    total: int


def case_page(
    session: Session, flt: CaseFilter, cursor: str | None = None, size: int = PAGE_SIZE
) -> Page:
    """One page of the list, the cursor of the next one, and the number of matches."""
    page = _page_without_total(session, flt, cursor, size)
    page.total = count_cases(session, flt)
    return page


def count_cases(session: Session, flt: CaseFilter) -> int:
    stmt = _base([func.count()], flt, with_joins=False)
    return int(session.execute(stmt).scalar_one())


def iter_cases(session: Session, flt: CaseFilter, batch: int = 2000) -> Iterator[dict[str, Any]]:
    """Every case the filter matches, in the list's order, a batch at a time (exports);
    pages without the total, which exports do not need."""
    cursor = None
    while True:
        page = _page_without_total(session, flt, cursor, batch)
        yield from page.rows
        cursor = page.next_cursor
        if cursor is None:
            return


def _page_without_total(session: Session, flt: CaseFilter, cursor: str | None, size: int) -> Page:
    sort = flt.sort if flt.sort in SORTS else "id"
    expr, desc, _parse = SORTS[sort]
    if sort == "deadline" and flt.selective:
        # Walking the deadline index would read every dated case to find a few of this
        # state or unit; an expression makes the planner use the filter's index and
        # sort the (few) matches instead.
        expr = func.coalesce(CASE.c.deadline, CASE.c.deadline)
    stmt = _base(LIST_COLUMNS + [expr.label("_sort")], flt, with_joins=True)
    after = decode_cursor(cursor, sort) if cursor else None
    if after is not None:
        value, last_id = after
        if desc:
            stmt = stmt.where(or_(expr < value, and_(expr == value, CASE.c.id < last_id)))
        else:
            stmt = stmt.where(or_(expr > value, and_(expr == value, CASE.c.id > last_id)))
    order = [expr.desc(), CASE.c.id.desc()] if desc else [expr.asc(), CASE.c.id.asc()]
    rows = [dict(r._mapping) for r in session.execute(stmt.order_by(*order).limit(size + 1))]
    next_cursor = None
    if len(rows) > size:
        rows = rows[:size]
        next_cursor = encode_cursor(rows[-1]["_sort"], rows[-1]["id"])
    return Page(rows, next_cursor, -1)


# -- dashboard --------------------------------------------------------------------------


def state_counts(session: Session, only_unit: int | None = None) -> dict[str, dict[str, int]]:
    """workflow → state → number of cases."""
    stmt = select(CASE.c.workflow, CASE.c.state, func.count()).group_by(
        CASE.c.workflow, CASE.c.state
    )
    if only_unit is not None:
        stmt = stmt.where(CASE.c.unit_id == only_unit)
    out: dict[str, dict[str, int]] = {}
    for workflow, state, n in session.execute(stmt):
        out.setdefault(workflow, {})[state] = int(n)
    return out


def late_cases(
    session: Session, states: Iterable[str], limit: int = 100, only_unit: int | None = None
) -> list[dict]:
    """Cases in one of ``states`` (the late ones), the longest overdue first."""
    flt = CaseFilter(only_unit=only_unit)
    stmt = _base(LIST_COLUMNS, flt, with_joins=True).where(CASE.c.state.in_(tuple(states)))
    stmt = stmt.order_by(CASE.c.deadline.asc(), CASE.c.id).limit(limit)
    return [dict(r._mapping) for r in session.execute(stmt)]


def upcoming_deadlines(
    session: Session,
    states: Iterable[str],
    start: date,
    end: date,
    limit: int = 100,
    only_unit: int | None = None,
) -> list[dict]:
    """Cases in one of ``states`` (waiting for a report) whose deadline falls in
    [start, end], the soonest first."""
    flt = CaseFilter(only_unit=only_unit)
    stmt = _base(LIST_COLUMNS, flt, with_joins=True).where(
        CASE.c.state.in_(tuple(states)), CASE.c.deadline >= start, CASE.c.deadline <= end
    )
    stmt = stmt.order_by(CASE.c.deadline.asc(), CASE.c.id).limit(limit)
    return [dict(r._mapping) for r in session.execute(stmt)]


def extension_requests(session: Session, key: str, limit: int = 100) -> list[dict]:
    """Cases with an open extension request (``data[key]``), the oldest deadline
    first; each row carries the request as ``request``."""
    flt = CaseFilter()
    stmt = _base([*LIST_COLUMNS, CASE.c.data], flt, with_joins=True).where(
        CASE.c.data[key].as_string().is_not(None)
    )
    stmt = stmt.order_by(CASE.c.deadline.asc(), CASE.c.id).limit(limit)
    out = []
    for row in session.execute(stmt):
        item = dict(row._mapping)
        request = (item.pop("data") or {}).get(key)
        if request:
            out.append({**item, "request": request})
    return out


def cases_in_state(session: Session, state: str | Iterable[str], limit: int = 200) -> list[dict]:
    """Cases in ``state`` (one, or any of several: the escalated ones), the highest
    escalation level first, then by deadline."""
    if isinstance(state, str):
        stmt = _base(LIST_COLUMNS, CaseFilter(state=state), with_joins=True)
    else:
        stmt = _base(LIST_COLUMNS, CaseFilter(), with_joins=True)
        stmt = stmt.where(CASE.c.state.in_(tuple(state)))
    stmt = stmt.order_by(CASE.c.escalation_level.desc(), CASE.c.deadline.asc()).limit(limit)
    return [dict(r._mapping) for r in session.execute(stmt)]


def events_of(
    session: Session, case_ids: list[int], events: Iterable[str]
) -> dict[int, list[Event]]:
    """These cases' events named in ``events``, per case, oldest first."""
    if not case_ids:
        return {}
    stmt = (
        select(Event)
        .where(Event.case_id.in_(case_ids), Event.event.in_(tuple(events)))
        .order_by(Event.at, Event.id)
    )
    out: dict[int, list[Event]] = {}
    for event in session.scalars(stmt):
        out.setdefault(event.case_id, []).append(event)
    return out


# -- one case -----------------------------------------------------------------------------


def unit(session: Session, unit_id: int | None) -> Unit | None:
    return session.get(Unit, unit_id) if unit_id else None


def decision(session: Session, decision_id: int | None) -> Decision | None:
    return session.get(Decision, decision_id) if decision_id else None


def latest_event(session: Session, case_id: int, event: str) -> Event | None:
    """The case's most recent event of this name (by the order it was written)."""
    stmt = (
        select(Event)
        .where(Event.case_id == case_id, Event.event == event)
        .order_by(Event.id.desc())
        .limit(1)
    )
    return session.scalars(stmt).first()


def attachments(session: Session, case_id: int) -> list[dict[str, Any]]:
    """The case's files, without loading their bytes."""
    stmt = (
        select(
            Attachment.id,
            Attachment.event_id,
            Attachment.filename,
            Attachment.content_type,
            Attachment.size,
            Attachment.uploaded_by,
            Attachment.uploaded_at,
        )
        .where(Attachment.case_id == case_id)
        .order_by(Attachment.id)
    )
    return [dict(r._mapping) for r in session.execute(stmt)]  # type: ignore[misc]


def attachment(session: Session, case_id: int, file_id: int) -> Attachment | None:
    """One of the case's files, with its bytes (None if it belongs to another case)."""
    stmt = select(Attachment).where(Attachment.id == file_id, Attachment.case_id == case_id)
    return session.scalars(stmt).first()


def add_attachment(session: Session, values: dict[str, Any]) -> int:
    """Keep a file with a case (and the event it came with); its id."""
    row = Attachment(**values)
    session.add(row)
    session.flush()
    return row.id


# -- outbox -----------------------------------------------------------------------------


def notices(
    session: Session,
    status: str | None = None,
    kind: str | None = None,
    statuses: tuple[str, ...] = (),
    limit: int = 200,
    due_before: datetime | None = None,
) -> list[OutboxMessage]:
    """Outbox messages, the newest first."""
    stmt = select(OutboxMessage)
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    if statuses:
        stmt = stmt.where(OutboxMessage.status.in_(statuses))
    if kind:
        stmt = stmt.where(OutboxMessage.kind == kind)
    if due_before is not None:
        stmt = stmt.where(OutboxMessage.next_attempt_at < due_before)
    stmt = stmt.order_by(OutboxMessage.id.desc()).limit(limit)
    return list(session.scalars(stmt))


def notice(session: Session, message_id: int) -> OutboxMessage | None:
    return session.get(OutboxMessage, message_id)


def notice_kinds(session: Session) -> list[str]:
    """The kinds of message the outbox holds, sorted."""
    return sorted(set(session.execute(select(OutboxMessage.kind).distinct()).scalars()))


def timers_due_before(session: Session, until: datetime, limit: int = 500) -> list[Any]:
    """Pending timers that fire before ``until``, soonest first, as rows of
    (Timer, case name, case state)."""
    stmt = (
        select(Timer, Case.name, Case.state)
        .join(Case, Case.id == Timer.case_id)
        .where(Timer.status == "pending", Timer.fire_at < until)
        .order_by(Timer.fire_at)
        .limit(limit)
    )
    return list(session.execute(stmt).all())


# -- units ------------------------------------------------------------------------------


def units(session: Session) -> list[Unit]:
    """Every unit, by code."""
    return list(session.scalars(select(Unit).order_by(Unit.code)))


def save_unit(session: Session, unit: Unit) -> Unit:
    """Insert or update a unit."""
    session.add(unit)
    session.flush()
    return unit
