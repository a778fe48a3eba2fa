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

from kernel import deadlines
from kernel.errors import InvalidInput
from kernel.settings import AfterOffsets, BeforeOffsets, DeadlineRule, rule
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

    # deadline rules: a duration, or versions { due, legal_basis, effective_from }
    official_report_due: DeadlineRule = rule(  # after the return (its day not counted)
        "15 days", "Điều 12 khoản 2 Thông tư 03/2023/TT-BNV"
    )
    private_report_due: DeadlineRule = rule(
        "7 working days", "Hướng dẫn thực hiện Quy định 58-QĐ/TW (đi nước ngoài việc riêng)"
    )
    reminders: BeforeOffsets = ("-5 working days", "-1 working days")  # before the deadline
    escalation: AfterOffsets = ("5 working days", "15 working days")  # level 1, 2 … after it
    reject_new_deadline: DeadlineRule = rule(  # after a report is sent back
        "5 working days", "Quy chế phối hợp của Sở Ngoại vụ (trả lại báo cáo chưa đạt)"
    )


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


def report_rule_key(case: Any) -> str:
    return "private_report_due" if case.purpose == "private" else "official_report_due"


def report_basis(case: Any, rules: Any) -> dict[str, Any]:
    """What the report's deadline is counted from: the return (not counted) and the
    rule version in force on that day — or the one the case kept when its report
    obligation opened (an obligation keeps its rule; ``theodoi rules apply`` changes it)."""
    key = report_rule_key(case)
    kept = deadlines.kept(case).get("report") or {}
    version = (kept.get("rules") or {}).get(key)
    if version is None:
        version = getattr(rules.settings, key).in_force(case.actual_end).record(key)
    return deadlines.basis("return", case.actual_end, rule=version)


def report_deadline(case: Any, rules: Any) -> date:
    """The deadline a return on ``case.actual_end`` gives this traveller."""
    return deadlines.explain_basis(rules.calendar, "report", report_basis(case, rules)).result


def _keep_report(case: Any, record: dict[str, Any], rules: Any) -> date:
    """Keep ``record`` as the report deadline's basis (with the rule versions the
    obligation keeps) and return the deadline it gives."""
    previous = deadlines.kept(case).get("report") or {}
    versions = dict(previous.get("rules") or {})
    if record.get("event") == "return":
        versions[record["rule"]["key"]] = record["rule"]
    deadlines.keep(case, "report", {**record, "rules": versions})
    return deadlines.explain_basis(rules.calendar, "report", record).result


# -- guards: return a refusal message, or None -------------------------------------


def _can_depart(case: Any, step: Any, rules: Any) -> str | None:
    day = _param_date(step, "on", rules)
    if case.planned_end and day > case.planned_end:
        return f"departure {day} is after the planned return {case.planned_end}"
    return None


def _can_return(case: Any, step: Any, rules: Any) -> str | None:
    day = _param_date(step, "on", rules)
    departed = case.actual_start or case.planned_start
    if departed and day < departed:
        return f"return date {day} is before the departure date {departed}"
    return None


def _can_file(case: Any, step: Any, rules: Any) -> str | None:
    day = _param_date(step, "on", rules)
    if case.actual_end and day < case.actual_end:
        return f"report date {day} is before the return date {case.actual_end}"
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
    check_extension(case.deadline, until)
    return None


def check_extension(current: date | None, until: date) -> None:
    """An extension must end after the current deadline (InvalidInput says why)."""
    if current and until <= current:
        shown = current.strftime("%d/%m/%Y")
        raise InvalidInput(
            "until",
            f"hạn mới phải sau hạn hiện tại ({shown}) / "
            f"the new deadline must be after the current one ({shown})",
        )


