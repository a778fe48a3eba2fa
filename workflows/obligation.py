"""A recurring obligation's own small lifecycle, shared by every case type whose
schedule opens obligations (NGO project reports, agreement reviews).

due ──file──▶ filed ──accept──▶ closed
filed ──reject (insufficient)──▶ due (new deadline)
due ──deadline passes──▶ overdue ──escalate──▶ escalated (level 1, 2, …)
overdue/escalated ──file──▶ filed (``filed_late`` stays true)
due/overdue/escalated ──extend──▶ due (new deadline)    …──cancel (waived)──▶ cancelled

An obligation is a child case: its parent opened it with its deadline and a
``data`` record of what it covers (``key``, ``label``, ``period_start``,
``period_end``). Filing, accepting, rejecting and waiving it tell the parent
(``obligation_filed``, ``obligation_closed``, ``obligation_reopened``); a parent
that has no use for the news in its current state ignores it.

Settings (``[workflows.<name>]``, a subclass of :class:`ObligationSettings` that
gives the defaults): ``reminders`` (offsets from the deadline), ``escalation``
(offsets after the deadline, one per level), ``reject_new_deadline``. A value in the
case's ``data`` under the same key wins (a project whose approval says otherwise). A filing recorded before the obligation opened (an import's
backfill) is kept as ``data["filed_on"]`` and replayed at its date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from kernel import deadlines
from kernel.errors import InvalidInput
from kernel.settings import AfterOffsets, BeforeOffsets, DeadlineRule, DurationText
from workflows.definition import Notice, TimerRule, Transition, Workflow, WorkflowSettings

ACTIVE = ("due", "overdue", "escalated")


class ObligationSettings(WorkflowSettings):
    """The keys of an obligation's section; each case type subclasses it with its
    own defaults."""

    reminders: BeforeOffsets
    escalation: AfterOffsets
    reject_new_deadline: DurationText


@dataclass(frozen=True)
class ObligationNotices:
    reminder: Notice
    rejected: Notice
    urging: Notice
    escalation: Notice


def setting(case: Any, rules: Any, key: str) -> Any:
    """A per-case override in ``case.data`` or the workflow's configured value."""
    data = case.data or {}
    return data[key] if data.get(key) not in (None, "", []) else getattr(rules.settings, key)


def as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def _param_date(step: Any, name: str, rules: Any) -> date:
    value = step.params.get(name)
    return rules.local_date(step.at) if value is None else as_date(value)


# -- guards ----------------------------------------------------------------------------


def _can_file(case: Any, step: Any, rules: Any) -> str | None:
    day = _filed_day(case, step, rules)
    start = (case.data or {}).get("period_start")
    if start and day < as_date(start):
        return f"report date {day} is before the period it covers starts ({start})"
    return None


def _can_extend(case: Any, step: Any, rules: Any) -> str | None:
    until = step.params.get("until")
    if until is None:
        return "extend needs the new deadline (until)"
    if case.deadline and as_date(until) <= case.deadline:
        shown = case.deadline.strftime("%d/%m/%Y")
        raise InvalidInput(
            "until",
            f"hạn mới phải sau hạn hiện tại ({shown}) / "
            f"the new deadline must be after the current one ({shown})",
        )
    return None


# -- actions ---------------------------------------------------------------------------


def _filed_day(case: Any, step: Any, rules: Any) -> date:
    """The day given with the event, else a recorded filing replayed now, else today."""
    if step.params.get("on") is not None:
        return as_date(step.params["on"])
    recorded = (case.data or {}).get("filed_on")
    today = rules.local_date(step.at)
    if recorded and as_date(recorded) <= today:
        return as_date(recorded)
    return today


def _file(case: Any, step: Any, rules: Any) -> None:
    case.report_filed_on = _filed_day(case, step, rules)
    case.filed_late = bool(case.deadline and case.report_filed_on > case.deadline)
    if "filed_on" in (case.data or {}):  # a recorded filing is replayed once
        case.data = {k: v for k, v in case.data.items() if k != "filed_on"}


def rule_version(value: Any, day: date, key: str) -> dict[str, Any]:
    """The version of a rule (a configured :class:`DeadlineRule`, or a per-case
    duration kept in the data) in force on ``day``, as a case keeps it."""
    if isinstance(value, DeadlineRule):
        return value.in_force(day).record(key)
    return {"due": str(value), "legal_basis": "", "effective_from": None, "key": key}


def _reject(case: Any, step: Any, rules: Any) -> None:
    """Back to due: the later of the current deadline and ``reject_new_deadline``
    after the day the report was sent back."""
    today = rules.local_date(step.at)
    version = rule_version(
        setting(case, rules, "reject_new_deadline"), today, "reject_new_deadline"
    )
    record = deadlines.basis("reject", today, rule=version, floor=case.deadline)
    deadlines.keep(case, "report", record)
    case.deadline = deadlines.explain_basis(rules.calendar, "report", record).result
    case.report_filed_on = None
    case.filed_late = None
    case.escalation_level = 0


