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

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from kernel import deadlines
from kernel.calendar import Duration
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
    # the extension-request notices; None: answers to the reminder's recipients
    clock: ClockNotices | None = None

    def clock_notices(self) -> ClockNotices:
        return self.clock or clock_notices(self.reminder.to, self.reminder.cc)


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
        states=("due", "suspended", "filed", "overdue", "escalated", "closed", "cancelled"),
        initial="due",
        finals=("closed", "cancelled"),
        tags={
            "due": ("due",),
            "suspended": ("due",),  # owed, its clock stopped
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
            *clock_transitions(
                due="due",
                suspended="suspended",
                active=ACTIVE,
                filed="filed",
                file_tells="obligation_filed",
                suspend=_suspend,
                resume=_resume,
                file_guard=_can_file,
                file_suspended=_file_suspended,
                can_extend=_can_extend,
                extend=_extend,
                notices=notices.clock_notices(),
            ),
            Transition(
                "cancel",
                (*ACTIVE, "suspended"),
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


# -- suspension: the clock stops, and resumes with the time that was left ------------------

SUSPENSIONS = "suspensions"  # data key: one record per suspension, the last maybe open
EXTENSION_REQUEST = "extension_request"  # data key: the unit's open request, if any
EXTENSION_REQUESTS = "extension_requests"  # data key: requests answered, oldest first


def _in_working_days(rule: Any) -> bool:
    return Duration.parse(str(rule)).unit == "working_days"


def suspend_clock(case: Any, step: Any, rules: Any, rule: Any) -> None:
    """Stop the clock of ``case``: record what was left of its deadline, in the
    units of ``rule`` (the duration that set it: working days for a working-day
    rule, else calendar days), from the day of suspension (not counted) to the
    deadline. The suspended state has no timers: nothing fires while it lasts."""
    today = rules.local_date(step.at)
    working = _in_working_days(rule)
    if case.deadline is None:
        left = 0
    elif working:
        left = max(rules.calendar.working_days_between(today, case.deadline), 0)
    else:
        left = max((case.deadline - today).days, 0)
    data = dict(case.data or {})
    items = [dict(item) for item in data.get(SUSPENSIONS, [])]
    items.append(
        {
            "since": step.at.isoformat(),
            "until": None,
            "reason": step.reason,
            "deadline": case.deadline.isoformat() if case.deadline else None,
            "left": left,
            "unit": "working_days" if working else "days",
        }
    )
    data[SUSPENSIONS] = items
    case.data = data


def resume_clock(case: Any, step: Any, rules: Any) -> None:
    """Start the clock again: the time left at suspension, counted from the day of
    resumption (not counted); a last day off moves to the next working day; never
    earlier than the deadline before the suspension. Records the days suspended."""
    data = dict(case.data or {})
    items = [dict(item) for item in data.get(SUSPENSIONS, [])]
    if not items or items[-1].get("until") is not None:
        return
    last = items[-1]
    resumed = rules.local_date(step.at)
    since = rules.local_date(datetime.fromisoformat(last["since"]))
    left = int(last.get("left") or 0)
    if last.get("unit") == "working_days":
        new = rules.add_working_days(resumed, left)
    else:
        new = resumed + timedelta(days=left)
    new = rules.next_working_day(new)
    before = as_date(last["deadline"]) if last.get("deadline") else None
    if before is not None:
        new = max(new, before)
    last.update(
        until=step.at.isoformat(),
        resume_reason=step.reason,
        days=(resumed - since).days,
        new_deadline=new.isoformat(),
    )
    data[SUSPENSIONS] = items
    data["suspended_days"] = suspended_days(items)
    case.data = data
    case.deadline = new
    case.escalation_level = 0


def suspended_days(items: Any, today: date | None = None) -> int:
    """Calendar days suspended over ``items`` (an open suspension counts up to
    ``today`` when given)."""
    total = 0
    for item in items or []:
        if item.get("days") is not None:
            total += int(item["days"])
        elif today is not None and item.get("since"):
            total += max((today - datetime.fromisoformat(item["since"]).date()).days, 0)
    return total


def _obligation_rule(case: Any, rules: Any) -> str:
    """The duration that set an obligation's deadline (kept in its data), else days."""
    return str((case.data or {}).get("due") or "1 days")


def _suspend(case: Any, step: Any, rules: Any) -> None:
    suspend_clock(case, step, rules, _obligation_rule(case, rules))


def _resume(case: Any, step: Any, rules: Any) -> None:
    resume_clock(case, step, rules)


def _file_suspended(case: Any, step: Any, rules: Any) -> None:
    """A report that arrives while suspended ends the suspension on its day."""
    resume_clock(case, step, rules)
    _file(case, step, rules)


# -- extension requests: the unit asks, a coordinator grants or refuses -------------------


class _With:
    """``step`` with other params (a granted request's date as ``until``)."""

    def __init__(self, step: Any, **params: Any) -> None:
        self.at, self.actor, self.reason = step.at, step.actor, step.reason
        self.params = {**step.params, **params}


def open_request(case: Any) -> dict[str, Any] | None:
    return (case.data or {}).get(EXTENSION_REQUEST) or None


def request_guard(can_extend: Any) -> Any:
    """The guard of ``request_extension``: one open request at a time, with a reason
    and a proposed date that ``extend`` would take."""

    def guard(case: Any, step: Any, rules: Any) -> str | None:
        pending = open_request(case)
        if pending:
            return (
                f"an extension request is already open (until {pending.get('until')}); "
                "đã có đề nghị gia hạn đang chờ xử lý"
            )
        return can_extend(case, step, rules)

    return guard


def grant_guard(can_extend: Any) -> Any:
    """The guard of ``grant_extension``: an open request, and a new deadline (the one
    given, else the one proposed) that ``extend`` would take."""

    def guard(case: Any, step: Any, rules: Any) -> str | None:
        pending = open_request(case)
        if not pending:
            return "no extension request is open / không có đề nghị gia hạn đang chờ"
        until = step.params.get("until") or pending.get("until")
        return can_extend(case, _With(step, until=until), rules)

    return guard


def _can_refuse(case: Any, step: Any, rules: Any) -> str | None:
    if not open_request(case):
        return "no extension request is open / không có đề nghị gia hạn đang chờ"
    return None


def _request_extension(case: Any, step: Any, rules: Any) -> None:
    data = dict(case.data or {})
    data[EXTENSION_REQUEST] = {
        "at": step.at.isoformat(),
        "by": step.actor,
        "until": as_date(step.params["until"]).isoformat(),
        "reason": step.reason,
        "deadline": case.deadline.isoformat() if case.deadline else None,
    }
    case.data = data


def _answer(case: Any, step: Any, outcome: str, **more: Any) -> None:
    data = dict(case.data or {})
    request = dict(data.pop(EXTENSION_REQUEST, None) or {})
    request.update(outcome=outcome, answered_at=step.at.isoformat(), answered_by=step.actor)
    request.update(answer=step.reason, **more)
    data[EXTENSION_REQUESTS] = [*data.get(EXTENSION_REQUESTS, []), request]
    case.data = data


def grant_action(extend: Any) -> Any:
    """The action of ``grant_extension``: the workflow's own ``extend`` to the date
    given (else the one proposed), the answer recorded on the request."""

    def action(case: Any, step: Any, rules: Any) -> None:
        pending = open_request(case) or {}
        until = step.params.get("until") or pending.get("until")
        before = case.deadline
        extend(case, _With(step, until=until), rules)
        _answer(
            case,
            step,
            "granted",
            previous_deadline=before.isoformat() if before else None,
            granted_until=case.deadline.isoformat() if case.deadline else None,
        )

    return action


def _refuse_extension(case: Any, step: Any, rules: Any) -> None:
    _answer(case, step, "refused")


def clock_transitions(
    *,
    due: str,
    suspended: str,
    active: tuple[str, ...],
    filed: str,
    file_tells: str | None,
    suspend: Any,
    resume: Any,
    file_guard: Any,
    file_suspended: Any,
    can_extend: Any,
    extend: Any,
    notices: ClockNotices,
) -> tuple[Transition, ...]:
    """The steps that stop a case's clock and let its unit ask for more time, for a
    lifecycle whose owed state is ``due`` (late: the rest of ``active``)."""
    return (
        Transition(
            "suspend",
            (due,),
            suspended,
            action=suspend,
            needs=("reason",),
            doc="stop the clock: nothing fires until resumed",
        ),
        Transition(
            "resume",
            (suspended,),
            due,
            action=resume,
            needs=("reason",),
            doc="the clock runs again with the time that was left",
        ),
        Transition(
            "file",
            (suspended,),
            filed,
            file_guard,
            file_suspended,
            tell_parent=file_tells,
            doc="the report arrives while suspended",
        ),
        *(
            Transition(
                "request_extension",
                (state,),
                state,
                request_guard(can_extend),
                _request_extension,
                notices=(notices.requested,),
                needs=("reason", "until"),
                doc="the unit asks for more time (the clock runs on)",
            )
            for state in active
        ),
        Transition(
            "grant_extension",
            active,
            due,
            grant_guard(can_extend),
            grant_action(extend),
            notices=(notices.granted,),
            needs=("reason",),
            doc="the request granted: a new deadline",
        ),
        *(
            Transition(
                "refuse_extension",
                (state,),
                state,
                _can_refuse,
                _refuse_extension,
                notices=(notices.refused,),
                needs=("reason",),
                doc="the request refused: the deadline stands",
            )
            for state in active
        ),
    )


@dataclass(frozen=True)
class ClockNotices:
    requested: Notice
    granted: Notice
    refused: Notice


def clock_notices(unit: tuple[str, ...], cc: tuple[str, ...] = ()) -> ClockNotices:
    """The extension notices: the request to the coordinators, the answers to ``unit``."""
    return ClockNotices(
        requested=Notice("extension_requested", to=("coordinators",)),
        granted=Notice("extension_granted", to=unit, cc=cc, attach=("ics",)),
        refused=Notice("extension_refused", to=unit, cc=cc),
    )


# -- follow-ups: obligations a case owes once something happened to it -------------------


class FollowUpSettings(ObligationSettings):
    """The section of an obligation a case owes after an event (a trip's re-entry):
    its rule (``due``, counted from the event's day, not counted), the rule's legal
    basis, and whether it applies in this province at all (``enabled``)."""

    enabled: bool = True
    due: DurationText
    legal_basis: str = ""


@dataclass(frozen=True)
class FollowUp:
    """An obligation a parent case opens as a child case when it reaches an event
    (a returned trip: the passport to hand back, a party member's report …).

    ``child`` is the obligation's workflow (made with :func:`follow_up_workflow`),
    ``key`` its identity within the parent, ``applies(case)`` whether this parent
    owes it, ``starts(case)`` the day its count starts. Its rule, legal basis and
    on/off are the child's settings; nothing else is needed to add one."""

    child: str
    key: str
    label: str  # Vietnamese: "nộp lại hộ chiếu"
    label_en: str  # "passport return"
    applies: Any  # (case) -> bool
    starts: Any  # (case) -> date | None
    inherit: tuple[str, ...] = ()  # parent data keys the child copies

    def fields(self, case: Any) -> dict[str, Any]:
        starts = self.starts(case)
        data = {k: (case.data or {})[k] for k in self.inherit if (case.data or {}).get(k)}
        data.update(
            key=self.key,
            label=self.label,
            label_en=self.label_en,
            period_start=starts.isoformat() if starts else None,
            starts_on=starts.isoformat() if starts else None,
            parent_name=case.name,
        )
        return {
            "name": f"{self.label[:1].upper()}{self.label[1:]}: {case.name}"[:255],
            "name_key": f"{case.name_key}:{self.key}"[:255],
            "unit_id": case.unit_id,
            "decision_id": case.decision_id,
            "email": case.email,
            "position": getattr(case, "position", None),
            "actual_end": getattr(case, "actual_end", None),
            "data": data,
        }


def open_follow_ups(follow_ups: tuple[FollowUp, ...]) -> Any:
    """A spawn opening each of ``follow_ups`` the case owes (once: keys are kept in
    ``data["opened"]``); a child type switched off (``enabled = false``) is not
    opened (the engine checks its settings)."""

    def spawn(case: Any, step: Any, rules: Any) -> list[tuple[str, dict[str, Any]]]:
        data = dict(case.data or {})
        opened = list(data.get("opened", []))
        out = []
        for follow_up in follow_ups:
            if follow_up.key in opened or not follow_up.applies(case):
                continue
            opened.append(follow_up.key)
            out.append((follow_up.child, follow_up.fields(case)))
        if out:
            case.data = {**data, "opened": opened}
        return out

    return spawn


def _start_follow_up(case: Any, step: Any, rules: Any) -> None:
    """A follow-up's deadline: its rule from the day its count starts."""
    settings: FollowUpSettings = rules.settings
    data = dict(case.data or {})
    starts = as_date(data["starts_on"]) if data.get("starts_on") else rules.local_date(step.at)
    case.deadline = rules.deadline(starts, settings.due)
    data.update(
        due=str(settings.due),
        legal_basis=settings.legal_basis,
        original_deadline=case.deadline.isoformat(),
    )
    case.data = data


def follow_up_workflow(
    name: str, title: str, notices: ObligationNotices, settings: type[FollowUpSettings]
) -> Workflow:
    """The obligation lifecycle for a follow-up: opened with its deadline counted by
    its own rule (``settings.due``) from the day in its data."""
    return replace(obligation_workflow(name, title, notices, settings), on_create=_start_follow_up)
