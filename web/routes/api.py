"""JSON API ``/api/v1``: cases, their history, and the compliance report.

Authenticated with a per-user bearer token (``theodoi user token EMAIL``); the same role
rules as the pages: a unit's token sees only that unit's cases (404 for the others),
readers see everything, nobody writes through the API yet.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

import storage.cases
import storage.events
import storage.units
from engine import reports
from kernel.clock import local_date
from kernel.errors import Forbidden, LoginRequired, NotFound
from storage import pages
from storage.models import Case, User
from web.deps import READERS, ROLES, Principal, case_filter, may_see, theodoi
from web.users import user_for_token

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date_only(value: Any) -> Any:
    """A query date is written YYYY-MM-DD, as the schema says: not a number of seconds
    (``to=0``), not a datetime."""
    if isinstance(value, str) and not ISO_DATE.fullmatch(value):
        raise ValueError("a date is written YYYY-MM-DD")
    return value


def _with_offset(value: datetime) -> datetime:
    """Instants are kept in UTC without an offset; the API writes them with one."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


QueryDate = Annotated[date, BeforeValidator(_iso_date_only)]
Instant = Annotated[datetime, AfterValidator(_with_offset)]


class Problem(BaseModel):
    """A refusal: 401 (no or a bad token), 403 (not for this role or scope), 404."""

    detail: str


REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No valid API token"},
    403: {"model": Problem, "description": "Not for this role or token scope"},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such case, or not one this token may see"},
}

router = APIRouter(prefix="/api/v1", tags=["api"], responses=REFUSALS)


