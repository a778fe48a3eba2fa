"""Read models for the compliance report: the case history as it stood at an instant.

Every function here reads only. The report's rules (what a state counts as, late or on
time, the percentages) live in ``engine/reports.py`` and ``engine/reports_ngo.py``;
this module answers the questions they ask of the database:

* :func:`trip_history_rows` — every trip of a period, with the state its last history
  entry before ``until`` left it in and, when that state is a filed one, the filing
  that put it there (one statement plus a by-primary-key lookup of the filings);
* :func:`obligation_histories` — every case of a workflow whose deadline falls in a
  period, with its history before ``until`` in order;
* :func:`case_list_rows` — the case list the exports write (``theodoi export cases``),
  with the unit's code and the decision's number, in one statement.

``until`` is naive UTC, like every instant in the database: events at or after it are
ignored, so a report for a past instant is the same whenever it is run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, NamedTuple

from sqlalchemy import case as sa_case
from sqlalchemy import func, select

from storage.db import Session
from storage.models import Case, Decision, Event, Unit

CASE, DECISION, UNIT, EVENT = (
    Case.__table__,
    Decision.__table__,
    Unit.__table__,
    Event.__table__,
)

Basis = Literal["decision", "return"]
_ID_CHUNK = 5000  # ids per ``IN (…)``: well below every backend's parameter limit


class TripRow(NamedTuple):
    """One trip of the period, as the history gives it at ``until``.

    ``state`` is the state the trip was in at ``until``; ``now_*`` are the case row's
    current values (the engine's own verdict on its current filing); ``file_*`` describe
    the last ``file`` event before ``until``, looked up only when ``state`` is one of
    the filed states asked for (else ``None``).
    """

    case_id: int
    decision_id: int | None
    decision_number: str | None
    decision_date: date | None
    issuer: str | None
    name: str
    position: str | None
    unit_code: str | None
    unit_name: str | None
    category: str | None
    country_codes: str | None
    purpose: str | None
    departure: date | None  # actual, else planned
    return_: date | None  # actual, else planned
    deadline: date | None
    state: str
    now_state: str
    now_filed_late: bool | None
    now_filed_on: date | None
    file_from: str | None = None
    file_at: datetime | None = None
    file_on: str | None = None  # the ``on`` date the filing names, as stored


class HistoryEntry(NamedTuple):
    event: str
    from_state: str | None
    to_state: str | None
    at: datetime
    data: dict[str, Any] | None


@dataclass
class CaseHistory:
    """A case and its history before ``until``, oldest first."""

    case_id: int
    deadline: date | None
    data: dict[str, Any] | None
    events: list[HistoryEntry] = field(default_factory=list)


def _last_event_id(until: datetime, event: str | None = None) -> Any:
    """The id of a case's last history entry before ``until`` — the last that moved
    or kept its state, or the last ``event`` — as a subquery correlated to the case
    row: a short walk back along the (case_id, at) index, not a sort of the history."""
    e = EVENT.alias()
    which = e.c.to_state.is_not(None) if event is None else e.c.event == event
    return (
        select(e.c.id)
        .where(e.c.case_id == CASE.c.id, e.c.at < until, which)
        .order_by(e.c.at.desc(), e.c.id.desc())
        .limit(1)
        .correlate(CASE)
        .scalar_subquery()
    )


def trip_history_rows(
    session: Session,
    *,
    workflow: str,
    start: date,
    end: date,
    by: Basis,
    until: datetime,
    filed_states: Sequence[str],
) -> list[TripRow]:
    """Every case of ``workflow`` placed in [start, end] by its decision date
    (``by="decision"``) or its return date (``by="return"``: actual, else planned) that
    has a history entry before ``until``, in decision order (date, number, id).

    A case whose state at ``until`` is one of ``filed_states`` carries its last ``file``
    event before ``until`` (``file_from``, ``file_at``, ``file_on``)."""
    if by not in ("decision", "return"):
        raise ValueError(f"by must be 'decision' or 'return', not {by!r}")
    case, decision, unit = CASE, DECISION, UNIT
    last = EVENT.alias("last_state")
    returned = func.coalesce(case.c.actual_end, case.c.planned_end)
    basis = decision.c.decided_on if by == "decision" else returned
    # the last filing matters only for a trip filed on the report date: looked up then
    filing_id = sa_case(
        (last.c.to_state.in_(list(filed_states)), _last_event_id(until, "file")),
        else_=None,
    )
    # fmt: off
    stmt = (
        select(
            case.c.id, case.c.decision_id, decision.c.number, decision.c.decided_on,
            decision.c.issuer, case.c.name, case.c.position, unit.c.code, unit.c.name,
            case.c.category, case.c.country_codes, case.c.purpose,
            func.coalesce(case.c.actual_start, case.c.planned_start), returned,
            case.c.deadline, last.c.to_state, case.c.state, case.c.filed_late,
            case.c.report_filed_on, filing_id,
        )
        .select_from(
            case.join(last, last.c.id == _last_event_id(until))
            .outerjoin(decision, case.c.decision_id == decision.c.id)
            .outerjoin(unit, case.c.unit_id == unit.c.id)
        )
        .where(case.c.workflow == workflow, basis >= start, basis <= end)
        .order_by(decision.c.decided_on, decision.c.number, case.c.id)
    )
    # fmt: on
    rows = session.execute(stmt).all()
    filings = _filings_by_id(session, [r[-1] for r in rows if r[-1] is not None])
    none, make = (None, None, None), TripRow._make  # _make: a third of the constructor's cost
    return [make(tuple(row[:-1]) + filings.get(row[-1], none)) for row in rows]


def _filings_by_id(session: Session, ids: list[int]) -> dict[int, tuple[Any, ...]]:
    """(from_state, at, the ``on`` date it names) of the given history entries, fetched
    by primary key (the date read by the database, not by decoding JSON here)."""
    out: dict[int, tuple[Any, ...]] = {}
    on = EVENT.c.data["on"].as_string()
    for start in range(0, len(ids), _ID_CHUNK):
        chunk = ids[start : start + _ID_CHUNK]
        stmt = select(EVENT.c.id, EVENT.c.from_state, EVENT.c.at, on).where(EVENT.c.id.in_(chunk))
        for event_id, *rest in session.execute(stmt):
            out[event_id] = tuple(rest)
    return out


def obligation_histories(
    session: Session,
    *,
    workflow: str,
    start: date,
    end: date,
    until: datetime,
    only: Sequence[int] | None = None,
) -> list[CaseHistory]:
    """Every case of ``workflow`` whose deadline falls in [start, end], each with its
    history entries before ``until`` (oldest first; an entry at ``until`` is left out).
    ``only`` keeps the cases with those ids (the suspended ones, from
    :func:`case_ids_with_event`: a million trips are not read for the few that were).
    Cases come in the order the database returns them; a case with no history before
    ``until`` comes with an empty list."""
    case, event = CASE, EVENT
    stmt = select(case.c.id, case.c.deadline, case.c.data).where(
        case.c.workflow == workflow,
        case.c.deadline >= start,
        case.c.deadline <= end,
    )
    if only is not None:
        if not only:
            return []
        stmt = stmt.where(case.c.id.in_(sorted(only)))
    cases = [CaseHistory(cid, deadline, data) for cid, deadline, data in session.execute(stmt)]
    if not cases:
        return []
    by_id = {c.case_id: c for c in cases}
    ids = list(by_id)
    for first in range(0, len(ids), _ID_CHUNK):
        rows = session.execute(
            select(
                event.c.case_id,
                event.c.event,
                event.c.from_state,
                event.c.to_state,
                event.c.at,
                event.c.data,
            )
            .where(event.c.case_id.in_(ids[first : first + _ID_CHUNK]), event.c.at < until)
            .order_by(event.c.at, event.c.id)
        )
        for case_id, *entry in rows:
            by_id[case_id].events.append(HistoryEntry(*entry))
    return cases


def case_ids_with_event(session: Session, name: str, until: datetime) -> list[int]:
    """The cases with a history entry ``name`` before ``until`` (one pass over the
    history), e.g. every case that was ever suspended."""
    stmt = select(EVENT.c.case_id).where(EVENT.c.event == name, EVENT.c.at < until).distinct()
    return sorted(cid for (cid,) in session.execute(stmt))


class CaseListRow(NamedTuple):
    """One case as the case list and its exports show it (``theodoi cases``,
    ``theodoi export cases``): dates are dates, the unit is its code."""

    id: int
    workflow: str
    state: str
    unit: str | None  # the unit's code
    name: str
    decision: str | None  # the decision's number
    decision_date: date | None
    category: str | None
    purpose: str | None
    departure: date | None  # actual, else planned
    return_: date | None  # actual, else planned
    deadline: date | None
    report_filed_on: date | None
    filed_late: bool | None
    escalation_level: int
    parent_id: int | None


def case_list_rows(
    session: Session,
    *,
    workflow: str | None = None,
    state: str | None = None,
    unit_id: int | None = None,
) -> list[CaseListRow]:
    """The cases matching every filter given, in id order, with their unit's code and
    their decision's number and date: one statement, whatever the number of cases."""
    case, decision, unit = CASE, DECISION, UNIT
    stmt = (
        select(
            case.c.id,
            case.c.workflow,
            case.c.state,
            unit.c.code,
            case.c.name,
            decision.c.number,
            decision.c.decided_on,
            case.c.category,
            case.c.purpose,
            func.coalesce(case.c.actual_start, case.c.planned_start),
            func.coalesce(case.c.actual_end, case.c.planned_end),
            case.c.deadline,
            case.c.report_filed_on,
            case.c.filed_late,
            case.c.escalation_level,
            case.c.parent_id,
        )
        .select_from(
            case.outerjoin(unit, case.c.unit_id == unit.c.id).outerjoin(
                decision, case.c.decision_id == decision.c.id
            )
        )
        .order_by(case.c.id)
    )
    if workflow:
        stmt = stmt.where(case.c.workflow == workflow)
    if state:
        stmt = stmt.where(case.c.state == state)
    if unit_id is not None:
        stmt = stmt.where(case.c.unit_id == unit_id)
    return [CaseListRow(*row) for row in session.execute(stmt)]
