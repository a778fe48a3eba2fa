"""The outbound trip (đoàn ra): one case per traveller, a post-trip report owed.

approved ──depart──▶ travelling ──return──▶ returned ──(auto)──▶ report_due
report_due ──file──▶ report_filed ──reject──▶ report_due (new deadline)
report_due ──deadline passes──▶ overdue ──escalate──▶ escalated (level 1, 2, …)
overdue/escalated ──file──▶ report_filed (marked late)
approved ──cancel──▶ cancelled          report_filed ──accept──▶ closed

Deadlines (config ``[workflows.trip]``, :class:`TripSettings`): an official trip's report is due
``official_report_due`` after the return date, a private trip's
``private_report_due``; the day of return is not counted and a deadline on a day off
moves to the next working day. Reminders fire at the start of office hours, the
deadline passes at 24:00 local of its last day, each escalation level fires at 24:00
of the day that lies its offset after the deadline.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from kernel.settings import AfterOffsets, BeforeOffsets, DurationText
from workflows import trip_passport
from workflows.decision import ISSUER
from workflows.definition import (
    Notice,
    Term,
    TimerRule,
    Transition,
    Vocabulary,
    Workflow,
    WorkflowSettings,
)
from workflows.obligation import (
    clock_notices,
    clock_transitions,
    open_follow_ups,
    resume_clock,
    suspend_clock,
)


class TripSettings(WorkflowSettings):
    """``[workflows.trip]``."""

    official_report_due: DurationText = "15 days"  # after the return (its day not counted)
    private_report_due: DurationText = "7 working days"
    reminders: BeforeOffsets = ("-5 working days", "-1 working days")  # before the deadline
    escalation: AfterOffsets = ("5 working days", "15 working days")  # level 1, 2 … after it
    reject_new_deadline: DurationText = "5 working days"  # after a report is sent back


# fmt: off
CATEGORY = Vocabulary(
    "category",
    vi="Diện quản lý",
    en="Management category",
    terms=(
        Term(
            "standing_committee", "Diện Ban Thường vụ Tỉnh ủy quản lý", "Standing Committee",
            aliases=(
                "BTV Tỉnh ủy", "BTVTU", "Ban Thường vụ Tỉnh ủy", "diện BTV Tỉnh ủy quản lý",
                "standing committee", "provincial party standing committee",
            ),
        ),
        Term(
            "unit", "Diện địa phương, đơn vị quản lý", "Locality / unit",
            aliases=(
                "địa phương, đơn vị", "đơn vị", "địa phương", "địa phương, đơn vị quản lý",
                "locality", "locality unit",
            ),
        ),
    ),
)
PURPOSE = Vocabulary(
    "purpose",
    vi="Mục đích",
    en="Purpose",
    terms=(
        Term("official", "Công vụ", "Official",
             aliases=("công tác", "việc công", "official trip", "official business")),
        Term("private", "Việc riêng", "Private",
             aliases=("riêng", "cá nhân", "private trip", "personal")),
    ),
)
# fmt: on

APPROVAL = Notice("approval_notice", to=("unit",), cc=("person",))
REMINDER = Notice("reminder", to=("unit",), cc=("person",), attach=("ics",))
REJECTED = Notice("rejected", to=("unit",), cc=("person",), attach=("ics",))
URGING = Notice("urging_letter", to=("unit_head",), cc=("unit",), attach=("letter",))
ESCALATION = Notice("escalation", to=("ladder",), cc=("coordinators",), attach=("letter",))
CLOCK = clock_notices(("unit",), ("person",))

# What else a returned traveller owes, each an obligation of its own (a child case
# opened on the return): adding one is declaring it in its module and naming it here.
FOLLOW_UPS = (trip_passport.FOLLOW_UP,)


def _param_date(step: Any, name: str, rules: Any) -> date:
    value = step.params.get(name)
    if value is None:
        return rules.local_date(step.at)
    return value if isinstance(value, date) else date.fromisoformat(str(value))


def report_deadline(case: Any, rules: Any) -> date:
    """The deadline a return on ``case.actual_return`` gives this traveller."""
    settings: TripSettings = rules.settings
    due = settings.private_report_due if case.purpose == "private" else settings.official_report_due
    return rules.deadline(case.actual_return, due)


# -- guards: return a refusal message, or None -------------------------------------


def _can_depart(case: Any, step: Any, rules: Any) -> str | None:
    day = _param_date(step, "on", rules)
    if case.planned_return and day > case.planned_return:
        return f"departure {day} is after the planned return {case.planned_return}"
    return None


def _can_return(case: Any, step: Any, rules: Any) -> str | None:
    day = _param_date(step, "on", rules)
    departed = case.actual_departure or case.planned_departure
    if departed and day < departed:
        return f"return date {day} is before the departure date {departed}"
    return None


def _can_file(case: Any, step: Any, rules: Any) -> str | None:
    day = _param_date(step, "on", rules)
    if case.actual_return and day < case.actual_return:
        return f"report date {day} is before the return date {case.actual_return}"
    return None


def _can_reopen(case: Any, step: Any, rules: Any) -> str | None:
    if case.deadline is None or rules.end_of_day(case.deadline) <= step.at:
        return f"the deadline {case.deadline} has passed"
    return None


def _can_extend(case: Any, step: Any, rules: Any) -> str | None:
    until = step.params.get("until")
    if until is None:
        return "extend needs the new deadline (until)"
    until = until if isinstance(until, date) else date.fromisoformat(str(until))
    if case.deadline and until <= case.deadline:
        return f"the new deadline {until} must be after the current one {case.deadline}"
    return None


# -- actions: change the case's fields --------------------------------------------


def _depart(case: Any, step: Any, rules: Any) -> None:
    case.actual_departure = _param_date(step, "on", rules)


def _return(case: Any, step: Any, rules: Any) -> None:
    case.actual_return = _param_date(step, "on", rules)


def _open_report(case: Any, step: Any, rules: Any) -> None:
    case.deadline = report_deadline(case, rules)
    case.escalation_level = 0


def _file(case: Any, step: Any, rules: Any) -> None:
    case.report_filed_on = _param_date(step, "on", rules)
    case.filed_late = bool(case.deadline and case.report_filed_on > case.deadline)


def deadline_from(case: Any, event: str, at: datetime, rules: Any) -> date | None:
    """The deadline ``event`` at ``at`` gave the case (None: one set by hand)."""
    if event == "open_report" and case.actual_return:
        return report_deadline(case, rules)
    if event == "reject":
        return rules.deadline(rules.local_date(at), rules.settings.reject_new_deadline)
    return None


def _reject(case: Any, step: Any, rules: Any) -> None:
    case.deadline = deadline_from(case, "reject", step.at, rules)
    case.report_filed_on = None
    case.filed_late = None
    case.escalation_level = 0


def _extend(case: Any, step: Any, rules: Any) -> None:
    until = step.params["until"]
    case.deadline = until if isinstance(until, date) else date.fromisoformat(str(until))
    case.escalation_level = 0


def _reopen(case: Any, step: Any, rules: Any) -> None:
    case.escalation_level = 0


def _escalate(case: Any, step: Any, rules: Any) -> None:
    case.escalation_level = (case.escalation_level or 0) + 1


# -- timers: when each state's deadlines fall -------------------------------------


def _departure_at(case: Any, rules: Any) -> list:
    return [rules.start_of_day(case.planned_departure)] if case.planned_departure else []


def _return_at(case: Any, rules: Any) -> list:
    return [rules.start_of_day(case.planned_return)] if case.planned_return else []


def _reminders_at(case: Any, rules: Any) -> list:
    return [
        rules.office_start(rules.add(case.deadline, offset)) for offset in rules.settings.reminders
    ]


def _deadline_passes_at(case: Any, rules: Any) -> list:
    return [rules.end_of_day(case.deadline)]


def _next_escalation_at(case: Any, rules: Any) -> list:
    ladder = rules.settings.escalation
    level = case.escalation_level or 0
    if level >= len(ladder):
        return []
    return [rules.end_of_day(rules.add(case.deadline, ladder[level]))]


ACTIVE = ("report_due", "overdue", "escalated")


def _suspend(case: Any, step: Any, rules: Any) -> None:
    """Stop the report's clock, counting what is left in its rule's units."""
    settings: TripSettings = rules.settings
    rule = settings.private_report_due if case.purpose == "private" else settings.official_report_due
    suspend_clock(case, step, rules, rule)


def _resume(case: Any, step: Any, rules: Any) -> None:
    resume_clock(case, step, rules)


def _file_suspended(case: Any, step: Any, rules: Any) -> None:
    resume_clock(case, step, rules)
    _file(case, step, rules)


def _on_update(case: Any, step: Any, rules: Any) -> None:
    """A corrected return date or purpose moves an open report's deadline."""
    changed = step.params.get("changes", {})
    if case.state in ACTIVE and case.actual_return and {"actual_return", "purpose"} & set(changed):
        case.deadline = report_deadline(case, rules)


