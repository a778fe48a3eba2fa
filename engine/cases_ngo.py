"""Creating NGO projects and agreements: one path for the CLI and the imports.

A case is created as of its earliest date (approval or start), never later than now,
so its history is dated when things happened and the engine catches it up: a project
approved in 2020 and recorded today has its 2020 reports opened, overdue or escalated
as they would have been (``notify=False`` records the past notices as skipped).
"""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

from engine.runtime import Engine
from kernel.clock import from_local
from kernel.errors import InvalidInput
from storage import queries
from storage.db import Session
from storage.models import Case
from workflows.agreement import agreement_fields
from workflows.ngo_project import project_fields

ISSUER_MAX = 32  # Decision.issuer column


def approving_body(text: str | None) -> str:
    """``province`` / ``department`` for the usual spellings, else the text itself."""
    # Local: a real cycle. engine.imports (package) registers its agreements and ngo
    # kinds, which import this module; importing it at the top would run that first.
    from engine.imports.parsing import parse_issuer

    raw = (text or "").strip()
    if not raw:
        return "province"
    try:
        return parse_issuer(raw)
    except ValueError:
        return raw[:ISSUER_MAX]


def created_at(engine: Engine, *days: date | None) -> datetime:
    """The start of the earliest day given, in the organisation's zone, capped at now."""
    now = engine.clock.now()
    known = [d for d in days if d is not None]
    if not known:
        return now
    return min(from_local(min(known), time(0, 0), engine.config.organisation.tz), now)


def create_project(
    engine: Engine,
    session: Session,
    *,
    actor: str,
    notify: bool = True,
    approval_number: str | None = None,
    approval_date: date | None = None,
    approving_body_text: str | None = None,
    **values: Any,
) -> Case:
    """A new ngo_project case (``values``: see :func:`workflows.ngo_project.project_fields`)."""
    decision_id = None
    if approval_number:
        if approval_date is None:
            raise InvalidInput("approval-date", "an approval number needs its date")
        decision = queries.get_or_create_decision(
            session, approval_number, approval_date, approving_body(approving_body_text)
        )
        decision_id = decision.id
    if approving_body_text:
        values["approving_body"] = approving_body_text
    try:
        fields = project_fields(decision_id=decision_id, **values)
    except ValueError as exc:
        raise InvalidInput("end", str(exc)) from None
    at = created_at(engine, approval_date, values["start"])
    return engine.create_case(session, "ngo_project", fields, actor=actor, at=at, notify=notify)


def create_agreement(
    engine: Engine, session: Session, *, actor: str, notify: bool = True, **values: Any
) -> Case:
    """A new agreement case (``values``: see :func:`workflows.agreement.agreement_fields`)."""
    try:
        fields = agreement_fields(**values)
    except ValueError as exc:
        raise InvalidInput("end", str(exc)) from None
    signed = values.get("signed_on")
    signed_day = date.fromisoformat(signed) if isinstance(signed, str) else signed
    at = created_at(engine, signed_day, values["start"])
    return engine.create_case(session, "agreement", fields, actor=actor, at=at, notify=notify)