def _extend(case: Any, step: Any, rules: Any) -> None:
    """The new deadline; a day off moves to the next working day (Civil Code Art. 148),
    noted in the history row."""
    until = as_date(step.params["until"])
    record = deadlines.basis(
        "extend", rules.local_date(step.at), until=until, note=step.reason or ""
    )
    deadlines.keep(case, "report", record)
    case.deadline = deadlines.explain_basis(rules.calendar, "report", record).result
    if case.deadline != until:
        asked, moved = until.strftime("%d/%m/%Y"), case.deadline.strftime("%d/%m/%Y")
        step.params["deadline"] = case.deadline.isoformat()
        step.params["note"] = (
            f"{asked} là ngày nghỉ: hạn chuyển sang ngày làm việc tiếp theo {moved} "
            f"(Điều 148 Bộ luật Dân sự) / {asked} is a day off: the deadline moves to "
            f"the next working day {moved} (Civil Code Art. 148)"
        )
    case.escalation_level = 0


def _escalate(case: Any, step: Any, rules: Any) -> None:
    case.escalation_level = (case.escalation_level or 0) + 1


# -- timers ----------------------------------------------------------------------------


def _reminders_at(case: Any, rules: Any) -> list[datetime]:
    return [
        rules.office_start(rules.add(case.deadline, offset))
        for offset in setting(case, rules, "reminders")
    ]


def _deadline_passes_at(case: Any, rules: Any) -> list[datetime]:
    return [rules.end_of_day(case.deadline)]


def _next_escalation_at(case: Any, rules: Any) -> list[datetime]:
    ladder = setting(case, rules, "escalation")
    level = case.escalation_level or 0
    if level >= len(ladder):
        return []
    return [rules.end_of_day(rules.add(case.deadline, ladder[level]))]


def _recorded_filing_at(case: Any, rules: Any) -> list[datetime]:
    data = case.data or {}
    if not data.get("filed_on"):
        return []
    at = rules.start_of_day(as_date(data["filed_on"]))
    opens = data.get("opens_at")
    if opens:
        at = max(at, datetime.fromisoformat(opens))
    return [at]


def obligation_workflow(
    name: str, title: str, notices: ObligationNotices, settings: type[ObligationSettings]
) -> Workflow:
    """The obligation lifecycle under ``name`` with these notices and settings."""
    return Workflow(
        name=name,
        title=title,
        states=("due", "filed", "overdue", "escalated", "closed", "cancelled"),
        initial="due",
        finals=("closed", "cancelled"),
        tags={
            "due": ("due",),
            "filed": ("done", "review"),
            "overdue": ("late",),
            "escalated": ("late", "escalated"),
            "closed": ("done",),
            "cancelled": ("cancelled",),  # waived
        },
        settings=settings,
        transitions=(
            Transition(
                "file",
                ACTIVE,
                "filed",
                _can_file,
                _file,
                tell_parent="obligation_filed",
                doc="the report arrives (late when after the deadline)",
            ),
            Transition(
                "accept",
                ("filed",),
                "closed",
                tell_parent="obligation_closed",
                doc="the report is sufficient",
            ),
            Transition(
                "reject",
                ("filed",),
                "due",
                action=_reject,
                notices=(notices.rejected,),
                needs=("reason",),
                tell_parent="obligation_reopened",
                doc="insufficient: back to due with a new deadline",
            ),
            Transition(
                "deadline_passed",
                ("due",),
                "overdue",
                notices=(notices.urging,),
                doc="no report by 24:00 of the deadline",
            ),
            Transition(
                "escalate",
                ("overdue", "escalated"),
                "escalated",
                action=_escalate,
                notices=(notices.escalation,),
                doc="still nothing: propose that leadership handle it",
            ),
            Transition(
                "extend",
                ACTIVE,
                "due",
                _can_extend,
                _extend,
                needs=("reason", "until"),
                doc="a new deadline",
            ),
            Transition(
                "cancel",
                ACTIVE,
                "cancelled",
                needs=("reason",),
                tell_parent="obligation_closed",
                doc="waived",
            ),
        ),
        timers=(
            TimerRule("due", "reminder", _reminders_at, notices=(notices.reminder,)),
            TimerRule("due", "deadline", _deadline_passes_at, event="deadline_passed"),
            TimerRule("due", "recorded_filing", _recorded_filing_at, event="file"),
            TimerRule("overdue", "escalate", _next_escalation_at, event="escalate"),
            TimerRule("overdue", "recorded_filing_overdue", _recorded_filing_at, event="file"),
            TimerRule("escalated", "escalate_next", _next_escalation_at, event="escalate"),
            TimerRule("escalated", "recorded_filing_escalated", _recorded_filing_at, event="file"),
        ),
    )
