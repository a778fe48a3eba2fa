"""How cases move: events, timers, catch-up, and the one-transaction write of a step.

Every change is computed in memory first (a :class:`CaseWork`: the moved case, its
history rows, the timers to cancel and to add, the notices), then written in batches
in the caller's transaction. A sweep batches many cases into one transaction; if the
batched write fails, the batch is redone one case at a time, each under a savepoint,
so one bad case does not sink the others. New cases are opened the same way, many at
once if need be (:meth:`Engine.replay_many`, what an import of past trips uses).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import cached_property
from types import SimpleNamespace
from typing import Any

from engine.registry import Registry
from engine.rules import Rules
from kernel.calendar import BusinessCalendar
from kernel.clock import Clock, to_local
from kernel.errors import (
    ConcurrentUpdate,
    InvalidInput,
    NotFound,
    TheodoiError,
    TransitionNotAllowed,
)
from kernel.settings import Config
from notifications import outbox
from notifications.outbox import NoticeRequest, Router, build_rows
from storage import queries
from storage.db import Database, Session, is_transient
from storage.models import Case
from workflows.definition import Notice

log = logging.getLogger("theodoi.engine")

SKIP_BACKFILL = "backfill: notices for the past are not sent"


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
    steps: Sequence[tuple[datetime, str, dict[str, Any], str | None]] = ()
    reason: str | None = None  # why the case was opened (its create event's reason)


class _Draft(SimpleNamespace):
    """A new case while its past is computed: plain attributes, since setting one of
    a Case's goes through SQLAlchemy's instrumentation at twenty times the cost (about
    a tenth of an import's time, bench_import). The workflows' code takes either."""


@dataclass
class _DueTimer:
    id: int | None  # None for a timer computed and fired in the same step
    kind: str
    level: int
    fire_at: datetime


@dataclass
class CaseWork:
    """Everything processing one case writes, computed before anything is written."""

    case: Case  # a new case: a _Draft with the same fields
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


@dataclass
class SweepReport:
    fired: int = 0
    cases: int = 0
    parked: int = 0
    lines: list[str] = field(default_factory=list)


class Engine:
    """Moves cases. Holds no state between calls except the calendar it was given."""

    def __init__(
        self,
        db: Database,
        config: Config,
        registry: Registry,
        clock: Clock,
        worker_id: str = "main",
    ) -> None:
        self.db = db
        self.config = config
        self.registry = registry
        self.clock = clock
        self.worker_id = worker_id
        self.calendar: BusinessCalendar = config.business_calendar()
        self.stopping = threading.Event()  # set on shutdown: sweeps end after their batch
        self._mail_domain = config.smtp.from_address.rpartition("@")[2] or "theodoi.local"

    # -- configuration ------------------------------------------------------------

    def reload_calendar(self, session: Session) -> None:
        """Add the closures and make-up days admins stored in the database."""
        closures, working = queries.calendar_overlay(session)
        calendar = self.config.business_calendar().with_overlay(closures, working)
        if calendar != self.calendar:
            self.calendar = calendar
            self.__dict__.pop("_rules", None)

    @cached_property
    def _rules(self) -> dict[str, Rules]:
        org = self.config.organisation
        out = {}
        for name in self.registry.names():
            settings = self.config.workflow_settings(name)
            out[name] = Rules(settings, self.calendar, org.tz, self.config.calendar.office_start)
        return out

    def rules(self, workflow: str) -> Rules:
        return self._rules[workflow]

    def _fmt(self, instant: datetime) -> str:
        return to_local(instant, self.config.organisation.tz).strftime("%Y-%m-%d %H:%M")

    @property
    def actor(self) -> str:
        return f"worker:{self.worker_id}"

    # -- interactive steps ------------------------------------------------------------

    def create_case(
        self,
        session: Session,
        workflow: str,
        fields: dict[str, Any],
        *,
        actor: str,
        at: datetime | None = None,
        notify: bool = True,
        reason: str | None = None,
    ) -> Case:
        """Insert a case in its initial state, schedule its timers, catch it up to now."""
        spec = CaseSpec(workflow, fields, at, reason=reason)
        return self.replay_many(session, [spec], actor=actor, notify=notify)[0]

    def replay_many(
        self,
        session: Session,
        specs: Sequence[CaseSpec],
        *,
        actor: str,
        notify: bool = False,
    ) -> list[Case]:
        """Open cases as of their ``created_at`` and replay their steps, in one batch.

        Each case is created in its initial state (create event, creation notices, the
        state's timers), brought up to each step's instant (its due timers fire in
        order) where the step's event is applied, then caught up to now: the history
        ``create_case`` and ``fire`` at those instants would write. The cases are
        inserted with one statement; history, timers and notices are then written
        with one ``executemany`` each (``notify=False``: notices recorded as skipped).
        """
        now = self.clock.now()
        works = []
        for spec in specs:
            draft, step = self._open(spec, actor, now)
            works.append(self._replay(draft, step, spec.steps, now))
        ids = queries.insert_cases(session, [work.case for work in works])
        for work, case_id in zip(works, ids, strict=True):
            _identify(work, case_id)
        self._write(session, works, now, notify=notify)
        return [queries.case_from_fields(work.case) for work in works]

    def fire(
        self,
        session: Session,
        case_id: int,
        event: str,
        *,
        actor: str,
        at: datetime | None = None,
        reason: str | None = None,
        params: dict[str, Any] | None = None,
        expected_version: int | None = None,
        notify: bool = True,
    ) -> Case:
        """Apply ``event`` to a case (as of ``at``, default now) and catch it up to now."""
        now = self.clock.now()
        at = at or now
        if at > now + timedelta(minutes=1):
            raise InvalidInput("at", f"{self._fmt(at)} is in the future")
        case = self._load(session, case_id, expected_version)
        work = CaseWork(case, expected_version=case.version, horizon=at)
        queue = [
            _DueTimer(t.id, t.kind, t.level, t.fire_at)
            for t in queries.pending_timers(session, case_id)
            if t.fire_at <= at
        ]
        step = Step(at=at, actor=actor, reason=reason, params=dict(params or {}))
        self._apply(case, event, step, work, queue, now)
        self._advance(case, work, queue, now)
        self._write(session, [work], now, notify=notify)
        return case

    def note(self, session: Session, case_id: int, text: str, *, actor: str) -> None:
        """A remark in the case's history; the case does not move."""
        if not text.strip():
            raise InvalidInput("note", "is empty")
        case = self._load(session, case_id, None)
        now = self.clock.now()
        row = self._event_row(case, "note", case.state, case.state, Step(now, actor, text))
        queries.insert_events(session, [row])

    def update_fields(
        self,
        session: Session,
        case_id: int,
        changes: dict[str, Any],
        *,
        actor: str,
        reason: str | None = None,
        expected_version: int | None = None,
        notify: bool = False,
    ) -> Case:
        """Correct a case's data (e.g. a re-imported return date), record the change and
        re-arm the current state's timers so deadlines follow the new data."""
        now = self.clock.now()
        case = self._load(session, case_id, expected_version)
        diff = {}
        for key, value in changes.items():
            old = getattr(case, key)
            if old != value:
                diff[key] = [_plain(old), _plain(value)]
                setattr(case, key, value)
        if not diff:
            return case
        work = CaseWork(case, expected_version=case.version, horizon=now)
        wf = self.registry[case.workflow].workflow
        rules = self.rules(case.workflow)
        step = Step(at=now, actor=actor, reason=reason, params={"changes": diff})
        deadline_before = case.deadline
        if wf.on_update is not None:
            wf.on_update(case, step, rules)
        if case.deadline != deadline_before and "deadline" not in diff:
            diff["deadline"] = [_plain(deadline_before), _plain(case.deadline)]
        work.events.append(
            self._event_row(case, "update", case.state, case.state, step, {"changes": diff})
        )
        case.version += 1
        case.updated_at = now
        if wf.reopen and wf.transition(wf.reopen, case.state):
            reopened: list[_DueTimer] = []
            try:  # the late case's corrected deadline is ahead again: back to due
                self._transition(case, wf.reopen, Step(now, actor, reason), work, reopened)
            except TransitionNotAllowed:
                pass
            else:  # the transition re-armed the new state's timers
                self._catch_up(case, work, reopened)
                self._write(session, [work], now, notify=notify)
                return case
        # Re-arm the current state's timers with the new data: timers the correction
        # put in the past fire now, at their own instants (a deadline moved back can
        # make the case overdue); a timer that already fired does not fire again.
        history = queries.case_events(session, case.id)
        done = {(e.data.get("timer"), e.data.get("level"), e.at) for e in history}
        work.cancel_pending = True
        queue: list[_DueTimer] = []
        self._schedule(case, work, Step(at=case.created_at, actor=actor), queue)
        queue[:] = [t for t in queue if (t.kind, t.level, t.fire_at) not in done]
        self._catch_up(case, work, queue)
        self._write(session, [work], now, notify=notify)
        return case

    def recalculate_deadlines(
        self, session: Session, *, actor: str
    ) -> list[tuple[Case, date | None, date]]:
        """After a calendar change: every case whose deadline the calendar set (its
        workflow's ``deadline_from`` for the event that brought it to its state) gets
        it recomputed; a change goes through :meth:`update_fields` (history, timers).
        Returns (case, old, new) for each deadline that moved."""
        self.reload_calendar(session)
        moved = []
        for name in self.registry.names():
            wf = self.registry[name].workflow
            if wf.deadline_from is None:
                continue
            for case in queries.find_cases(session, workflow=name, with_deadline=True):
                entry = queries.state_entry_event(session, case.id, case.state, wf.events)
                if entry is None:
                    continue
                new = wf.deadline_from(case, entry.event, entry.at, self.rules(name))
                if new is None or new == case.deadline:
                    continue
                old = case.deadline
                updated = self.update_fields(
                    session, case.id, {"deadline": new}, actor=actor,
                    reason="calendar changed / lịch làm việc thay đổi",
                    expected_version=case.version,
                )
                moved.append((updated, old, new))
        return moved

    # -- the sweep ------------------------------------------------------------------------

    def sweep(self, now: datetime | None = None, *, max_batches: int | None = None) -> SweepReport:
        """Fire every timer due at ``now``, batch by batch, each batch one transaction."""
        now = now or self.clock.now()
        report = SweepReport()
        # An admin's closure or make-up day reaches every worker at its next sweep.
        with self.db.session(write=False) as session:
            self.reload_calendar(session)
        batches = 0
        while max_batches is None or batches < max_batches:
            if self.stopping.is_set():  # shutting down: the batch in hand was the last
                break
            batches += 1
            done = self._sweep_batch(now, report)
            if not done:
                break
        return report

    def _sweep_batch(self, now: datetime, report: SweepReport) -> int:
        limit = self.config.storage.sweep_batch
        try:
            with self.db.session() as session:
                return self._process_batch(session, now, limit, report, careful=False)
        except (ConcurrentUpdate, _BatchFailed) as exc:
            log.warning("batch write failed (%s); redoing it case by case", exc)
            with self.db.session() as session:
                return self._process_batch(session, now, limit, report, careful=True)

    def _process_batch(
        self, session: Session, now: datetime, limit: int, report: SweepReport, careful: bool
    ) -> int:
        due = queries.claim_due(session, now, limit)
        if not due:
            return 0
        cases = {c.id: c for c in queries.load_cases(session, due)}
        works: list[CaseWork] = []
        parked: list[tuple[int, str]] = []
        for case_id, timers in due.items():
            case = cases[case_id]
            queue = [_DueTimer(t.id, t.kind, t.level, t.fire_at) for t in timers]
            work = CaseWork(case, expected_version=case.version, horizon=now)
            try:
                self._catch_up(case, work, queue)
            except Exception as exc:  # a poison case: park its timers, go on
                log.error("case %s: timer failed: %s", case_id, exc, exc_info=True)
                parked.extend((t.id, f"{type(exc).__name__}: {exc}") for t in timers)
                continue
            works.append(work)
        for timer_id, error in parked:
            queries.set_timer_status(session, [timer_id], "parked", now, error)
        report.parked += len(parked)
        if careful:
            for work in works:
                try:
                    with session.begin_nested():
                        self._write(session, [work], now, notify=True)
                except Exception as exc:
                    if is_transient(exc):
                        raise  # the connection, not the case: back off, park nothing
                    log.error("case %s: step not written: %s", work.case.id, exc)
                    ids = work.fired + work.stale
                    queries.set_timer_status(session, ids, "parked", now, str(exc)[:500])
                    report.parked += len(ids)
                    continue
                self._count(work, report)
        else:
            try:
                self._write(session, works, now, notify=True)
            except TheodoiError:  # ConcurrentUpdate included: the caller redoes it carefully
                raise
            except Exception as exc:
                if is_transient(exc):
                    raise  # connection lost or database locked: the caller backs off
                raise _BatchFailed(str(exc)) from exc
            for work in works:
                self._count(work, report)
        return len(due)

    def _count(self, work: CaseWork, report: SweepReport) -> None:
        report.cases += 1
        report.fired += work.timers_fired
        report.lines.extend(
            f"{self._fmt(at)}  case {case.id}  {what}" for at, case, what in work.lines
        )

    # -- the core: transitions, timers, catch-up ---------------------------------------

    def _load(self, session: Session, case_id: int, expected_version: int | None) -> Case:
        case = queries.get_case(session, case_id, lock=True)
        if case is None:
            raise NotFound(f"case {case_id} does not exist")
        if expected_version is not None and case.version != expected_version:
            raise ConcurrentUpdate(case_id, expected_version)
        return case

    def _open(self, spec: CaseSpec, actor: str, now: datetime) -> tuple[Any, Step]:
        """A new case in its workflow's initial state (not yet inserted)."""
        if spec.workflow not in self.registry:
            raise InvalidInput("workflow", f"unknown workflow '{spec.workflow}'")
        wf = self.registry[spec.workflow].workflow
        created_at = last = spec.created_at or now
        for at, event, _params, _reason in spec.steps:
            if at > now + timedelta(minutes=1):
                raise InvalidInput("at", f"{event} at {self._fmt(at)} is in the future")
            if at < last:
                raise InvalidInput(
                    "at", f"{event} at {self._fmt(at)} is before the step it follows"
                )
            last = at
        values = {**spec.fields, "workflow": spec.workflow, "state": wf.initial, "version": 1}
        case = _Draft(**queries.new_case_values({**values, "created_at": now, "updated_at": now}))
        step = Step(at=created_at, actor=actor, reason=spec.reason)
        if wf.on_create is not None:
            wf.on_create(case, step, self.rules(spec.workflow))
        return case, step

    def _replay(
        self,
        case: Case,
        step: Step,
        steps: Sequence[tuple[datetime, str, dict[str, Any], str | None]],
        now: datetime,
    ) -> CaseWork:
        """A new case's past: created at ``step.at``, each of ``steps`` applied at its
        instant, caught up to ``now``; computed before the case has an id."""
        wf = self.registry[case.workflow].workflow
        first = min(steps[0][0], now) if steps else now  # timers due by then: queued now
        work = CaseWork(case, expected_version=None, horizon=first)
        work.events.append(self._event_row(case, "create", None, wf.initial, step))
        work.lines.append((step.at, case, f"created in {wf.initial}"))
        for notice in wf.create_notices:
            work.notices.append((step.at, notice, 0))
        queue: list[_DueTimer] = []
        self._schedule(case, work, step, queue)
        for at, event, params, reason in steps:
            self._apply(case, event, Step(at, step.actor, reason, dict(params)), work, queue, now)
        self._advance(case, work, queue, now)
        return work

    def _apply(
        self,
        case: Case,
        event: str,
        step: Step,
        work: CaseWork,
        queue: list[_DueTimer],
        now: datetime,
    ) -> None:
        """Bring the case up to ``step.at`` (a backdated event finds the state it met
        then), then apply ``event``; timers it schedules that are not due yet wait."""
        self._advance(case, work, queue, step.at)
        work.horizon = min(step.at, now)
        self._transition(case, event, step, work, queue)

    def _advance(self, case: Case, work: CaseWork, queue: list[_DueTimer], to: datetime) -> None:
        """Fire the case's timers due by ``to`` in order: those queued and those
        computed in memory and not yet stored."""
        work.horizon = to
        due = [t for t in work.new_timers if t["fire_at"] <= to]
        if due:
            work.new_timers = [t for t in work.new_timers if t["fire_at"] > to]
            queue.extend(_DueTimer(None, t["kind"], t["level"], t["fire_at"]) for t in due)
            queue.sort(key=lambda t: t.fire_at)
        self._catch_up(case, work, queue)

    def _transition(
        self, case: Case, event: str, step: Step, work: CaseWork, queue: list[_DueTimer]
    ) -> None:
        runtime = self.registry[case.workflow]
        rules = self.rules(case.workflow)
        transition = runtime.check(case, event, step, rules)
        source = case.state
        if transition.action is not None:
            transition.action(case, step, rules)
        if transition.spawn is not None:
            work.children.extend((step.at, w, f) for w, f in transition.spawn(case, step, rules))
        if transition.tell_parent and case.parent_id:
            child_step = _child_step(case, event, step)
            work.parent_events.append((case.parent_id, transition.tell_parent, child_step))
        case.state = transition.dest
        case.version += 1
        case.updated_at = self.clock.now()
        work.events.append(self._event_row(case, event, source, transition.dest, step))
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
        self._schedule(case, work, step, queue)
        auto = runtime.workflow.auto.get(case.state)
        if auto:
            self._transition(case, auto, Step(at=step.at, actor=step.actor), work, queue)

    def _schedule(self, case: Case, work: CaseWork, step: Step, queue: list[_DueTimer]) -> None:
        """Timers of the case's current state; those already due go on ``queue``."""
        wf = self.registry[case.workflow].workflow
        rules = self.rules(case.workflow)
        for rule in wf.timers_for(case.state):
            for level, fire_at in enumerate(rule.when(case, rules), start=1):
                if fire_at is None or fire_at < step.at:
                    continue  # before the state was entered: not this state's business
                if fire_at <= work.horizon:
                    queue.append(_DueTimer(None, rule.kind, level, fire_at))
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

    def _catch_up(self, case: Case, work: CaseWork, queue: list[_DueTimer]) -> None:
        """Fire the case's due timers in order until none is due: the case lands in the
        state it should be in now, with history dated when each thing happened."""
        wf = self.registry[case.workflow].workflow
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
                self._transition(case, rule.event, step, work, queue)
                work.events[index]["data"].update({"timer": timer.kind, "level": timer.level})
            else:
                data = {"timer": timer.kind, "level": timer.level}
                work.events.append(
                    self._event_row(case, timer.kind, case.state, case.state, step, data)
                )
                work.lines.append((step.at, case, f"{timer.kind} {timer.level}  ({case.state})"))
                for notice in rule.notices:
                    work.notices.append((step.at, notice, timer.level))

    # -- writing ------------------------------------------------------------------------

    def _write(self, session: Session, works: list[CaseWork], now: datetime, notify: bool) -> None:
        """Write the computed steps: cases, history, timers, notices — one transaction."""
        stored = [w for w in works if w.expected_version is not None]  # not new cases
        moved = [(w.case, w.expected_version) for w in stored if w.moved or w.cancel_pending]
        if not queries.update_cases(session, moved):
            if len(moved) == 1:
                raise ConcurrentUpdate(moved[0][0].id, moved[0][1])
            raise ConcurrentUpdate(-1, -1)
        queries.set_timer_status(session, [i for w in works for i in w.fired], "fired", now)
        queries.set_timer_status(session, [i for w in works for i in w.stale], "cancelled", now)
        queries.cancel_pending_timers(session, [w.case.id for w in stored if w.cancel_pending], now)
        queries.insert_timers(
            session,
            [t for w in works for t in w.new_timers],
        )
        requests: list[NoticeRequest] = []
        events: list[dict[str, Any]] = []
        for work in works:
            events.extend(work.events)
            sent, skipped = self._choose_notices(work, notify)
            requests.extend(sent)
            events.extend(skipped)
        queries.insert_events(session, events)
        if requests:
            self._enqueue(session, requests, now)
        self._relate(session, works, notify)

    def _relate(self, session: Session, works: list[CaseWork], notify: bool) -> None:
        """Open the child cases the steps spawned (initial state, timers, catch-up and
        notices, as any new case), then fire the events children owe their parents; a
        parent whose state does not allow the event ignores it. Same transaction."""
        for work in works:
            for at, workflow, fields in work.children:
                fields = {**fields, "parent_id": work.case.id}
                child = self.create_case(
                    session, workflow, fields, actor=self.actor, at=at, notify=notify
                )
                what = f"opened by case {work.case.id}  ({workflow}, now {child.state})"
                work.lines.append((at, child, what))
            for parent_id, event, step in work.parent_events:
                try:
                    self.fire(
                        session,
                        parent_id,
                        event,
                        actor=step.actor,
                        at=step.at,
                        reason=step.reason,
                        params=step.params,
                        notify=notify,
                    )
                except TransitionNotAllowed:
                    log.debug("case %s ignores %s from a child", parent_id, event)

    def _choose_notices(
        self, work: CaseWork, notify: bool
    ) -> tuple[list[NoticeRequest], list[dict[str, Any]]]:
        """Catch-up, not flood: only the notices of the latest step are sent; the
        others are recorded in the history as skipped, with the reason."""
        if not work.notices:
            return [], []
        latest = max(at for at, _n, _l in work.notices)
        sent, skipped = [], []
        for at, notice, level in work.notices:
            if notify and at == latest:
                sent.append(self._request(work, notice, level, at))
                continue
            reason = (
                SKIP_BACKFILL
                if not notify
                else f"superseded: the case is now {work.case.state}; only its current notice goes out"
            )
            step = Step(at=at, actor=self.actor, reason=reason)
            data = {"notice": notice.kind, "level": level}
            skipped.append(self._event_row(work.case, "notice_skipped", None, None, step, data))
        return sent, skipped

    def _request(self, work: CaseWork, notice: Notice, level: int, at: datetime) -> NoticeRequest:
        case = work.case
        context = case_snapshot(case)
        context["reason"] = work.reasons.get("reject") or work.reasons.get("extend")
        context["at"] = at.isoformat()
        return NoticeRequest(
            kind=notice.kind,
            workflow=case.workflow,
            case_id=case.id,
            at=at,
            to=notice.to,
            cc=notice.cc,
            attach=notice.attach,
            level=level,
            deadline=case.deadline,
            context=context,
            unit_id=case.unit_id,
        )

    def _enqueue(self, session: Session, requests: list[NoticeRequest], now: datetime) -> None:
        units = queries.unit_rows_by_id(session, (r.unit_id for r in requests))
        decision_ids = {r.context.get("decision_id") for r in requests}
        decisions = queries.decision_rows_by_id(session, decision_ids)
        for request in requests:
            ctx = request.context
            unit = units.get(request.unit_id) if request.unit_id else None
            decision = decisions.get(ctx.get("decision_id"))
            ctx.update(  # type: ignore[attr-defined]
                unit_code=unit.code if unit else None,
                unit_name=unit.name if unit else None,
                decision_number=decision.number if decision else None,
                decision_date=decision.decided_on.isoformat() if decision else None,
                issuer=decision.issuer if decision else None,
            )
        router = Router(units, self.config.recipients)
        options = outbox.row_options(self.config, self.calendar)  # send window, approval
        rows = build_rows(requests, router, now, self._mail_domain, **options)
        queries.insert_outbox(session, rows)

    def _event_row(
        self,
        case: Case,
        event: str,
        source: str | None,
        dest: str | None,
        step: Step,
        data: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        payload = {k: _plain(v) for k, v in step.params.items()}
        payload.update(data or {})
        return {
            "case_id": case.id,
            "event": event,
            "from_state": source,
            "to_state": dest,
            "actor": step.actor,
            "at": step.at,
            "recorded_at": self.clock.now(),
            "reason": step.reason,
            "data": payload,
        }


class _BatchFailed(TheodoiError):
    pass


def _identify(work: CaseWork, case_id: int) -> None:
    """Give a new case, computed before it was inserted, its id: on the case, its
    history and timer rows, and the steps it passes to its parent."""
    work.case.id = case_id
    for row in work.events:
        row["case_id"] = case_id
    for row in work.new_timers:
        row["case_id"] = case_id
    for _parent, _event, step in work.parent_events:
        step.params["child_id"] = case_id


def _child_step(case: Case, event: str, step: Step) -> Step:
    """The step a parent receives from a child's transition: same time and actor."""
    params = {
        "child_id": case.id,
        "child_workflow": case.workflow,
        "child_event": event,
        "child_key": (case.data or {}).get("key"),
    }
    return Step(at=step.at, actor=step.actor, reason=step.reason, params=params)


def case_snapshot(case: Case) -> dict[str, Any]:
    """The case as a notice template sees it (JSON-safe)."""
    snap = {
        "case_id": case.id,
        "workflow": case.workflow,
        "state": case.state,
        "name": case.name,
        "position": case.position,
        "category": case.category,
        "destinations": [d for d in (case.destinations or "").split(",") if d],
        "purpose": case.purpose,
        "email": case.email,
        "decision_id": case.decision_id,
        "unit_id": case.unit_id,
        "parent_id": case.parent_id,
        "planned_departure": _plain(case.planned_departure),
        "planned_return": _plain(case.planned_return),
        "actual_departure": _plain(case.actual_departure),
        "actual_return": _plain(case.actual_return),
        "deadline": _plain(case.deadline),
        "report_filed_on": _plain(case.report_filed_on),
        "filed_late": case.filed_late,
        "escalation_level": case.escalation_level,
    }
    for key, value in (case.data or {}).items():
        snap.setdefault(key, _plain(value))
    return snap


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
