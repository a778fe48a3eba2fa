"""How cases move: events, timers, catch-up, and the one-transaction write of a step.

Every change is computed in memory first, by the pure step (engine/step.py: a
:class:`CaseWork` holds the moved case, its history rows, the timers to cancel and to
add, the notices), then written here in batches
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
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any

import storage.calendar
import storage.cases
import storage.decisions
import storage.events
import storage.outbox
import storage.timers
import storage.units
from engine import limits
from engine.registry import Registry
from engine.rules import Rules
from engine.step import (
    SKIP_BACKFILL,
    CaseSpec,
    CaseWork,
    Draft,
    DueTimer,
    Step,
    Stepper,
    identify,
    plain,
)
from kernel import deadlines
from kernel.calendar import BusinessCalendar
from kernel.clock import Clock, from_local, local_date, to_local
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
from storage.db import Database, Session, is_transient
from storage.models import Case
from workflows.definition import Notice

log = logging.getLogger("theodoi.engine")

# The step's vocabulary, importable from here as before.
__all__ = ["SKIP_BACKFILL", "CaseSpec", "CaseWork", "Engine", "Step", "SweepReport", "case_snapshot"]

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
        closures, working = storage.calendar.calendar_overlay(session)
        calendar = self.config.business_calendar().with_overlay(
            closures, working, storage.calendar.sources(session)
        )
        if calendar != self.calendar:
            self.calendar = calendar
            self.__dict__.pop("_rules", None)

    @cached_property
    def _rules(self) -> dict[str, Rules]:
        org = self.config.organisation
        out = {}
        for name in self.registry.names():
            settings = self.registry.settings(name, self.config)
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
        stepper = self.stepper(now)
        works = []
        for spec in specs:
            limits.check_case(spec.fields)  # whichever path made it, before the database
            draft, step = self._open(spec, actor, now)
            works.append(stepper.open(draft, step, spec.steps))
        ids = storage.cases.insert_cases(session, [work.case for work in works])
        for work, case_id in zip(works, ids, strict=True):
            identify(work, case_id)
        self._write(session, works, now, notify=notify)
        return [storage.cases.case_from_fields(work.case) for work in works]

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
        """Apply ``event`` to a case (as of ``at``) and catch it up to now.

        Without ``at`` the event happened now, or, when its ``on`` date is a past day
        (a departure recorded today that happened last month), at the start of that
        day: the case is brought up to then, the state it lands in arms its timers
        from then, and those already due fire at their own instants."""
        now = self.clock.now()
        at = at or self._when(params, now)
        if at > now + timedelta(minutes=1):
            raise InvalidInput("at", f"{self._fmt(at)} is in the future")
        case = self._load(session, case_id, expected_version)
        work = CaseWork(case, expected_version=case.version, horizon=at)
        queue = [
            DueTimer(t.id, t.kind, t.level, t.fire_at)
            for t in storage.timers.pending_timers(session, case_id)
            if t.fire_at <= at
        ]
        step = Step(at=at, actor=actor, reason=reason, params=dict(params or {}))
        stepper = self.stepper(now)
        stepper.apply(case, event, step, work, queue)
        stepper.advance(case, work, queue, now)
        self._write(session, [work], now, notify=notify)
        return case

    def note(self, session: Session, case_id: int, text: str, *, actor: str) -> None:
        """A remark in the case's history; the case does not move."""
        if not text.strip():
            raise InvalidInput("note", "is empty")
        limits.check_text("note", text)
        case = self._load(session, case_id, None)
        now = self.clock.now()
        row = self.stepper(now).event_row(case, "note", case.state, case.state, Step(now, actor, text))
        storage.events.insert_events(session, [row])

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
        limits.check_case(changes)
        case = self._load(session, case_id, expected_version)
        diff = {}
        for key, value in changes.items():
            old = getattr(case, key)
            if old != value:
                diff[key] = [plain(old), plain(value)]
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
            diff["deadline"] = [plain(deadline_before), plain(case.deadline)]
        stepper = self.stepper(now)
        work.events.append(
            stepper.event_row(case, "update", case.state, case.state, step, {"changes": diff})
        )
        case.version += 1
        case.updated_at = now
        if wf.reopen and wf.transition(wf.reopen, case.state):
            reopened: list[DueTimer] = []
            try:  # the late case's corrected deadline is ahead again: back to due
                stepper.transition(case, wf.reopen, Step(now, actor, reason), work, reopened)
            except TransitionNotAllowed:
                pass
            else:  # the transition re-armed the new state's timers
                stepper.catch_up(case, work, reopened)
                self._write(session, [work], now, notify=notify)
                return case
        # Re-arm the current state's timers with the new data: timers the correction
        # put in the past fire now, at their own instants (a deadline moved back can
        # make the case overdue); a timer that already fired does not fire again.
        history = storage.events.case_events(session, case.id)
        done = {(e.data.get("timer"), e.data.get("level"), e.at) for e in history}
        work.cancel_pending = True
        queue: list[DueTimer] = []
        stepper.schedule(case, work, Step(at=case.created_at, actor=actor), queue)
        queue[:] = [t for t in queue if (t.kind, t.level, t.fire_at) not in done]
        stepper.catch_up(case, work, queue)
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
            for case in storage.cases.find_cases(session, workflow=name, with_deadline=True):
                entry = storage.events.state_entry_event(session, case.id, case.state, wf.events)
                if entry is None:
                    continue
                new = wf.deadline_from(case, entry.event, entry.at, self.rules(name))
                if new is None or new == case.deadline:
                    continue
                old = case.deadline
                why = "calendar changed / lịch làm việc thay đổi"
                kept = deadlines.kept(case).get("report")
                if kept:  # say how the new deadline is counted now
                    ex = deadlines.explain_basis(self.calendar, "report", kept)
                    why += f": {ex.sentence('vi')} / {ex.sentence('en')}"
                updated = self.update_fields(
                    session, case.id, {"deadline": new}, actor=actor,
                    reason=why,
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
        due = storage.timers.claim_due(session, now, limit)
        if not due:
            return 0
        cases = {c.id: c for c in storage.cases.load_cases(session, due)}
        works: list[CaseWork] = []
        parked: list[tuple[int, str]] = []
        stepper = self.stepper(self.clock.now())
        for case_id, timers in due.items():
            case = cases[case_id]
            queue = [DueTimer(t.id, t.kind, t.level, t.fire_at) for t in timers]
            work = CaseWork(case, expected_version=case.version, horizon=now)
            try:
                stepper.catch_up(case, work, queue)
            except Exception as exc:  # a poison case: park its timers, go on
                log.error("case %s: timer failed: %s", case_id, exc, exc_info=True)
                parked.extend((t.id, f"{type(exc).__name__}: {exc}") for t in timers)
                continue
            works.append(work)
        for timer_id, error in parked:
            storage.timers.set_timer_status(session, [timer_id], "parked", now, error)
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
                    storage.timers.set_timer_status(session, ids, "parked", now, str(exc)[:500])
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
        case = storage.cases.get_case(session, case_id, lock=True)
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
        case = Draft(**storage.cases.new_case_values({**values, "created_at": now, "updated_at": now}))
        return case, Step(at=created_at, actor=actor, reason=spec.reason)

    def _when(self, params: dict[str, Any] | None, now: datetime) -> datetime:
        """When an event without ``at`` happened: at the start of its ``on`` day if
        that day is past, else now."""
        day = (params or {}).get("on")
        if isinstance(day, str):
            try:
                day = date.fromisoformat(day)
            except ValueError:
                return now  # the workflow's guard says what is wrong with it
        if not isinstance(day, date) or isinstance(day, datetime):
            return now
        tz = self.config.organisation.tz
        if day >= local_date(now, tz):
            return now
        return from_local(day, time(0, 0), tz)

    def stepper(self, now: datetime) -> Stepper:
        """The pure step (engine/step.py) with this engine's workflows and rules."""
        return Stepper(self.registry, self.rules, actor=self.actor, now=now)

    # -- writing ------------------------------------------------------------------------

    def _write(self, session: Session, works: list[CaseWork], now: datetime, notify: bool) -> None:
        """Write the computed steps: cases, history, timers, notices — one transaction."""
        stored = [w for w in works if w.expected_version is not None]  # not new cases
        moved = [(w.case, w.expected_version) for w in stored if w.moved or w.cancel_pending]
        if not storage.cases.update_cases(session, moved):
            if len(moved) == 1:
                raise ConcurrentUpdate(moved[0][0].id, moved[0][1])
            raise ConcurrentUpdate(-1, -1)
        storage.timers.set_timer_status(session, [i for w in works for i in w.fired], "fired", now)
        storage.timers.set_timer_status(session, [i for w in works for i in w.stale], "cancelled", now)
        storage.timers.cancel_pending_timers(session, [w.case.id for w in stored if w.cancel_pending], now)
        storage.timers.insert_timers(
            session,
            [t for w in works for t in w.new_timers],
        )
        requests: list[NoticeRequest] = []
        events: list[dict[str, Any]] = []
        stepper = self.stepper(self.clock.now())
        for work in works:
            events.extend(work.events)
            sent, skipped = stepper.choose_notices(work, notify)
            requests.extend(self._request(work, notice, level, at) for at, notice, level in sent)
            events.extend(skipped)
        storage.events.insert_events(session, events)
        if requests:
            self._enqueue(session, requests, now)
        self._relate(session, works, notify)

    def _relate(self, session: Session, works: list[CaseWork], notify: bool) -> None:
        """Open the child cases the steps spawned (initial state, timers, catch-up and
        notices, as any new case), then fire the events children owe their parents; a
        parent whose state does not allow the event ignores it. Same transaction."""
        for work in works:
            for at, workflow, fields in work.children:
                if not getattr(self.rules(workflow).settings, "enabled", True):
                    work.lines.append((at, work.case, f"{workflow} not opened: switched off"))
                    continue  # a follow-up switched off in the configuration
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

    def _request(self, work: CaseWork, notice: Notice, level: int, at: datetime) -> NoticeRequest:
        case = work.case
        context = case_snapshot(case)
        context["reason"] = work.reasons.get("reject") or work.reasons.get("extend")
        context["at"] = at.isoformat()
        if "letter" in notice.attach:  # the unit's late cases it lists, by their tags
            wf = self.registry[case.workflow].workflow
            context["late_states"] = list(wf.states_tagged("late"))
        # one sentence saying how the deadline was computed (reminders show it)
        explained = deadlines.kept(case).get("report")
        if explained:
            ex = deadlines.explain_basis(self.calendar, "report", explained)
            context["deadline_explained"] = {"vi": ex.sentence("vi"), "en": ex.sentence("en")}
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
        units = storage.units.unit_rows_by_id(session, (r.unit_id for r in requests))
        decision_ids = {r.context.get("decision_id") for r in requests}
        decisions = storage.decisions.decision_rows_by_id(session, decision_ids)
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
        tags = {name: self.registry[name].workflow.tags for name in self.registry.names()}
        options = outbox.row_options(self.config, self.calendar, tags)  # window, approval, truth
        rows = build_rows(requests, router, now, self._mail_domain, **options)
        storage.outbox.insert_outbox(session, rows)

class _BatchFailed(TheodoiError):
    pass


def case_snapshot(case: Case) -> dict[str, Any]:
    """The case as a notice template sees it (JSON-safe)."""
    snap = {
        "case_id": case.id,
        "workflow": case.workflow,
        "state": case.state,
        "name": case.name,
        "position": case.position,
        "category": case.category,
        "country_codes": [d for d in (case.country_codes or "").split(",") if d],
        "purpose": case.purpose,
        "email": case.email,
        "decision_id": case.decision_id,
        "unit_id": case.unit_id,
        "parent_id": case.parent_id,
        "planned_start": plain(case.planned_start),
        "planned_end": plain(case.planned_end),
        "actual_start": plain(case.actual_start),
        "actual_end": plain(case.actual_end),
        "deadline": plain(case.deadline),
        "report_filed_on": plain(case.report_filed_on),
        "filed_late": case.filed_late,
        "escalation_level": case.escalation_level,
    }
    for key, value in (case.data or {}).items():
        snap.setdefault(key, plain(value))
    return snap
