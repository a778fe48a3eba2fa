"""One creation path per case type, for the CLI, the web form and the imports alike.

A case is opened as of its decision (approval, signing) day and caught up to now by
the engine, so a trip entered today whose dates are past lands where it belongs
(report due, overdue, escalated), with a history dated when each thing happened: the
create event at the start of the decision day (or of the departure, if earlier, so a
departure on the decision day itself still fires), then depart, return, report_due,
overdue, escalated 1, 2 … each at its own instant.

Notices: ``notify=True`` (a case entered by hand, an import with ``--notify``) sends
the one notice that fits the case now: its latest step's, never a stale approval
notice for a trip that has since come home (the rule is the pure step's,
:meth:`engine.step.Stepper.choose_notices`); ``notify=False`` (a plain import) records
the past notices as skipped.

    cases = open_trips(engine, session, number="36/QĐ-SNgV", decided_on=day,
                       issuer="department", travellers=[Traveller(...)], actor="user:a")
    project = open_ngo_project(engine, session, actor=..., name=..., project_code=..., ...)
    agreement = open_agreement(engine, session, actor=..., title=..., reference=..., ...)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

import storage.cases
import storage.decisions
import storage.units
from engine import limits
from engine.runtime import CaseSpec, Engine
from kernel.clock import from_local
from kernel.errors import InvalidInput
from kernel.text import decision_identity, name_key
from storage.db import Session
from storage.models import Case
from workflows.agreement import agreement_fields
from workflows.decision import ISSUER
from workflows.definition import Vocabulary
from workflows.ngo_project import project_fields
from workflows.trip_passport import PASSPORT

ISSUER_MAX = 32  # Decision.issuer column


@dataclass(frozen=True)
class Traveller:
    """One traveller of a decision: a trip case. ``filed_on``/``accepted``: what an
    import knows of a report already filed."""

    name: str
    unit_id: int
    category: str  # standing_committee | unit
    country_codes: str  # ISO alpha-2 codes, comma-separated
    purpose: str  # official | private
    departure: date
    return_: date
    position: str | None = None
    email: str | None = None
    filed_on: date | None = None
    accepted: bool = False
    passport: str | None = None  # official | diplomatic | ordinary (workflows.trip_passport)


def term(vocabulary: Vocabulary, text: str | None, field: str | None = None) -> str:
    """The value ``text`` names in a case type's vocabulary (a code, a label or an
    alias, as :meth:`Vocabulary.parse` reads them), or InvalidInput naming ``field``
    (the vocabulary's name by default) and the values that exist."""
    try:
        return vocabulary.parse(text)
    except ValueError as exc:
        raise InvalidInput(field or vocabulary.name, str(exc)) from None


def opened_at(engine: Engine, *days: date | None) -> datetime:
    """The start of the earliest day given, in the organisation's zone, capped at now."""
    now = engine.clock.now()
    known = [d for d in days if d is not None]
    if not known:
        return now
    return min(from_local(min(known), time(0, 0), engine.config.organisation.tz), now)


def unit_id(session: Session, code: str, field: str = "unit") -> int:
    """The id of the unit with this code, or InvalidInput naming ``field``."""
    found = storage.units.unit_by_code(session, (code or "").strip())
    if found is None:
        raise InvalidInput(field, f"unknown unit '{code}' (add it with: theodoi unit add)")
    return found.id


# -- trips ----------------------------------------------------------------------------


def trip_fields(decision_id: int | None, t: Traveller) -> dict[str, Any]:
    name = " ".join(t.name.split())
    return {
        "decision_id": decision_id,
        "unit_id": t.unit_id,
        "name": name,
        "name_key": name_key(name),
        "position": t.position,
        "category": t.category,
        "country_codes": t.country_codes,
        "purpose": t.purpose,
        "email": t.email,
        "planned_start": t.departure,
        "planned_end": t.return_,
        "data": {"passport": t.passport} if t.passport else {},
    }


def trip_spec(
    engine: Engine,
    decided_on: date,
    decision_id: int | None,
    t: Traveller,
    *,
    reason: str | None = None,
) -> CaseSpec:
    """The trip to open: as of the start of its decision day (or of its departure, if
    earlier); a report already filed is filed at its date once the case has caught
    up to that date only (on time or late, as if it had been recorded then)."""
    created_at = opened_at(engine, decided_on, t.departure)
    steps: list[tuple[datetime, str, dict[str, Any], str | None]] = []
    if t.filed_on is not None:
        tz = engine.config.organisation.tz
        office = from_local(t.filed_on, engine.config.calendar.office_start, tz)
        filed_at = max(min(office, engine.clock.now()), created_at)
        steps.append((filed_at, "file", {"on": t.filed_on}, reason))
        if t.accepted:
            steps.append((filed_at, "accept", {}, reason))
    return CaseSpec("trip", trip_fields(decision_id, t), created_at, steps, reason)


def check_traveller(t: Traveller, where: str = "") -> None:
    """What every path refuses: an empty name, a return before the departure."""
    prefix = f"{where}: " if where else ""
    if not t.name.strip():
        raise InvalidInput(f"{prefix}name", "is empty")
    if t.passport is not None and t.passport not in PASSPORT:
        raise InvalidInput(f"{prefix}passport", f"'{t.passport}': use {PASSPORT.allowed()}")
    limits.check_case(
        {"name": t.name, "position": t.position, "email": t.email, "country_codes": t.country_codes},
        where,
    )
    if t.return_ < t.departure:
        raise InvalidInput(
            f"{prefix}return", f"return date {t.return_} is before departure {t.departure}"
        )


def open_trips(
    engine: Engine,
    session: Session,
    *,
    number: str,
    decided_on: date,
    issuer: str,
    travellers: Sequence[Traveller],
    actor: str,
    notify: bool = True,
    reason: str | None = None,
) -> list[Case]:
    """A decision (found by number and year, or created) and one trip per traveller,
    each opened as of the decision day and caught up to now, in the caller's
    transaction. A traveller already under this decision is refused."""
    number = number.strip()
    if not number:
        raise InvalidInput("decision", "is required")
    limits.check_decision(number, issuer)
    if not travellers:
        raise InvalidInput("travellers", "at least one traveller is needed")
    several = len(travellers) > 1
    seen: set[tuple[str, int, str]] = set()
    for index, t in enumerate(travellers, start=1):
        check_traveller(t, f"traveller {index}" if several else "")
        ident = decision_identity(number, decided_on.year, t.name)
        if ident in seen:
            raise InvalidInput("name", f"{t.name.strip()} is twice in decision {number}")
        seen.add(ident)
    decision = storage.decisions.get_or_create_decision(session, number, decided_on, issuer)
    specs = []
    for t in travellers:
        same = storage.cases.find_case_by_identity(session, "trip", decision.id, name_key(t.name))
        if same is not None:
            raise InvalidInput(
                "name", f"{t.name.strip()} is already case {same.id} under decision {number}"
            )
        specs.append(trip_spec(engine, decision.decided_on, decision.id, t, reason=reason))
    return engine.replay_many(session, specs, actor=actor, notify=notify)


# -- NGO projects and agreements --------------------------------------------------------


def approving_body(text: str | None) -> str:
    """``province`` / ``department`` for the spellings the issuer vocabulary knows,
    else the text itself."""
    raw = (text or "").strip()
    if not raw:
        return "province"
    try:
        return ISSUER.parse(raw)
    except ValueError:
        return raw[:ISSUER_MAX]


def open_ngo_project(
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
    """A new ngo_project case as of its approval (or start) day, caught up to now
    (``values``: see :func:`workflows.ngo_project.project_fields`). A project code
    already recorded is refused."""
    decision_id = None
    if approval_number:
        if approval_date is None:
            raise InvalidInput("approval-date", "an approval number needs its date")
        decision = storage.decisions.get_or_create_decision(
            session, approval_number, approval_date, approving_body(approving_body_text)
        )
        decision_id = decision.id
    if approving_body_text:
        values["approving_body"] = approving_body_text
    try:
        fields = project_fields(decision_id=decision_id, **values)
    except ValueError as exc:
        raise InvalidInput("end", str(exc)) from None
    _refuse_known(session, "ngo_project", fields["name_key"], "code", values["project_code"])
    at = opened_at(engine, approval_date, values["start"])
    return engine.create_case(session, "ngo_project", fields, actor=actor, at=at, notify=notify)


def open_agreement(
    engine: Engine, session: Session, *, actor: str, notify: bool = True, **values: Any
) -> Case:
    """A new agreement case as of its signing (or start) day, caught up to now
    (``values``: see :func:`workflows.agreement.agreement_fields`). A reference
    already recorded is refused."""
    try:
        fields = agreement_fields(**values)
    except ValueError as exc:
        raise InvalidInput("end", str(exc)) from None
    _refuse_known(session, "agreement", fields["name_key"], "reference", values["reference"])
    signed = values.get("signed_on")
    signed_day = date.fromisoformat(signed) if isinstance(signed, str) else signed
    at = opened_at(engine, signed_day, values["start"])
    return engine.create_case(session, "agreement", fields, actor=actor, at=at, notify=notify)


def _refuse_known(session: Session, workflow: str, key: str, field: str, shown: str) -> None:
    same = storage.cases.find_case_by_key(session, workflow, key)
    if same is not None:
        raise InvalidInput(field, f"'{shown}' is already case {same.id}")
