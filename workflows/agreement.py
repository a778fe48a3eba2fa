"""An international agreement (thỏa thuận quốc tế): one case per agreement.

in_force ──(expiry_lead before the end)──▶ expiring ──(end date passes)──▶ expired
in_force/expiring ──renew (new end date)──▶ in_force
in_force/expiring ──terminate──▶ terminated

While in force (and while expiring), every ``review_every`` from the start date a
review obligation opens — a child case of workflow ``agreement_review``
(:mod:`workflows.obligation`) due ``review_due`` later — through the engine's
recurring schedule (:mod:`workflows.recurring`). The last stretch's review opens on
the end date at the latest (a 3-year agreement with a 3-year review owes its
summary on its last day). Entering ``expiring`` tells the responsible unit and
leadership; so does each of the ``expiry_reminders`` before the end date.

Case fields: ``name`` = title, ``deadline`` = the end date, ``name_key`` = the folded reference (the identity for
re-import), ``unit_id`` = the responsible unit, ``country_codes`` = the partner's
country (ISO2), ``planned_start``/``planned_end`` = the term (start, end).
``data``: ``partner``, ``reference``, ``signed_on``, ``renewals``, ``opened``, and
per-agreement overrides (``review_every``, ``review_due``, ``expiry_lead``, …).

Settings ``[workflows.agreement]`` (:class:`AgreementSettings`): ``review_every``,
``review_due``, ``expiry_lead``, ``expiry_reminders``. No vocabulary of its own (the
partner's country is an ISO code).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import field_validator

from kernel.calendar import Duration
from kernel.settings import BeforeOffsets, DurationText
from kernel.text import name_key
from workflows.definition import Notice, TimerRule, Transition, Workflow, WorkflowSettings
from workflows.obligation import as_date, setting
from workflows.recurring import Occurrence, Recurring, anniversaries


class AgreementSettings(WorkflowSettings):
    """``[workflows.agreement]`` (an agreement may override each key in its data)."""

    review_every: DurationText = "3 years"  # a review obligation from the start date
    review_due: DurationText = "30 days"  # after each review's anniversary
    expiry_lead: DurationText = "6 months"  # "expiring" this long before the end date
    expiry_reminders: BeforeOffsets = ("-10 working days", "-1 working days")  # before the end

    @field_validator("review_every")
    @classmethod
    def _forward(cls, value: str) -> str:
        if Duration.parse(value).amount <= 0:
            raise ValueError(f"'{value}' must be a positive duration (e.g. '3 years')")
        return value


EXPIRING = Notice("agreement_expiring", to=("unit",), cc=("leadership", "coordinators"))
REVIEW_OVERRIDES = ("reminders", "escalation", "reject_new_deadline")


def schedule(case: Any, rules: Any) -> list[Occurrence]:
    """Every review the agreement owes over its term."""
    if not (case.planned_start and case.planned_end):
        return []
    return anniversaries(
        case.planned_start,
        setting(case, rules, "review_every"),
        case.planned_end,
        setting(case, rules, "review_due"),
        rules,
        key="review-{n}",
        label="tổng kết lần {n} (năm {year})",
        label_en="review no. {n} ({year})",
    )


def review_fields(case: Any, occ: Occurrence, rules: Any) -> dict[str, Any]:
    data = case.data or {}
    own = {k: data[k] for k in ("partner", "reference") if data.get(k)}
    own.update({k: data[k] for k in REVIEW_OVERRIDES if data.get(k)})
    own.update(agreement_title=case.name, opens_at=occ.opens_at.isoformat())
    return {
        "name": f"Báo cáo {occ.label}: {case.name}"[:255],
        "name_key": f"{case.name_key}:{occ.key}"[:255],
        "unit_id": case.unit_id,
        "country_codes": case.country_codes,
        "email": case.email,
        "data": own,
    }


REVIEWS = Recurring(
    child="agreement_review",
    states=("in_force", "expiring"),
    occurrences=schedule,
    fields=review_fields,
    kind="open_review",
)


def _can_renew(case: Any, step: Any, rules: Any) -> str | None:
    until = step.params.get("until")
    if until is None:
        return "renew needs the new end date (until)"
    if case.planned_end and as_date(until) <= case.planned_end:
        return f"the new end date {until} must be after the current one {case.planned_end}"
    return None


def _renew(case: Any, step: Any, rules: Any) -> None:
    until = as_date(step.params["until"])
    data = dict(case.data or {})
    renewals = list(data.get("renewals", []))
    renewals.append(
        {
            "from": case.planned_end.isoformat() if case.planned_end else None,
            "to": until.isoformat(),
            "at": step.at.isoformat(),
            "reason": step.reason,
        }
    )
    data["renewals"] = renewals
    case.data = data
    case.planned_end = until
    case.deadline = until


def _end_is_deadline(case: Any, step: Any, rules: Any) -> None:
    """The agreement's ``deadline`` is its end date: the expiry notices of each term
    are told apart by it (a notice's key holds the deadline)."""
    case.deadline = case.planned_end


def _expiring_at(case: Any, rules: Any) -> list[datetime]:
    if not case.planned_end:
        return []
    lead = setting(case, rules, "expiry_lead")
    return [rules.office_start(rules.add(case.planned_end, f"-{lead.lstrip('-')}"))]


def _expiry_reminders_at(case: Any, rules: Any) -> list[datetime]:
    return [
        rules.office_start(rules.add(case.planned_end, offset))
        for offset in setting(case, rules, "expiry_reminders")
    ]


def _expires_at(case: Any, rules: Any) -> list[datetime]:
    return [rules.end_of_day(case.planned_end)] if case.planned_end else []


WORKFLOW = Workflow(
    name="agreement",
    title="Thỏa thuận quốc tế",
    states=("in_force", "expiring", "expired", "terminated"),
    initial="in_force",
    finals=("expired", "terminated"),
    tags={
        "in_force": ("waiting",),
        "expiring": ("due",),  # its end is near: renew it or let it expire
        "expired": ("done",),
        "terminated": ("cancelled",),  # ended early by decision
    },
    settings=AgreementSettings,
    transitions=(
        Transition(
            "expiring",
            ("in_force",),
            "expiring",
            notices=(EXPIRING,),
            doc="the end date is near",
        ),
        Transition("expire", ("in_force", "expiring"), "expired", doc="the end date passed"),
        Transition(
            "renew",
            ("in_force", "expiring"),
            "in_force",
            _can_renew,
            _renew,
            needs=("until",),
            doc="a new term",
        ),
        Transition(
            "terminate",
            ("in_force", "expiring"),
            "terminated",
            needs=("reason",),
            doc="ended early",
        ),
    ),
    timers=(
        *REVIEWS.timers(),  # first: a review due on the last day opens before the expiry
        TimerRule("in_force", "expiry_lead", _expiring_at, event="expiring"),
        TimerRule("in_force", "expire", _expires_at, event="expire"),
        TimerRule("expiring", "expiry_reminder", _expiry_reminders_at, notices=(EXPIRING,)),
        TimerRule("expiring", "expire_now", _expires_at, event="expire"),
    ),
    recurring=REVIEWS,
    on_create=_end_is_deadline,
    on_update=_end_is_deadline,
)


def agreement_fields(
    *,
    title: str,
    reference: str,
    unit_id: int,
    start: date,
    end: date,
    partner_country: str | None = None,
    email: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    """A new agreement case's fields; ``data`` holds the rest (see the module's doc)."""
    if end <= start:
        raise ValueError(f"the end date {end} is not after the start date {start}")
    return {
        "name": title,
        "name_key": name_key(reference),
        "unit_id": unit_id,
        "country_codes": partner_country,
        "email": email,
        "planned_start": start,
        "planned_end": end,
        "data": {"reference": reference, **{k: v for k, v in data.items() if v is not None}},
    }
