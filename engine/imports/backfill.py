"""The bulk path for new historical cases: replay each case's past in memory, write
everything in a few batched statements.

``Engine.create_case`` writes each case in its own round of ~10 statements (about
4 ms a case on SQLite): 10,000 imported trips would take most of a minute. This
module computes the same history the engine would — the same transitions through
``Runtime.check`` and the workflow's own actions, the same timer rules, the same
skipped-notice entries, the same instants — and writes cases one insert each, and
history and timers with one ``executemany`` per batch. It mirrors
``engine.runtime.Engine`` (``_transition``, ``_schedule``, ``_catch_up``,
``_choose_notices`` with ``notify=False``); tests/test_import_backfill.py replays
the seed through both and compares them event by event, so a change in the engine
that this copy misses fails the tests.

It never sends a notice: the importer takes the engine's own per-case path when
``--notify`` is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import insert
from sqlmodel import Session

from engine.app import App
from engine.errors import TheodoiError
from engine.runtime import SKIP_BACKFILL, Step
from storage import queries
from storage.models import Case

BATCH = 2000  # cases written per executemany
CASE = Case.__table__
_CASE_COLUMNS = tuple(c.name for c in CASE.columns if c.name != "id")


@dataclass
class _Timer:
    kind: str
    level: int
    fire_at: datetime


@dataclass
class Replay:
    """One case's computed past."""

    case: SimpleNamespace
    events: list[dict[str, Any]] = field(default_factory=list)
    notices: list[tuple[datetime, str, int]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)  # the current state's


