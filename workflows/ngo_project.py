"""A foreign-NGO aid project (dự án / khoản viện trợ PCPNN): one case per project.

approved ──start (start date)──▶ implementing ──complete (end date)──▶ completed
completed ──(auto) open the final report──▶ final_report_due
final_report_due ──final report filed──▶ final_report_filed ──accepted──▶ closed
final_report_filed ──final report sent back──▶ final_report_due
implementing ──suspend──▶ suspended ──resume──▶ implementing
implementing/suspended ──extend (new end date)──▶ the same state, schedule re-armed
approved/implementing/suspended ──cancel──▶ cancelled

While implementing, the end of each reporting period opens a report obligation, a
child case of workflow ``ngo_report`` (:mod:`workflows.obligation`), through the
engine's recurring schedule (:mod:`workflows.recurring`). On completion the final
report is opened the same way. The project follows its final report: filed, sent
back, accepted (or waived) — the report's own steps tell the project.

Case fields: ``name`` = project name, ``name_key`` = the folded project code (the
identity for re-import), ``unit_id`` = the unit following it, ``decision_id`` = the
approval decision, ``planned_start``/``planned_end`` = the implementation
period (start, end), ``actual_end`` = the day it actually ended. ``data``:
``ngo_name``, ``project_code``, ``receiving_agency``, ``managing_agency``,
``approving_body``, ``value``, ``currency``, ``location``, ``contact_email``,
``receiving_agency_email``; ``suspensions`` and ``extensions`` (the history's
figures); ``opened`` (schedule keys already opened); ``reports_filed`` (key → date,
an import's backfill); and per-project overrides of any setting below.

Settings ``[workflows.ngo_project]`` (:class:`NgoProjectSettings`): ``periods`` (a
list of ``{ name, period_end = "MM-DD", due, period_start?, label?, label_en? }``),
``final_report_due``. Vocabulary: ``issuer`` (the approving body,
:data:`workflows.decision.ISSUER`).

Suspension: no report opens while the project is suspended; a period that ended
during the suspension opens when the project resumes, its deadline counted from the
resumption and never earlier than its own; a period wholly inside the suspension
owes nothing. Reports opened before the suspension keep running (they cover work
done). Extension: the new end date re-arms the schedule (periods up to the new end
open, the final report moves).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from pydantic import model_validator

from kernel import deadlines
from kernel.settings import DeadlineRule, DurationText, RuleVersion, Section
from kernel.text import name_key
from workflows.decision import ISSUER
from workflows.definition import TimerRule, Transition, Workflow, WorkflowSettings
from workflows.obligation import as_date, rule_version, setting
from workflows.recurring import (
    Occurrence,
    Pause,
    PeriodSpec,
    Recurring,
    defer_paused,
    yearly_periods,
)


class ReportPeriod(Section):
    """One reporting period of ``[workflows.ngo_project] periods``."""

    name: str  # "H1", "Y": the key of its report is "<year>-<name>"
    period_end: str  # "MM-DD"
    due: DurationText  # counted from the period's end
    period_start: str = "01-01"
    label: str = "{name} {year}"  # Vietnamese, with {name} and {year}
    label_en: str | None = None  # English; the Vietnamese label when not given

    @model_validator(mode="after")
    def _readable(self) -> ReportPeriod:
        self.spec()  # the month-days parse
        return self

    def spec(self) -> PeriodSpec:
        return PeriodSpec.parse(self.model_dump(exclude_none=True))


class NgoProjectSettings(WorkflowSettings):
    """``[workflows.ngo_project]`` (a project may override each key in its data)."""

    periods: tuple[ReportPeriod, ...] = (
        ReportPeriod(
            name="H1",
            period_end="06-30",
            due="15 days",
            label="6 tháng đầu năm {year}",
            label_en="first half of {year}",
        ),
        ReportPeriod(
            name="Y", period_end="12-31", due="15 days", label="năm {year}", label_en="year {year}"
        ),
    )
    # after the project's end date; a project keeps the version in force when it ended
    final_report_due: DeadlineRule = DeadlineRule(
        versions=(
            RuleVersion(
                due="30 days",
                legal_basis="Nghị định 80/2020/NĐ-CP (báo cáo kết thúc khoản viện trợ)",
            ),
            RuleVersion(
                due="30 days",
                legal_basis="Nghị định 313/2025/NĐ-CP (thay thế Nghị định 80/2020/NĐ-CP)",
                effective_from=date(2025, 12, 8),
            ),
        )
    )


# What a report obligation copies from its project (the notices and the report use it).
INHERITED = (
    "ngo_name",
    "project_code",
    "receiving_agency",
    "managing_agency",
    "receiving_agency_email",
    "contact_email",
    "location",
)
# Obligation settings a project may override for its reports.
REPORT_OVERRIDES = ("reminders", "escalation", "reject_new_deadline")


def pauses(case: Any) -> list[Pause]:
    return [
        Pause(
            datetime.fromisoformat(item["since"]),
            datetime.fromisoformat(item["until"]) if item.get("until") else None,
        )
        for item in (case.data or {}).get("suspensions", [])
    ]


def schedule(case: Any, rules: Any) -> list[Occurrence]:
    """Every periodic report the project owes over its implementation period."""
    if not (case.planned_start and case.planned_end):
        return []
    specs = [
        PeriodSpec.parse(raw) if isinstance(raw, Mapping) else raw.spec()
        for raw in setting(case, rules, "periods")  # a project's own (data) or configured
    ]
    occurrences = yearly_periods(specs, case.planned_start, case.planned_end, rules)
    return defer_paused(occurrences, pauses(case), rules)


def report_fields(case: Any, occ: Occurrence, rules: Any) -> dict[str, Any]:
    data = case.data or {}
    own = {k: data[k] for k in INHERITED if data.get(k) is not None}
    own.update({k: data[k] for k in REPORT_OVERRIDES if data.get(k)})
    own.update(project_name=case.name, opens_at=occ.opens_at.isoformat())
    filed = (data.get("reports_filed") or {}).get(occ.key)
    if filed:
        own["filed_on"] = filed
    return {
        "name": f"Báo cáo {occ.label}: {case.name}"[:255],
        "name_key": f"{case.name_key}:{occ.key}"[:255],
        "unit_id": case.unit_id,
        "decision_id": case.decision_id,
        "email": case.email,
        "data": own,
    }


REPORTS = Recurring(
    child="ngo_report",
    states=("implementing",),
    occurrences=schedule,
    fields=report_fields,
    kind="open_report",
)


# -- guards ----------------------------------------------------------------------------


def _final_report(case: Any, step: Any, rules: Any) -> str | None:
    if step.params.get("child_key") != "final":
        return "only the final report moves the project"
    return None


def _can_extend(case: Any, step: Any, rules: Any) -> str | None:
    until = step.params.get("until")
    if until is None:
        return "extend needs the new end date (until)"
    if case.planned_end and as_date(until) <= case.planned_end:
        return f"the new end date {until} must be after the current one {case.planned_end}"
    return None


# -- actions ---------------------------------------------------------------------------


def _day(step: Any, rules: Any) -> date:
    value = step.params.get("on")
    return rules.local_date(step.at) if value is None else as_date(value)


def _start(case: Any, step: Any, rules: Any) -> None:
    case.actual_start = _day(step, rules)


def _complete(case: Any, step: Any, rules: Any) -> None:
    """The day the project ended: the given day, else its end date when completed on
    time, else the day it completed (a project resumed after its end date)."""
    if step.params.get("on") is not None:
        case.actual_end = as_date(step.params["on"])
    elif case.planned_end and step.at <= rules.end_of_day(case.planned_end):
        case.actual_end = case.planned_end
    else:
        case.actual_end = rules.local_date(step.at)


def _suspend(case: Any, step: Any, rules: Any) -> None:
    data = dict(case.data or {})
    items = list(data.get("suspensions", []))
    items.append({"since": step.at.isoformat(), "until": None, "reason": step.reason})
    data["suspensions"] = items
    case.data = data


def _resume(case: Any, step: Any, rules: Any) -> None:
    data = dict(case.data or {})
    items = [dict(item) for item in data.get("suspensions", [])]
    if items and items[-1].get("until") is None:
        since = datetime.fromisoformat(items[-1]["since"])
        items[-1]["until"] = step.at.isoformat()
        items[-1]["days"] = (rules.local_date(step.at) - rules.local_date(since)).days
    data["suspensions"] = items
    data["suspended_days"] = sum(item.get("days", 0) for item in items)
    case.data = data


def _extend(case: Any, step: Any, rules: Any) -> None:
    until = as_date(step.params["until"])
    data = dict(case.data or {})
    extensions = list(data.get("extensions", []))
    extensions.append(
        {
            "from": case.planned_end.isoformat() if case.planned_end else None,
            "to": until.isoformat(),
            "at": step.at.isoformat(),
            "reason": step.reason,
        }
    )
    data["extensions"] = extensions
    case.data = data
    case.planned_end = until


def _open_final(case: Any, step: Any, rules: Any) -> list[tuple[str, dict[str, Any]]]:
    """Spawn: the final report, due ``final_report_due`` after the project ended."""
    ended = case.actual_end or rules.local_date(step.at)
    version = rule_version(setting(case, rules, "final_report_due"), ended, "final_report_due")
    due = version["due"]
    final = Occurrence(
        key="final",
        label="kết thúc dự án",
        label_en="project completion",
        period_start=case.planned_start,
        period_end=ended,
        opens_at=step.at,
        deadline=rules.deadline(ended, due),
        due=due,
    )
    children = REPORTS.open(case, [final], rules)
    record = deadlines.basis("project_end", ended, rule=version)
    for _workflow, fields in children:  # the report keeps the rule it opened under
        data = dict(fields.get("data") or {})
        data[deadlines.DEADLINES] = {"report": record}
        fields["data"] = data
    return children


# -- timers ----------------------------------------------------------------------------


def _start_at(case: Any, rules: Any) -> list[datetime]:
    return [rules.start_of_day(case.planned_start)] if case.planned_start else []


def _complete_at(case: Any, rules: Any) -> list[datetime]:
    """24:00 of the end date, or the resumption when the project resumed after it."""
    if not case.planned_end:
        return []
    at = rules.end_of_day(case.planned_end)
    resumed = [p.until for p in pauses(case) if p.until is not None]
    return [max([at, *resumed])]


SUSPENDABLE = ("implementing", "suspended")

WORKFLOW = Workflow(
    name="ngo_project",
    title="Dự án viện trợ PCPNN",
    states=(
        "approved",
        "implementing",
        "suspended",
        "completed",
        "final_report_due",
        "final_report_filed",
        "closed",
        "cancelled",
    ),
    initial="approved",
    finals=("closed", "cancelled"),
    # the project owes its periodic reports through its children (ngo_report): only
    # the final report is the project's own
    tags={
        "approved": ("waiting",),
        "implementing": ("waiting",),
        "suspended": ("waiting",),
        "completed": ("waiting",),
        "final_report_due": ("due",),
        "final_report_filed": ("done", "review"),
        "closed": ("done",),
        "cancelled": ("cancelled",),
    },
    settings=NgoProjectSettings,
    vocabularies={"issuer": ISSUER},
    transitions=(
        Transition("start", ("approved",), "implementing", action=_start, doc="start date"),
        Transition("complete", ("implementing",), "completed", action=_complete, doc="end date"),
        Transition(
            "open_final_report",
            ("completed",),
            "final_report_due",
            spawn=_open_final,
            doc="opens the final report",
        ),
        Transition(
            "obligation_filed",
            ("final_report_due",),
            "final_report_filed",
            _final_report,
            doc="the final report was filed",
        ),
        Transition(
            "obligation_reopened",
            ("final_report_filed",),
            "final_report_due",
            _final_report,
            doc="the final report was sent back",
        ),
        Transition(
            "obligation_closed",
            ("final_report_due", "final_report_filed"),
            "closed",
            _final_report,
            doc="the final report was accepted or waived",
        ),
        Transition(
            "close",
            ("final_report_due", "final_report_filed"),
            "closed",
            needs=("reason",),
            doc="closed by a coordinator",
        ),
        Transition("suspend", ("implementing",), "suspended", action=_suspend, needs=("reason",)),
        Transition("resume", ("suspended",), "implementing", action=_resume),
        Transition(
            "extend", ("implementing",), "implementing", _can_extend, _extend, needs=("until",)
        ),
        Transition("extend", ("suspended",), "suspended", _can_extend, _extend, needs=("until",)),
        Transition("cancel", ("approved", *SUSPENDABLE), "cancelled", needs=("reason",)),
    ),
    auto={"completed": "open_final_report"},
    timers=(
        TimerRule("approved", "start", _start_at, event="start"),
        *REPORTS.timers(),  # before "complete": a report due at the same instant opens first
        TimerRule("implementing", "complete", _complete_at, event="complete"),
    ),
    recurring=REPORTS,
)


def project_fields(
    *,
    name: str,
    project_code: str,
    unit_id: int,
    start: date,
    end: date,
    decision_id: int | None = None,
    email: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    """A new project case's fields; ``data`` holds the rest (see the module's doc)."""
    if end <= start:
        raise ValueError(f"the end date {end} is not after the start date {start}")
    key = name_key(project_code)
    return {
        "name": name,
        "name_key": key,
        "unit_id": unit_id,
        "decision_id": decision_id,
        "email": email,
        "planned_start": start,
        "planned_end": end,
        "data": {"project_code": project_code, **{k: v for k, v in data.items() if v is not None}},
    }
