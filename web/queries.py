"""Read queries the web pages need (storage/queries.py holds the engine's own).

The case list pages with a keyset cursor (sort value, id), so page 2,000 costs what
page 1 costs; filters use the indexed columns (workflow/state, unit/state, deadline,
name_key, decision).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.sql import ColumnElement, Select
from sqlmodel import Session

from engine.imports.text import name_key
from storage.models import (
    Attachment,
    CalendarDay,
    Case,
    Decision,
    Event,
    OutboxMessage,
    Unit,
    User,
)

CASE = Case.__table__
DECISION = Decision.__table__
UNIT = Unit.__table__
OUTBOX = OutboxMessage.__table__

PAGE_SIZE = 50
OPEN_LATE = ("overdue", "escalated")
WAITING = ("report_due", "due")  # a trip's report, an obligation (NGO report, review)

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
            text = self.q.strip()
            key = name_key(text)
            conds.append(
                or_(
                    CASE.c.name_key.contains(key, autoescape=True),
                    DECISION.c.number.contains(text, autoescape=True),
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
    CASE.c.destinations,
    CASE.c.purpose,
    CASE.c.planned_departure,
    CASE.c.planned_return,
    CASE.c.actual_return,
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
    """Every case the filter matches, in the list's order, a batch at a time (exports)."""
    cursor = None
    while True:
        page = case_page_rows(session, flt, cursor, batch)
        yield from page[0]
        cursor = page[1]
        if cursor is None:
            return


def case_page_rows(
    session: Session, flt: CaseFilter, cursor: str | None, size: int
) -> tuple[list[dict[str, Any]], str | None]:
    """A page without the total (exports do not need it)."""
    page = _page_without_total(session, flt, cursor, size)
    return page.rows, page.next_cursor


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


def late_cases(session: Session, limit: int = 100, only_unit: int | None = None) -> list[dict]:
    """Open cases past their deadline, the longest overdue first."""
    flt = CaseFilter(only_unit=only_unit)
    stmt = _base(LIST_COLUMNS, flt, with_joins=True).where(CASE.c.state.in_(OPEN_LATE))
    stmt = stmt.order_by(CASE.c.deadline.asc(), CASE.c.id).limit(limit)
    return [dict(r._mapping) for r in session.execute(stmt)]


def upcoming_deadlines(
    session: Session, start: date, end: date, limit: int = 100, only_unit: int | None = None
) -> list[dict]:
    """Cases waiting for a report (a trip's or an obligation's) whose deadline falls in
    [start, end]."""
    flt = CaseFilter(only_unit=only_unit)
    stmt = _base(LIST_COLUMNS, flt, with_joins=True).where(
        CASE.c.state.in_(WAITING), CASE.c.deadline >= start, CASE.c.deadline <= end
    )
    stmt = stmt.order_by(CASE.c.deadline.asc(), CASE.c.id).limit(limit)
    return [dict(r._mapping) for r in session.execute(stmt)]


def escalated_cases(session: Session, limit: int = 200) -> list[dict]:
    flt = CaseFilter(state="escalated")
    stmt = _base(LIST_COLUMNS, flt, with_joins=True)
    stmt = stmt.order_by(CASE.c.escalation_level.desc(), CASE.c.deadline.asc()).limit(limit)
    return [dict(r._mapping) for r in session.execute(stmt)]


def escalation_history(session: Session, case_ids: list[int]) -> dict[int, list[Event]]:
    """The escalation-related events of these cases, oldest first."""
    if not case_ids:
        return {}
    stmt = (
        select(Event)
        .where(
            Event.case_id.in_(case_ids),
            Event.event.in_(("deadline_passed", "escalate", "extend", "file", "note")),
        )
        .order_by(Event.at, Event.id)
    )
    out: dict[int, list[Event]] = {}
    for event in session.scalars(stmt):
        out.setdefault(event.case_id, []).append(event)
    return out


# -- outbox -----------------------------------------------------------------------------


def notices(
    session: Session,
    status: str | None = None,
    kind: str | None = None,
    statuses: tuple[str, ...] = (),
    limit: int = 200,
    due_before: datetime | None = None,
) -> list[OutboxMessage]:
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


def notice_counts(session: Session) -> dict[str, int]:
    stmt = select(OUTBOX.c.status, func.count()).group_by(OUTBOX.c.status)
    return {status: int(n) for status, n in session.execute(stmt)}


# -- small lookups ---------------------------------------------------------------------


def units(session: Session) -> list[Unit]:
    return list(session.scalars(select(Unit).order_by(Unit.code)))


def users(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.role, User.email)))


def attachments(session: Session, case_id: int) -> list[Attachment]:
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


def calendar_days(session: Session, year: int) -> list[CalendarDay]:
    stmt = (
        select(CalendarDay)
        .where(CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31))
        .order_by(CalendarDay.day)
    )
    return list(session.scalars(stmt))


def open_cases_with_deadline(session: Session) -> list[Case]:
    """Cases whose deadline still matters (calendar changes may move it)."""
    stmt = select(Case).where(
        Case.deadline.is_not(None), Case.state.in_(("report_due", "overdue", "escalated"))
    )
    return list(session.scalars(stmt))