WORKFLOW = Workflow(
    name="trip",
    title="Chuyến đi nước ngoài",
    states=(
        "approved",
        "travelling",
        "returned",
        "report_due",
        "suspended",
        "report_filed",
        "overdue",
        "escalated",
        "closed",
        "cancelled",
    ),
    initial="approved",
    finals=("closed", "cancelled"),
    tags={
        "approved": ("waiting",),
        "travelling": ("waiting",),
        "returned": ("waiting",),
        "report_due": ("due",),
        "suspended": ("due",),  # owed, its clock stopped
        "report_filed": ("done", "review"),
        "overdue": ("late",),
        "escalated": ("late", "escalated"),
        "closed": ("done",),
        "cancelled": ("cancelled",),
    },
    settings=TripSettings,
    vocabularies={
        "issuer": ISSUER,
        "category": CATEGORY,
        "purpose": PURPOSE,
        "passport": trip_passport.PASSPORT,
    },
    create_notices=(APPROVAL,),
    transitions=(
        Transition("depart", ("approved",), "travelling", _can_depart, _depart),
        Transition("return", ("travelling",), "returned", _can_return, _return),
        Transition(
            "open_report",
            ("returned",),
            "report_due",
            action=_open_report,
            spawn=open_follow_ups(FOLLOW_UPS),
        ),
        Transition("file", ACTIVE, "report_filed", _can_file, _file),
        Transition("accept", ("report_filed",), "closed"),
        Transition(
            "reject",
            ("report_filed",),
            "report_due",
            action=_reject,
            notices=(REJECTED,),
            needs=("reason",),
        ),
        Transition("deadline_passed", ("report_due",), "overdue", notices=(URGING,)),
        Transition(
            "escalate",
            ("overdue", "escalated"),
            "escalated",
            action=_escalate,
            notices=(ESCALATION,),
        ),
        Transition(
            "extend",
            ACTIVE,
            "report_due",
            _can_extend,
            _extend,
            needs=("reason", "until"),
        ),
        Transition("cancel", ("approved",), "cancelled", needs=("reason",)),
        *clock_transitions(
            due="report_due",
            suspended="suspended",
            active=ACTIVE,
            filed="report_filed",
            file_tells=None,
            suspend=_suspend,
            resume=_resume,
            file_guard=_can_file,
            file_suspended=_file_suspended,
            can_extend=_can_extend,
            extend=_extend,
            notices=CLOCK,
        ),
        Transition(
            "reopen",
            ("overdue", "escalated"),
            "report_due",
            _can_reopen,
            _reopen,
            doc="a corrected date puts the deadline ahead again",
        ),
    ),
    auto={"returned": "open_report"},
    on_update=_on_update,
    reopen="reopen",
    deadline_from=deadline_from,
    timers=(
        TimerRule("approved", "depart", _departure_at, event="depart"),
        TimerRule("travelling", "return", _return_at, event="return"),
        TimerRule("report_due", "reminder", _reminders_at, notices=(REMINDER,)),
        TimerRule("report_due", "deadline", _deadline_passes_at, event="deadline_passed"),
        TimerRule("overdue", "escalate", _next_escalation_at, event="escalate"),
        TimerRule("escalated", "escalate_next", _next_escalation_at, event="escalate"),
    ),
)
