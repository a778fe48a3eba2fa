"""Writing validated rows: units, decisions and trip cases, in the caller's transaction.

Backfill without flooding. A trip row lands in the state its dates imply *now*, with a
history dated from the row's dates: created at the start of its decision day, then
depart, return, report_due, overdue, escalated 1, 2 … each at its own instant; a
filed report is filed at its date after the case has caught up to that date only
(so a report filed before its deadline is on time, one filed after it is late,
exactly as if it had been recorded then), and accepted when the row says so.

Two ways to write it, with the same result (tests/test_import_backfill.py compares
them): ``Engine.replay_many``, which opens a batch of cases as of their decision days,
files their reports at their dates and writes them all with a few batched statements
(the default), or the engine's public steps one case at a time (``bulk=False``):
``Engine.create_case`` as of the decision day, and for a filed report a second engine
whose manual clock stops at the filing, then ``Engine.fire``. Both open a trip as
every creation path does (:func:`engine.creation.trip_spec`: the CLI and the web
form take the same path).

No notice is sent for the past: skipped notices are written in the history. With
``notify`` a case gets the one notice that fits it now (its latest step's), never a
stale approval notice for a trip that has since come home.

Re-importing a row whose trip exists (same decision number and year, same
normalised name) changes nothing when nothing differs; changed fields go through
``Engine.update_fields`` (a history entry, deadline and timers re-armed), and timers
the correction put in the past are fired at their own instants.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import storage.cases
import storage.timers
import storage.units
from engine.app import App
from engine.creation import Traveller, trip_fields, trip_spec
from engine.imports.trips import TripRow
from engine.imports.units import UnitRow
from engine.runtime import CaseSpec, Engine
from kernel.clock import ManualClock, from_local
from storage import decisions
from storage.db import Session
from storage.models import Case, Decision

Progress = Callable[[int], None]  # called with the number of rows just done
BATCH = 2000  # new trips opened per Engine.replay_many


@dataclass
class RowResult:
    row: int
    action: str  # created | updated | unchanged
    label: str  # "Nguyễn Văn A (09/QĐ-SNgV, 2021)", "unit SYT: Sở Y tế"
    state: str | None = None
    changes: dict[str, list[Any]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    case: Any = None  # the case written (its id is known once the batch is written)

    @property
    def what(self) -> str:
        return f"case {self.case.id}: {self.label}" if self.case is not None else self.label


@dataclass
class WriteResult:
    rows: list[RowResult] = field(default_factory=list)
    decisions_created: int = 0
    decisions_updated: int = 0

    def count(self, action: str) -> int:
        return sum(1 for r in self.rows if r.action == action)

    def states(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.rows:
            if r.state:
                out[r.state] = out.get(r.state, 0) + 1
        return dict(sorted(out.items()))


# -- units ----------------------------------------------------------------------------


def write_units(session: Session, rows: Sequence[UnitRow]) -> WriteResult:
    result = WriteResult()
    existing = {u.code.lower(): u for u in storage.units.units_by_id(session).values()}
    for row in rows:
        unit = existing.get(row.code.lower())
        values = {
            "name": row.name,
            "email": row.email,
            "head_email": row.head_email,
            "language": row.language,
        }
        if unit is None:
            decisions.add_unit(session, row.code, **values)
            result.rows.append(RowResult(row.row, "created", f"unit {row.code}: {row.name}"))
            continue
        changes = {k: [getattr(unit, k), v] for k, v in values.items() if getattr(unit, k) != v}
        for key, (_old, new) in changes.items():
            setattr(unit, key, new)
        if changes:
            decisions.save(session, [unit])
        result.rows.append(
            RowResult(
                row.row,
                "updated" if changes else "unchanged",
                f"unit {unit.code}: {row.name}",
                changes=changes,
            )
        )
    session.flush()
    return result


# -- trips ----------------------------------------------------------------------------


class TripWriter:
    """Writes trip rows in the caller's session.

    New trips are opened in batches (``Engine.replay_many``) unless ``bulk`` is off
    or notices are wanted; then, and for every change to an existing trip, the
    engine's own public steps are used, one case at a time."""

    def __init__(
        self, app: App, session: Session, *, actor: str, source: str, bulk: bool = True
    ) -> None:
        self.app = app
        self.session = session
        self.actor = actor
        self.source = source  # the file name, for history reasons
        self.bulk = bulk
        self.tz = app.config.organisation.tz
        self.office_start = app.config.calendar.office_start
        self.now = app.clock.now()
        self.past_clock = ManualClock(self.now)
        self.past = Engine(app.db, app.config, app.registry, self.past_clock, app.worker_id)
        self.past.reload_calendar(session)
        self._batch: list[tuple[CaseSpec, Decision, RowResult, tuple[str, int, str]]] = []
        self._notify = False  # the batch's notices (one import: one choice)
        self.result = WriteResult()
        self._decisions = decisions.decisions_by_key(session)
        self._touched: set[tuple[str, int]] = set()
        self._cases: dict[tuple[str, int, str], Any] = {}

    def _load_existing(self, rows: Sequence[TripRow]) -> None:
        """The trips that already exist under the decisions the file names (only those:
        a large database is not read whole to import a few rows)."""
        wanted = {
            self._decisions[r.decision_key].id for r in rows if r.decision_key in self._decisions
        }
        by_id = {d.id: d for d in self._decisions.values()}
        for case in storage.cases.cases_under_decisions(self.session, "trip", wanted):
            decision = by_id[case.decision_id]
            self._cases[(decision.number, decision.year, case.name_key)] = case

    def _at(self, day: date, at: time = time(0, 0)) -> datetime:
        return min(from_local(day, at, self.tz), self.now)

    def decision(self, row: TripRow) -> Decision:
        """The row's decision (number + year), created or corrected as the file says."""
        key = row.decision_key
        decision = self._decisions.get(key)
        if decision is None:
            decision = decisions.add_decision(  # flushed with the next batch of cases
                self.session, row.decision_number, row.decision_date, row.issuer
            )
            self._decisions[key] = decision
            self._touched.add(key)
            self.result.decisions_created += 1
        elif key not in self._touched:
            self._touched.add(key)
            if (decision.decided_on, decision.issuer) != (row.decision_date, row.issuer):
                decision.decided_on, decision.issuer = row.decision_date, row.issuer
                decisions.save(self.session, [decision])
                self.session.flush()
                self.result.decisions_updated += 1
        return decision

    def write(self, rows: Sequence[TripRow], notify: bool, progress: Progress | None) -> None:
        self._load_existing(rows)
        for row in rows:
            existing = self._cases.get(row.identity)
            if existing is None:
                self.result.rows.append(self.create(row, notify))
            else:
                self.result.rows.append(self.update(existing, row, notify))
            if progress is not None:
                progress(1)
        self.flush()

    def flush(self) -> None:
        """Open the batched new trips: their decisions first get their ids."""
        if not self._batch:
            return
        if any(decision.id is None for _spec, decision, _result, _key in self._batch):
            self.session.flush()
        for spec, decision, _result, _key in self._batch:
            spec.fields["decision_id"] = decision.id
        specs = [spec for spec, _decision, _result, _key in self._batch]
        cases = self.app.engine.replay_many(
            self.session, specs, actor=self.actor, notify=self._notify
        )
        for (_spec, _decision, result, key), case in zip(self._batch, cases, strict=True):
            result.state, result.case = case.state, case
            self._cases[key] = case
        self._batch = []

    # -- a new trip ------------------------------------------------------------------

    def _traveller(self, row: TripRow) -> Traveller:
        return Traveller(
            name=row.name,
            unit_id=row.unit_id,
            category=row.category,
            country_codes=",".join(row.country_codes),
            purpose=row.purpose,
            departure=row.departure,
            return_=row.return_,
            position=row.position,
            email=row.email,
            filed_on=row.filed_on,
            accepted=row.accepted,
            passport=row.passport,
        )

    def create(self, row: TripRow, notify: bool) -> RowResult:
        """A new trip through the creation path every trip takes (engine/creation.py):
        opened as of its decision day, caught up to now; with ``notify`` it gets the
        one notice that fits it now."""
        decision = self.decision(row)
        reason = f"imported from {self.source}, row {row.row}"
        spec = trip_spec(
            self.app.engine, row.decision_date, decision.id, self._traveller(row), reason=reason
        )
        label = f"{row.name} ({row.decision_number}, {row.decision_date.year})"
        if self.bulk:  # state and case filled in when the batch is opened
            result = RowResult(row.row, "created", label)
            self._notify = notify
            self._batch.append((spec, decision, result, row.identity))
            if len(self._batch) >= BATCH:
                self.flush()
            return result
        if decision.id is None:
            self.session.flush()
            spec.fields["decision_id"] = decision.id
        if spec.steps:
            case = self._create_past(spec)
        else:
            case = self.app.engine.create_case(
                self.session,
                "trip",
                spec.fields,
                actor=self.actor,
                at=spec.created_at,
                notify=notify,
                reason=reason,
            )
        self._cases[row.identity] = case
        return RowResult(row.row, "created", label, case.state, case=case)

    def _create_past(self, spec: CaseSpec) -> Case:
        """The engine's one-case steps for a trip with a filed report (``bulk=False``,
        the check of the batched path): a second engine whose manual clock stops at
        each step, so the case catches up only that far."""
        self.past_clock.set(spec.steps[0][0])
        engine = self.past
        case = engine.create_case(
            self.session,
            "trip",
            spec.fields,
            actor=self.actor,
            at=spec.created_at,
            notify=False,
            reason=spec.reason,
        )
        for instant, event, params, why in spec.steps:
            self.past_clock.set(instant)
            case = engine.fire(
                self.session,
                case.id,
                event,
                actor=self.actor,
                at=instant,
                reason=why,
                params=params,
                notify=False,
            )
        return case

    # -- an existing trip ------------------------------------------------------------

    def update(self, case: Case, row: TripRow, notify: bool) -> RowResult:
        decision = self.decision(row)
        if decision.id is None:
            self.session.flush()
        wanted = trip_fields(decision.id, self._traveller(row))
        label = f"{row.name} ({row.decision_number}, {row.decision_date.year})"
        reason = f"re-imported from {self.source}, row {row.row}"
        result = RowResult(row.row, "unchanged", label, case.state, case=case)
        wf = self.app.registry[case.workflow].workflow  # its state tags classify the case
        if case.actual_start is not None:
            wanted["actual_start"] = row.departure
        if case.actual_end is not None:
            wanted["actual_end"] = row.return_
        if wf.phase(case.state) == "done" and row.filed_on is not None:
            wanted["report_filed_on"] = row.filed_on
        wanted.pop("name_key")
        passport = wanted.pop("data", {}).get("passport")  # the rest of data is the case's
        if passport and (case.data or {}).get("passport") != passport:
            wanted["data"] = {**(case.data or {}), "passport": passport}
        changes = {k: v for k, v in wanted.items() if getattr(case, k) != v}
        if "report_filed_on" in changes:  # a corrected filing date: late or not again
            late = bool(case.deadline and row.filed_on and row.filed_on > case.deadline)
            if late != case.filed_late:
                changes["filed_late"] = late
        before = {k: getattr(case, k) for k in changes}
        engine = self.app.engine
        if changes:
            case = engine.update_fields(
                self.session, case.id, changes, actor=self.actor, reason=reason, notify=notify
            )
            result.action = "updated"
            result.changes = {k: [_plain(before[k]), _plain(v)] for k, v in changes.items()}
            case = self._fire_passed_timers(case, notify)
        if row.filed_on is not None and wf.phase(case.state) in ("due", "late"):
            case = engine.fire(
                self.session,
                case.id,
                "file",
                actor=self.actor,
                at=min(self._at(row.filed_on, self.office_start), self.now),
                reason=reason,
                params={"on": row.filed_on},
            )
            result.action = "updated"
            result.changes["report_filed_on"] = [None, row.filed_on.isoformat()]
        elif row.filed_on is None and wf.phase(case.state) == "done":
            result.notes.append("the file has no report date but the report was filed: kept")
        if row.accepted and "review" in wf.tags_of(case.state):
            case = engine.fire(self.session, case.id, "accept", actor=self.actor, reason=reason)
            result.action = "updated"
            result.changes["report_accepted"] = ["no", "yes"]
        result.state, result.case = case.state, case
        self._cases[row.identity] = case
        return result

    def _fire_passed_timers(self, case: Any, notify: bool) -> Any:
        """After a correction, the timers its new dates put in the past.

        ``Engine.update_fields`` re-arms only the timers still ahead: a return date
        moved back by weeks leaves a report_due case with a passed deadline and no
        timer. Its earliest passed moving timer (deadline, escalation) is fired here at
        its own instant, through ``Engine.fire``, which catches the case up from there.
        """
        wf = self.app.registry[case.workflow].workflow
        rules = self.app.engine.rules(case.workflow)
        pending = {(t.kind, t.fire_at) for t in storage.timers.pending_timers(self.session, case.id)}
        passed = sorted(
            (at, level, rule)
            for rule in wf.timers_for(case.state)
            if rule.event is not None
            for level, at in enumerate(rule.when(case, rules), start=1)
            if at is not None and at <= self.now and (rule.kind, at) not in pending
        )
        if not passed:
            return case
        at, level, rule = passed[0]
        return self.app.engine.fire(
            self.session,
            case.id,
            rule.event,
            actor=self.app.engine.actor,
            at=at,
            params={"timer": rule.kind, "level": level},
            notify=notify,
        )


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date | datetime) else value