def token_user(request: Request) -> User | None:
    """The user of the request's bearer token, if it is valid, unexpired and active."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    app = theodoi(request)
    with app.db.session(write=False) as s:
        return user_for_token(s, token.strip(), app.clock.now())


def api_user(*roles: str, write: bool = False):
    """A dependency: the token's user, who must have one of ``roles``; a route that
    changes something (``write``) also needs a token of scope ``write``."""

    def dependency(request: Request) -> Principal:
        user = token_user(request)
        if user is None:
            raise LoginRequired()
        principal = Principal.of(user)
        if principal.role not in roles or (write and user.api_token_scope != "write"):
            raise Forbidden()
        return principal

    return dependency


class CaseOut(BaseModel):
    id: int
    workflow: str
    state: str
    name: str
    position: str | None = None
    unit_code: str | None = None
    unit_name: str | None = None
    category: str | None = None
    decision_number: str | None = None
    decision_date: date | None = None
    issuer: str | None = None
    country_codes: list[str] = Field(default_factory=list)
    purpose: str | None = None
    planned_start: date | None = None
    planned_end: date | None = None
    actual_end: date | None = None
    deadline: date | None = None
    report_filed_on: date | None = None
    filed_late: bool | None = None
    escalation_level: int = 0


class CaseDetail(CaseOut):
    version: int
    email: str | None = None
    actual_start: date | None = None
    parent_id: int | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    created_at: Instant
    updated_at: Instant


class CasePage(BaseModel):
    items: list[CaseOut]
    total: int
    next: str | None = Field(None, description="Pass as ?after= for the next page.")


class EventOut(BaseModel):
    id: int
    event: str
    from_state: str | None
    to_state: str | None
    actor: str
    at: Instant = Field(description="When it happened.")
    recorded_at: Instant
    reason: str | None
    data: dict[str, Any]


def _case_out(row: dict[str, Any]) -> CaseOut:
    values = dict(row)
    values["country_codes"] = [d for d in (row.get("country_codes") or "").split(",") if d]
    return CaseOut(**{k: v for k, v in values.items() if k in CaseOut.model_fields})


@router.get("/cases", response_model=CasePage, summary="List cases")
def list_cases(
    request: Request,
    workflow: str | None = Query(None, max_length=32),
    state: str | None = Query(None, max_length=32),
    unit: str | None = Query(None, description="Unit code", max_length=64),
    category: str | None = Query(None, max_length=32),
    issuer: str | None = Query(None, max_length=32),
    decision: str | None = Query(None, description="Decision number", max_length=64),
    decided_from: QueryDate | None = Query(None, alias="from"),
    decided_to: QueryDate | None = Query(None, alias="to"),
    q: str | None = Query(None, description="Words of a name or a decision number", max_length=255),
    sort: str = Query(
        "id",
        pattern="^(id|deadline|name)$",
        description="id: newest first; deadline: cases with one, soonest first",
    ),
    after: str | None = Query(None, max_length=512),
    limit: int = Query(50, ge=1, le=500),
    principal: Principal = Depends(api_user(*ROLES)),
) -> CasePage:
    app = theodoi(request)
    with app.db.session(write=False) as s:
        unit_id = None
        if unit:
            found = storage.units.unit_by_code(s, unit)
            unit_id = found.id if found else -1
        flt = case_filter(
            request,
            principal,
            workflow=workflow,
            state=state,
            unit_id=unit_id,
            category=category,
            issuer=issuer,
            decision=decision,
            period_from=decided_from,
            period_to=decided_to,
            q=q,
            sort=sort,
        )
        page = pages.case_page(s, flt, after, limit)
    return CasePage(
        items=[_case_out(r) for r in page.rows], total=page.total, next=page.next_cursor
    )


def _visible_case(request: Request, principal: Principal, case_id: int) -> Case:
    with theodoi(request).db.session(write=False) as s:
        case = storage.cases.get_case(s, case_id)
    if case is None or not may_see(principal, case):
        raise NotFound()
    return case


@router.get("/cases/{case_id}", response_model=CaseDetail, summary="One case", responses=NOT_FOUND)
def get_case(
    request: Request, case_id: int, principal: Principal = Depends(api_user(*ROLES))
) -> CaseDetail:
    case = _visible_case(request, principal, case_id)
    with theodoi(request).db.session(write=False) as s:
        unit = pages.unit(s, case.unit_id)
        decision = pages.decision(s, case.decision_id)
    values = case.model_dump()
    values.update(
        country_codes=[d for d in (case.country_codes or "").split(",") if d],
        unit_code=unit.code if unit else None,
        unit_name=unit.name if unit else None,
        decision_number=decision.number if decision else None,
        decision_date=decision.decided_on if decision else None,
        issuer=decision.issuer if decision else None,
    )
    return CaseDetail(**values)


@router.get(
    "/cases/{case_id}/events",
    response_model=list[EventOut],
    summary="A case's history",
    responses=NOT_FOUND,
)
def get_events(
    request: Request, case_id: int, principal: Principal = Depends(api_user(*ROLES))
) -> list[EventOut]:
    case = _visible_case(request, principal, case_id)
    with theodoi(request).db.session(write=False) as s:
        events = storage.events.case_events(s, case.id)
    return [EventOut(**e.model_dump()) for e in events]


@router.get("/reports/compliance", summary="Compliance report (reporting rates)")
def compliance(
    request: Request,
    period_from: QueryDate = Query(..., alias="from"),
    period_to: QueryDate = Query(..., alias="to"),
    by: str = Query("decision", pattern="^(decision|return)$"),
    as_of: QueryDate | None = None,
    cases: bool = Query(False, description="Include the list of trips"),
    principal: Principal = Depends(api_user(*READERS)),
) -> dict[str, Any]:
    """Trips of the period, reporting figures by issuer, category, unit, country and
    month, as they stood at the end of ``as_of`` (default today)."""
    app = theodoi(request)
    tz = app.config.organisation.tz
    try:
        period = reports.Period(period_from, period_to, by)
    except ValueError as exc:  # the same shape as any other invalid query
        error = {"type": "value_error", "loc": ["query", "to"], "msg": str(exc), "input": None}
        raise RequestValidationError([error]) from exc
    with app.db.session(write=False) as s:
        return reports.compliance(
            s, period, as_of or local_date(app.clock.now(), tz), tz, with_cases=cases
        )