class Backfill:
    """Creates cases as of past instants, caught up to ``now``, without notices."""

    def __init__(self, app: App, session: Session) -> None:
        self.app = app
        self.session = session
        self.now = app.clock.now()
        self.timer_actor = app.engine.actor
        self._pending: list[Replay] = []

    # -- public -----------------------------------------------------------------------

    def create(
        self,
        workflow: str,
        fields: dict[str, Any],
        *,
        actor: str,
        at: datetime,
        reason: str | None = None,
        steps: tuple[tuple[str, datetime, dict[str, Any]], ...] = (),
    ) -> SimpleNamespace:
        """A case created at ``at``; each of ``steps`` (event, instant, params) is applied
        at its instant after the case has caught up to it; then it catches up to now.

        Returns the case; it has its ``id`` once :meth:`flush` has run. A field may be
        given as a not yet flushed row (a new Decision for ``decision_id``): its id is
        taken at the flush."""
        replay = self._replay(workflow, fields, actor=actor, at=at, reason=reason, steps=steps)
        self._pending.append(replay)
        if len(self._pending) >= BATCH:
            self.flush()
        return replay.case

    def flush(self) -> None:
        """Write the cases replayed so far: the cases (their ids come back in order),
        then their history and pending timers, one executemany each."""
        if not self._pending:
            return
        self.session.flush()  # new decisions get their ids
        for replay in self._pending:
            for key, value in vars(replay.case).items():
                if hasattr(value, "__table__"):
                    setattr(replay.case, key, value.id)
        rows = [{k: getattr(r.case, k) for k in _CASE_COLUMNS} for r in self._pending]
        stmt = insert(CASE).returning(CASE.c.id, sort_by_parameter_order=True)
        ids = list(self.session.connection().execute(stmt, rows).scalars())
        events: list[dict[str, Any]] = []
        timers: list[dict[str, Any]] = []
        for replay, case_id in zip(self._pending, ids, strict=True):
            replay.case.id = case_id
            for row in replay.events:
                row["case_id"] = case_id
            for row in replay.pending:
                row["case_id"] = case_id
            events.extend(replay.events)
            timers.extend(replay.pending)
        queries.insert_events(self.session, events)
        queries.insert_timers(self.session, timers)
        self._pending = []

    # -- the replay (mirrors Engine.create_case / fire / _catch_up) ---------------------

    def _replay(
        self,
        workflow: str,
        fields: dict[str, Any],
        *,
        actor: str,
        at: datetime,
        reason: str | None,
        steps: tuple[tuple[str, datetime, dict[str, Any]], ...],
    ) -> Replay:
        runtime = self.app.registry[workflow]
        wf = runtime.workflow
        rules = self.app.engine.rules(workflow)
        values = {c: None for c in _CASE_COLUMNS}
        values.update(
            workflow=workflow,
            state=wf.initial,
            version=1,
            escalation_level=0,
            data={},
            name_key="",
            created_at=self.now,
            updated_at=self.now,
            id=None,
        )
        values.update(fields)
        case = SimpleNamespace(**values)
        replay = Replay(case)
        step = Step(at=at, actor=actor, reason=reason)
        if wf.on_create is not None:
            wf.on_create(case, step, rules)
        replay.events.append(self._event(case, "create", None, wf.initial, step))
        for notice in wf.create_notices:
            replay.notices.append((at, notice.kind, 0))
        queue: list[_Timer] = []
        self._schedule(replay, step, queue, horizon=self.now)
        for event, instant, params in steps:
            self._catch_up(replay, queue, horizon=instant)
            self._transition(replay, event, Step(instant, actor, reason, dict(params)), queue)
        self._catch_up(replay, queue, horizon=self.now)
        for instant, kind, level in replay.notices:
            skipped = Step(at=instant, actor=self.timer_actor, reason=SKIP_BACKFILL)
            data = {"notice": kind, "level": level}
            replay.events.append(self._event(case, "notice_skipped", None, None, skipped, data))
        return replay

    def _transition(self, replay: Replay, event: str, step: Step, queue: list[_Timer]) -> None:
        case = replay.case
        runtime = self.app.registry[case.workflow]
        rules = self.app.engine.rules(case.workflow)
        transition = runtime.check(case, event, step, rules)
        source = case.state
        if transition.action is not None:
            transition.action(case, step, rules)
        case.state = transition.dest
        case.version += 1
        replay.events.append(self._event(case, event, source, transition.dest, step))
        for notice in transition.notices:
            replay.notices.append((step.at, notice.kind, case.escalation_level or 0))
        queue.clear()
        self._schedule(replay, step, queue, horizon=self.now)
        auto = runtime.workflow.auto.get(case.state)
        if auto:
            self._transition(replay, auto, Step(at=step.at, actor=step.actor), queue)

    def _schedule(
        self, replay: Replay, step: Step, queue: list[_Timer], *, horizon: datetime
    ) -> None:
        """The current state's timers: due ones (by now) queued, later ones pending."""
        case = replay.case
        wf = self.app.registry[case.workflow].workflow
        rules = self.app.engine.rules(case.workflow)
        replay.pending = []
        for rule in wf.timers_for(case.state):
            for level, fire_at in enumerate(rule.when(case, rules), start=1):
                if fire_at is None or fire_at < step.at:
                    continue
                if fire_at <= horizon:
                    queue.append(_Timer(rule.kind, level, fire_at))
                else:
                    replay.pending.append(
                        {
                            "case_id": None,
                            "kind": rule.kind,
                            "level": level,
                            "fire_at": fire_at,
                            "status": "pending",
                        }
                    )
        queue.sort(key=lambda t: t.fire_at)

    def _catch_up(self, replay: Replay, queue: list[_Timer], *, horizon: datetime) -> None:
        """Fire the queued timers due by ``horizon``, in order; later ones stay queued
        (a transition clears the queue, as leaving a state cancels its timers)."""
        case = replay.case
        wf = self.app.registry[case.workflow].workflow
        guard = 0
        while queue and queue[0].fire_at <= horizon:
            guard += 1
            if guard > 1000:
                raise TheodoiError(f"{case.name}: timers loop without end")
            timer = queue.pop(0)
            rule = wf.timer_rule(timer.kind)
            if rule is None or rule.state != case.state:
                continue
            step = Step(at=timer.fire_at, actor=self.timer_actor, params={})
            data = {"timer": timer.kind, "level": timer.level}
            if rule.event is not None:
                index = len(replay.events)
                self._transition(replay, rule.event, step, queue)
                replay.events[index]["data"].update(data)
            else:
                replay.events.append(
                    self._event(case, timer.kind, case.state, case.state, step, data)
                )
                for notice in rule.notices:
                    replay.notices.append((step.at, notice.kind, timer.level))

    def _event(
        self,
        case: SimpleNamespace,
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
            "recorded_at": self.now,
            "reason": step.reason,
            "data": payload,
        }


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
