"""The pure step: a case, its due timers, an event and the rules in; the work to write out.

Nothing here opens a database or reads a clock. A :class:`Stepper` is given the
workflows (the registry), the rules of each, the actor timers fire as and the instant
the work is computed at; its methods move a case in memory and collect what the
engine then writes in one transaction (:class:`CaseWork`: the moved case, its history
rows, the timers to cancel and to add, the notices to send or to record as skipped).

    work = CaseWork(case, expected_version=case.version, horizon=at)
    stepper.apply(case, "return", Step(at, "user:a", params={"on": day}), work, queue)
    stepper.advance(case, work, queue, now)        # its timers due by now fire, in order
    sent, skipped = stepper.choose_notices(work, notify=True)

Catch-up, not flood: of all the notices a step computed, only those of its latest
instant go out, and only if the case has not moved on since (a creation notice only
while the case is still in its initial state); the others are recorded as skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from engine.registry import Runtime
from engine.rules import Rules
from kernel.errors import TheodoiError
from workflows.definition import Notice

SKIP_BACKFILL = "backfill: notices for the past are not sent"

StepSpec = tuple[datetime, str, dict[str, Any], str | None]  # (at, event, params, reason)


@dataclass
class Step:
    """One event applied to a case: when it happened, who did it, why, with what."""

    at: datetime
    actor: str
    reason: str | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class CaseSpec:
    """A case to open as of ``created_at``, and what happened to it since: each step
    ``(at, event, params, reason)`` is applied once the case has caught up to ``at``."""

    workflow: str
    fields: dict[str, Any]
    created_at: datetime | None  # None: now
    steps: Sequence[StepSpec] = ()
    reason: str | None = None  # why the case was opened (its create event's reason)


class Draft(SimpleNamespace):
    """A new case while its past is computed: plain attributes, since setting one of
    a Case's goes through SQLAlchemy's instrumentation at twenty times the cost (about
    a tenth of an import's time, bench_import). The workflows' code takes either."""


@dataclass
class DueTimer:
    id: int | None  # None for a timer computed and fired in the same step
    kind: str
    level: int
    fire_at: datetime


@dataclass
class CaseWork:
    """Everything processing one case writes, computed before anything is written."""

    case: Any  # a Case; a new case: a Draft with the same fields
    expected_version: int | None  # None: a new case, inserted as computed
    horizon: datetime  # timers due up to here are fired now, in memory; later ones stored
    events: list[dict[str, Any]] = field(default_factory=list)
    fired: list[int] = field(default_factory=list)  # stored timers fired
    timers_fired: int = 0  # including timers computed and fired in the same step
    stale: list[int] = field(default_factory=list)
    cancel_pending: bool = False
    new_timers: list[dict[str, Any]] = field(default_factory=list)
    notices: list[tuple[datetime, Notice, int]] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)
    superseded: int = 0  # notices computed before the case last changed state
    # human-readable changes (simulate): when, which case, what; written out only for
    # a report (a new case has its id only once inserted)
    lines: list[tuple[datetime, Any, str]] = field(default_factory=list)
    # child cases to open (when, workflow, fields) and events for the parent case,
    # both carried out in the same transaction after this work is written
    children: list[tuple[datetime, str, dict[str, Any]]] = field(default_factory=list)
    parent_events: list[tuple[int, str, Step]] = field(default_factory=list)

    @property
    def moved(self) -> bool:
        return bool(self.events)


class Stepper:
    """Moves cases in memory. ``workflows`` maps a workflow's name to its runtime (a
    :class:`engine.registry.Registry` will do), ``rules`` gives each workflow's rules,
    ``actor`` is who timers fire as, ``now`` the instant the work is computed at (the
    history's ``recorded_at``, a moved case's ``updated_at``)."""

    def __init__(
        self,
        workflows: Mapping[str, Runtime] | Any,
        rules: Callable[[str], Rules],
        *,
        actor: str,
        now: datetime,
    ) -> None:
        self.workflows = workflows
        self.rules = rules
        self.actor = actor
        self.now = now

    # -- a new case ---------------------------------------------------------------------

    def open(self, case: Any, step: Step, steps: Sequence[StepSpec] = ()) -> CaseWork:
        """A new case's past: created at ``step.at`` in its initial state (``case``
        holds its fields), each of ``steps`` applied at its instant, caught up to
        ``self.now``; computed before the case has an id."""
        wf = self.workflows[case.workflow].workflow
        now = self.now
        if wf.on_create is not None:
            wf.on_create(case, step, self.rules(case.workflow))
        first = min(steps[0][0], now) if steps else now  # timers due by then: queued now
        work = CaseWork(case, expected_version=None, horizon=first)
        work.events.append(self.event_row(case, "create", None, wf.initial, step))
        work.lines.append((step.at, case, f"created in {wf.initial}"))
        for notice in wf.create_notices:
            work.notices.append((step.at, notice, 0))
        queue: list[DueTimer] = []
        self.schedule(case, work, step, queue)
        for at, event, params, reason in steps:
            self.apply(case, event, Step(at, step.actor, reason, dict(params)), work, queue)
        self.advance(case, work, queue, now)
        return work

    # -- events and timers --------------------------------------------------------------

    def apply(
        self, case: Any, event: str, step: Step, work: CaseWork, queue: list[DueTimer]
    ) -> None:
        """Bring the case up to ``step.at`` (a backdated event finds the state it met
        then), then apply ``event``; timers it schedules that are not due yet wait."""
        self.advance(case, work, queue, step.at)
        work.horizon = min(step.at, self.now)
        self.transition(case, event, step, work, queue)

    def advance(self, case: Any, work: CaseWork, queue: list[DueTimer], to: datetime) -> None:
        """Fire the case's timers due by ``to`` in order: those queued and those
        computed in memory and not yet stored."""
        work.horizon = to
        due = [t for t in work.new_timers if t["fire_at"] <= to]
        if due:
            work.new_timers = [t for t in work.new_timers if t["fire_at"] > to]
            queue.extend(DueTimer(None, t["kind"], t["level"], t["fire_at"]) for t in due)
            queue.sort(key=lambda t: t.fire_at)
        self.catch_up(case, work, queue)

    def transition(
        self,
        case: Any,
        event: str,
        step: Step,
        work: CaseWork,
        queue: list[DueTimer],
        *,
        auto: bool = False,
    ) -> None:
        runtime = self.workflows[case.workflow]
        rules = self.rules(case.workflow)
        transition = runtime.check(case, event, step, rules)
        source = case.state
        if transition.action is not None:
            transition.action(case, step, rules)
        if transition.spawn is not None:
            work.children.extend((step.at, w, f) for w, f in transition.spawn(case, step, rules))
        if transition.tell_parent and case.parent_id:
            child_step = child_step_for(case, event, step)
            work.parent_events.append((case.parent_id, transition.tell_parent, child_step))
        case.state = transition.dest
        case.version += 1
        case.updated_at = self.now
        if not auto:  # an automatic transition continues the step that led to it
            work.superseded = len(work.notices)  # those before no longer fit the case
        work.events.append(self.event_row(case, event, source, transition.dest, step))
        arrow = f"{source} → {transition.dest}"
        level = f" (level {case.escalation_level})" if event == "escalate" else ""
        work.lines.append((step.at, case, f"{arrow}  [{event}]{level}"))
        for notice in transition.notices:
            work.notices.append((step.at, notice, case.escalation_level or 0))
        if step.reason:
            work.reasons[event] = step.reason
        # Leaving a state cancels its timers; entering one schedules its own.
        work.cancel_pending = True
        queue.clear()
        work.new_timers = []
        self.schedule(case, work, step, queue)
        follow = runtime.workflow.auto.get(case.state)
        if follow:
            self.transition(
                case, follow, Step(at=step.at, actor=step.actor), work, queue, auto=True
            )

    def schedule(self, case: Any, work: CaseWork, step: Step, queue: list[DueTimer]) -> None:
        """Timers of the case's current state; those already due go on ``queue``."""
        wf = self.workflows[case.workflow].workflow
        rules = self.rules(case.workflow)
        for rule in wf.timers_for(case.state):
            for level, fire_at in enumerate(rule.when(case, rules), start=1):
                if fire_at is None or fire_at < step.at:
                    continue  # before the state was entered: not this state's business
                if fire_at <= work.horizon:
                    queue.append(DueTimer(None, rule.kind, level, fire_at))
                else:
                    work.new_timers.append(
                        {
                            "case_id": case.id,
                            "kind": rule.kind,
                            "level": level,
                            "fire_at": fire_at,
                            "status": "pending",
                        }
                    )
        queue.sort(key=lambda t: t.fire_at)

    def catch_up(self, case: Any, work: CaseWork, queue: list[DueTimer]) -> None:
        """Fire the case's due timers in order until none is due: the case lands in the
        state it should be in now, with history dated when each thing happened."""
        wf = self.workflows[case.workflow].workflow
        guard = 0
        while queue:
            guard += 1
            if guard > 1000:
                raise TheodoiError(f"case {case.id}: timers loop without end")
            timer = queue.pop(0)
            rule = wf.timer_rule(timer.kind)
            if rule is None or rule.state != case.state:
                if timer.id is not None:
                    work.stale.append(timer.id)
                continue
            if timer.id is not None:
                work.fired.append(timer.id)
            work.timers_fired += 1
            step = Step(at=timer.fire_at, actor=self.actor, params={})
            if rule.spawn is not None:
                rules = self.rules(case.workflow)
                work.children.extend((step.at, w, f) for w, f in rule.spawn(case, step, rules))
            if rule.event is not None:
                index = len(work.events)
                self.transition(case, rule.event, step, work, queue)
                work.events[index]["data"].update({"timer": timer.kind, "level": timer.level})
            else:
                data = {"timer": timer.kind, "level": timer.level}
                work.events.append(
                    self.event_row(case, timer.kind, case.state, case.state, step, data)
                )
                work.lines.append((step.at, case, f"{timer.kind} {timer.level}  ({case.state})"))
                for notice in rule.notices:
                    work.notices.append((step.at, notice, timer.level))

    # -- notices and history ------------------------------------------------------------

    def choose_notices(
        self, work: CaseWork, notify: bool
    ) -> tuple[list[tuple[datetime, Notice, int]], list[dict[str, Any]]]:
        """Catch-up, not flood: the notices that fit the case now, and history rows for
        the others (recorded as skipped, with the reason).

        A notice fits when it belongs to the work's latest instant with notices and
        the case has not changed state after it was computed: a trip entered after
        its return gets no approval notice, a report filed on a reminder's day no
        reminder. ``notify=False``: none is sent (a backfill)."""
        if not work.notices:
            return [], []
        case = work.case
        latest = max(at for at, _n, _l in work.notices)
        sent, skipped = [], []
        for index, (at, notice, level) in enumerate(work.notices):
            if notify and at == latest and index >= work.superseded:
                sent.append((at, notice, level))
                continue
            reason = (
                SKIP_BACKFILL
                if not notify
                else f"superseded: the case is now {case.state}; only its current notice goes out"
            )
            step = Step(at=at, actor=self.actor, reason=reason)
            data = {"notice": notice.kind, "level": level}
            skipped.append(self.event_row(case, "notice_skipped", None, None, step, data))
        return sent, skipped

    def event_row(
        self,
        case: Any,
        event: str,
        source: str | None,
        dest: str | None,
        step: Step,
        data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        payload = {k: plain(v) for k, v in step.params.items()}
        payload.update(data or {})
        return {
            "case_id": case.id,
            "event": event,
            "from_state": source,
            "to_state": dest,
            "actor": step.actor,
            "at": step.at,
            "recorded_at": self.now,
            "reason": step.reason,
            "data": payload,
        }


def identify(work: CaseWork, case_id: int) -> None:
    """Give a new case, computed before it was inserted, its id: on the case, its
    history and timer rows, and the steps it passes to its parent."""
    work.case.id = case_id
    for row in work.events:
        row["case_id"] = case_id
    for row in work.new_timers:
        row["case_id"] = case_id
    for _parent, _event, step in work.parent_events:
        step.params["child_id"] = case_id


def child_step_for(case: Any, event: str, step: Step) -> Step:
    """The step a parent receives from a child's transition: same time and actor."""
    params = {
        "child_id": case.id,
        "child_workflow": case.workflow,
        "child_event": event,
        "child_key": (case.data or {}).get("key"),
    }
    return Step(at=step.at, actor=step.actor, reason=step.reason, params=params)


def plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