def extended_deadline(case: Any, step: Any, rules: Any) -> date:
    """``until`` as asked, or — a day off — the next working day (Civil Code Art. 148),
    with a note in the step's history row; the basis is kept."""
    until = step.params["until"]
    until = until if isinstance(until, date) else date.fromisoformat(str(until))
    record = deadlines.basis(
        "extend", rules.local_date(step.at), until=until, note=step.reason or ""
    )
    result = _keep_report(case, record, rules)
    if result != until:
        asked, moved = until.strftime("%d/%m/%Y"), result.strftime("%d/%m/%Y")
        step.params["deadline"] = result.isoformat()
        step.params["note"] = (
            f"{asked} là ngày nghỉ: hạn chuyển sang ngày làm việc tiếp theo {moved} "
            f"(Điều 148 Bộ luật Dân sự) / {asked} is a day off: the deadline moves to "
            f"the next working day {moved} (Civil Code Art. 148)"
        )
    return result


# -- actions: change the case's fields --------------------------------------------


def _depart(case: Any, step: Any, rules: Any) -> None:
    case.actual_start = _param_date(step, "on", rules)


def _return(case: Any, step: Any, rules: Any) -> None:
    case.actual_end = _param_date(step, "on", rules)


def _open_report(case: Any, step: Any, rules: Any) -> None:
    case.deadline = _keep_report(case, report_basis(case, rules), rules)
    case.escalation_level = 0


def _file(case: Any, step: Any, rules: Any) -> None:
    case.report_filed_on = _param_date(step, "on", rules)
    case.filed_late = bool(case.deadline and case.report_filed_on > case.deadline)


def deadline_from(case: Any, event: str, at: datetime, rules: Any) -> date | None:
    """The deadline the case's kept basis gives under the current calendar (a case
    without one: what ``event`` at ``at`` gave it; None: one set by hand)."""
    kept = deadlines.kept(case).get("report")
    if kept:
        return deadlines.explain_basis(rules.calendar, "report", kept).result
    if event == "open_report" and case.actual_end:
        return report_deadline(case, rules)
    if event == "reject":
        return rules.deadline(
            rules.local_date(at),
            rules.settings.reject_new_deadline.in_force(rules.local_date(at)).due,
        )
    return None


def rejected_deadline(case: Any, step: Any, rules: Any) -> date:
    """After a rejection: the later of the current deadline and the rejection's own
    (``reject_new_deadline`` after the day the report was sent back)."""
    today = rules.local_date(step.at)
    version = rules.settings.reject_new_deadline.in_force(today).record("reject_new_deadline")
    record = deadlines.basis("reject", today, rule=version, floor=case.deadline)
    return _keep_report(case, record, rules)


def _reject(case: Any, step: Any, rules: Any) -> None:
    case.deadline = rejected_deadline(case, step, rules)
    case.report_filed_on = None
    case.filed_late = None
    case.escalation_level = 0


def _extend(case: Any, step: Any, rules: Any) -> None:
    case.deadline = extended_deadline(case, step, rules)
    case.escalation_level = 0


def _reopen(case: Any, step: Any, rules: Any) -> None:
    case.escalation_level = 0


def _escalate(case: Any, step: Any, rules: Any) -> None:
    case.escalation_level = (case.escalation_level or 0) + 1


# -- timers: when each state's deadlines fall -------------------------------------


def _departure_at(case: Any, rules: Any) -> list:
    return [rules.start_of_day(case.planned_start)] if case.planned_start else []


def _return_at(case: Any, rules: Any) -> list:
    return [rules.start_of_day(case.planned_end)] if case.planned_end else []


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
    kept = (deadlines.kept(case).get("report") or {}).get("rule") or {}
    rule = settings.private_report_due if case.purpose == "private" else settings.official_report_due
    # the version the deadline was counted under, else the one in force at the return
    due = kept.get("due") or rule.in_force(case.actual_end).due
    suspend_clock(case, step, rules, due)


def _resume(case: Any, step: Any, rules: Any) -> None:
    resume_clock(case, step, rules)


def _file_suspended(case: Any, step: Any, rules: Any) -> None:
    resume_clock(case, step, rules)
    _file(case, step, rules)


def _on_update(case: Any, step: Any, rules: Any) -> None:
    """A corrected return date or purpose moves an open report's deadline."""
    changed = step.params.get("changes", {})
    if case.state in ACTIVE and case.actual_end and {"actual_end", "purpose"} & set(changed):
        case.deadline = _keep_report(case, report_basis(case, rules), rules)


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
