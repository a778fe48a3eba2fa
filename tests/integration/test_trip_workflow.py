"""The trip lifecycle: every allowed transition works, every forbidden one is refused
with a clear error and writes nothing; timers land on the right instants."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from sqlalchemy import func, select

import storage.cases
import storage.events
import storage.outbox
import storage.timers
from engine.app import App
from kernel.clock import ManualClock
from kernel.errors import ConcurrentUpdate, InvalidInput, TransitionNotAllowed
from storage.models import Event, OutboxMessage, Timer
from tests.conftest import add_trip, add_unit
from workflows.trip import WORKFLOW

# Instants in UTC; Tây Ninh is UTC+7.
DEPART = datetime(2021, 8, 29, 17, 0)  # 30/8 00:00 local
RETURN = datetime(2021, 9, 5, 17, 0)  # 6/9 00:00 local
OVERDUE = datetime(2021, 9, 21, 17, 0)  # 22/9 00:00 local: the day after the deadline
LEVEL1 = datetime(2021, 9, 28, 17, 0)  # end of 28/9 = deadline + 5 working days
LEVEL2 = datetime(2021, 10, 12, 17, 0)  # end of 12/10 = deadline + 15 working days

EVENT_PARAMS = {
    "depart": {},
    "return": {},
    "file": {},
    "accept": {},
    "reject": {"reason": "Thiếu nội dung kết quả chuyến đi"},
    "extend": {"reason": "Đơn vị xin gia hạn", "until": date(2021, 12, 31)},
    "cancel": {"reason": "Hoãn chuyến đi"},
    "deadline_passed": {},
    "escalate": {},
    "open_report": {},
    "reopen": {},
    "suspend": {"reason": "Người đi đang điều trị tại bệnh viện"},
    "resume": {"reason": "Người đi đã ra viện"},
}


def _to_state(app: App, clock: ManualClock, state: str) -> int:
    """A fresh trip driven to ``state`` the way a user or the clock would."""
    unit = add_unit(app, code=f"U{state[:6].upper()}{clock.now().microsecond}")
    case_id = add_trip(app, unit)
    steps = {
        "approved": [],
        "cancelled": [("cancel", {"reason": "Hoãn"})],
        "travelling": [("depart", {})],
        "report_due": [("depart", {}), ("return", {})],
        "report_filed": [("depart", {}), ("return", {}), ("file", {})],
        "suspended": [("depart", {}), ("return", {}), ("suspend", {"reason": "Ốm"})],
        "closed": [("depart", {}), ("return", {}), ("file", {}), ("accept", {})],
    }
    if state in steps:
        for event, params in steps[state]:
            reason = params.get("reason")
            _fire(app, case_id, event, reason=reason)
        return case_id
    # overdue / escalated come from the clock: planned dates, then the sweep
    clock.set(OVERDUE if state == "overdue" else LEVEL1)
    app.engine.sweep()
    return case_id


def _fire(app: App, case_id: int, event: str, reason: str | None = None, **params) -> None:
    with app.db.session() as session:
        app.engine.fire(session, case_id, event, actor="test", reason=reason, params=params)


def _snapshot(app: App, case_id: int) -> tuple:
    with app.db.session(write=False) as session:
        case = storage.cases.get_case(session, case_id)
        events = session.execute(select(func.count()).select_from(Event)).scalar()
        timers = session.execute(
            select(Timer.kind, Timer.status, Timer.fire_at).where(Timer.case_id == case_id)
        ).all()
        outbox = session.execute(select(func.count()).select_from(OutboxMessage)).scalar()
    return case.model_dump(), events, sorted(timers), outbox


STABLE_STATES = [s for s in WORKFLOW.states if s != "returned"]  # returned is transient


@pytest.mark.parametrize("state", STABLE_STATES)
@pytest.mark.parametrize("event", list(EVENT_PARAMS))
def test_transition_matrix(app: App, clock: ManualClock, state: str, event: str) -> None:
    case_id = _to_state(app, clock, state)
    with app.db.session(write=False) as session:
        assert storage.cases.get_case(session, case_id).state == state
    transition = WORKFLOW.transition(event, state)
    params = dict(EVENT_PARAMS[event])
    reason = params.pop("reason", None)
    before = _snapshot(app, case_id)
    if transition is None:
        with pytest.raises(TransitionNotAllowed) as err:
            _fire(app, case_id, event, reason=reason, **params)
        message = str(err.value)
        assert f"case {case_id}" in message and state in message and event in message
        assert _snapshot(app, case_id) == before  # nothing written
        return
    if event == "reopen":  # allowed from overdue/escalated only while the deadline is ahead
        with pytest.raises(TransitionNotAllowed, match="has passed"):
            _fire(app, case_id, event)
        assert _snapshot(app, case_id) == before
        return
    _fire(app, case_id, event, reason=reason, **params)
    with app.db.session(write=False) as session:
        case = storage.cases.get_case(session, case_id)
        history = storage.events.case_events(session, case_id)
    expected = WORKFLOW.auto.get(transition.dest)
    landed = WORKFLOW.transition(expected, transition.dest).dest if expected else transition.dest
    assert case.state == landed
    assert case.version > before[0]["version"]
    assert any(e.event == event and e.from_state == state for e in history)


def test_required_reason_is_enforced(app: App, clock: ManualClock) -> None:
    case_id = _to_state(app, clock, "report_filed")
    before = _snapshot(app, case_id)
    with pytest.raises(TransitionNotAllowed, match="needs reason"):
        _fire(app, case_id, "reject")
    assert _snapshot(app, case_id) == before


def test_guard_refuses_return_before_departure(app: App, clock: ManualClock) -> None:
    case_id = _to_state(app, clock, "travelling")
    before = _snapshot(app, case_id)
    with pytest.raises(TransitionNotAllowed, match="before the departure"):
        _fire(app, case_id, "return", on=date(2021, 7, 1))
    assert _snapshot(app, case_id) == before


def test_timers_fall_on_the_legal_instants(app: App, clock: ManualClock) -> None:
    case_id = add_trip(app)
    with app.db.session(write=False) as session:
        [depart] = storage.timers.pending_timers(session, case_id)
    assert (depart.kind, depart.fire_at) == ("depart", DEPART)
    clock.set(RETURN)
    app.engine.sweep()
    with app.db.session(write=False) as session:
        case = storage.cases.get_case(session, case_id)
        timers = [(t.kind, t.level, t.fire_at) for t in storage.timers.pending_timers(session, case_id)]
    assert case.state == "report_due" and case.deadline == date(2021, 9, 21)
    assert timers == [
        ("reminder", 1, datetime(2021, 9, 14, 0, 30)),  # 14/9 07:30 local, 5 working days before
        ("reminder", 2, datetime(2021, 9, 20, 0, 30)),  # 20/9 07:30 local, 1 working day before
        ("deadline", 1, OVERDUE),
    ]


def test_lifecycle_overdue_escalations_then_late_filing(app: App, clock: ManualClock) -> None:
    case_id = add_trip(app)
    for instant in (DEPART, RETURN, OVERDUE, LEVEL1, LEVEL2):
        clock.set(instant)
        report = app.engine.sweep()
        assert report.fired >= 1
    with app.db.session(write=False) as session:
        case = storage.cases.get_case(session, case_id)
        history = [(e.event, e.to_state, e.at) for e in storage.events.case_events(session, case_id)]
    assert case.state == "escalated" and case.escalation_level == 2
    assert ("deadline_passed", "overdue", OVERDUE) in history
    assert ("escalate", "escalated", LEVEL1) in history
    assert ("escalate", "escalated", LEVEL2) in history
    clock.set(datetime(2021, 10, 20, 3, 0))
    _fire(app, case_id, "file")
    with app.db.session(write=False) as session:
        case = storage.cases.get_case(session, case_id)
        assert storage.timers.pending_timers(session, case_id) == []
    assert case.state == "report_filed" and case.filed_late is True
    assert case.report_filed_on == date(2021, 10, 20)


def test_sweep_is_idempotent(app: App, clock: ManualClock) -> None:
    add_trip(app)
    clock.set(RETURN)
    first = app.engine.sweep()
    second = app.engine.sweep()
    assert first.fired == 2 and second.fired == 0
    with app.db.session(write=False) as session:
        events = [e.event for e in session.scalars(select(Event))]
    assert events.count("depart") == 1 and events.count("return") == 1


def test_catch_up_after_downtime_sends_only_the_current_notice(app: App, clock: ManualClock) -> None:
    case_id = add_trip(app, email="an.nguyen@example.vn")
    clock.set(datetime(2021, 10, 1, 3, 0))  # down since August: past both reminders and overdue
    app.engine.sweep()
    with app.db.session(write=False) as session:
        case = storage.cases.get_case(session, case_id)
        kinds = [m.kind for m in storage.outbox.outbox_for_case(session, case_id)]
        skipped = [e for e in storage.events.case_events(session, case_id) if e.event == "notice_skipped"]
        events = [e.event for e in storage.events.case_events(session, case_id)]
    assert case.state == "escalated" and case.escalation_level == 1
    assert kinds == ["approval_notice", "escalation"]
    assert sorted(e.data["notice"] for e in skipped) == ["reminder", "reminder", "urging_letter"]
    assert all("superseded" in e.reason for e in skipped)
    assert events.count("reminder") == 2  # the history still says when each was due


def test_reject_sets_a_new_deadline_and_extend_rearms(app: App, clock: ManualClock) -> None:
    case_id = _to_state(app, clock, "report_filed")
    clock.set(datetime(2021, 9, 10, 3, 0))
    _fire(app, case_id, "reject", reason="Báo cáo sơ sài")
    with app.db.session(write=False) as session:
        case = storage.cases.get_case(session, case_id)
        rejected = [m for m in storage.outbox.outbox_for_case(session, case_id) if m.kind == "rejected"]
    assert case.state == "report_due" and case.deadline == date(2021, 9, 17)
    assert rejected and rejected[0].context["reason"] == "Báo cáo sơ sài"
    _fire(app, case_id, "extend", reason="Gia hạn", until=date(2021, 10, 1))
    with app.db.session(write=False) as session:
        timers = storage.timers.pending_timers(session, case_id)
    assert [t.fire_at for t in timers if t.kind == "deadline"] == [datetime(2021, 10, 1, 17, 0)]


def test_optimistic_lock_refuses_a_stale_version(app: App, clock: ManualClock) -> None:
    case_id = add_trip(app)
    with app.db.session() as session:
        app.engine.fire(session, case_id, "depart", actor="a", expected_version=1)
    with pytest.raises(ConcurrentUpdate), app.db.session() as session:
        app.engine.fire(session, case_id, "cancel", actor="b", reason="x", expected_version=1)


def test_correction_moves_deadline_and_timers(app: App, clock: ManualClock) -> None:
    case_id = _to_state(app, clock, "report_due")
    with app.db.session() as session:
        app.engine.update_fields(
            session, case_id, {"actual_end": date(2021, 8, 10)}, actor="import",
            reason="re-import",
        )
    with app.db.session(write=False) as session:
        case = storage.cases.get_case(session, case_id)
        [update] = [e for e in storage.events.case_events(session, case_id) if e.event == "update"]
        deadline_timer = [t for t in storage.timers.pending_timers(session, case_id) if t.kind == "deadline"]
    assert case.deadline == date(2021, 8, 25)
    assert update.data["changes"]["deadline"] == ["2021-08-16", "2021-08-25"]
    assert deadline_timer[0].fire_at == datetime(2021, 8, 25, 17, 0)


def test_event_in_the_future_is_refused(app: App) -> None:
    case_id = add_trip(app)
    with pytest.raises(InvalidInput, match="future"), app.db.session() as session:
        app.engine.fire(session, case_id, "depart", actor="t", at=datetime(2030, 1, 1))


def test_correction_into_the_past_catches_the_case_up(app: App, clock: ManualClock) -> None:
    case_id = add_trip(app)
    clock.set(datetime(2021, 9, 10, 3, 0))
    app.engine.sweep()  # returned 6/9, report due 21/9
    with app.db.session() as session:
        app.engine.update_fields(
            session, case_id, {"actual_end": date(2021, 8, 10)}, actor="import", reason="sửa"
        )
    with app.db.session(write=False) as session:
        case = storage.cases.get_case(session, case_id)
        events = [(e.event, e.at) for e in storage.events.case_events(session, case_id)]
    # 25/8 + 5 working days (2–3/9 are holidays) = 1/9: escalated by 10/9
    assert case.state == "escalated" and case.deadline == date(2021, 8, 25)
    assert ("deadline_passed", datetime(2021, 8, 25, 17, 0)) in events
    assert [e for e, _ in events].count("deadline_passed") == 1
    with app.db.session() as session:  # the same correction again changes nothing
        app.engine.update_fields(session, case_id, {"actual_end": date(2021, 8, 10)},
                                 actor="import")
    with app.db.session(write=False) as session:
        assert len(storage.events.case_events(session, case_id)) == len(events)


def test_a_closure_added_as_data_reaches_the_next_sweep(app: App, clock: ManualClock) -> None:
    from storage.models import CalendarDay

    case_id = add_trip(app)
    with app.db.session() as session:  # an admin closes the office on 21/9/2021
        session.add(CalendarDay(day=date(2021, 9, 21), kind="closure", source="QĐ của UBND tỉnh",
                                created_at=clock.now()))
    clock.set(RETURN)
    app.engine.sweep()
    with app.db.session(write=False) as session:
        assert storage.cases.get_case(session, case_id).deadline == date(2021, 9, 22)


def test_correction_that_puts_the_deadline_ahead_reopens_a_late_case(
    app: App, clock: ManualClock
) -> None:
    case_id = add_trip(app)
    clock.set(datetime(2021, 9, 23, 3, 0))
    app.engine.sweep()  # overdue since 22/9
    with app.db.session() as session:
        app.engine.update_fields(session, case_id, {"actual_end": date(2021, 9, 20)},
                                 actor="import", reason="ngày về đúng là 20/9")
    with app.db.session(write=False) as session:
        case = storage.cases.get_case(session, case_id)
        events = [e.event for e in storage.events.case_events(session, case_id)]
        timers = [t.kind for t in storage.timers.pending_timers(session, case_id)]
    assert case.state == "report_due" and case.deadline == date(2021, 10, 5)
    assert events[-2:] == ["update", "reopen"] and "deadline" in timers


def test_departure_and_return_recorded_by_hand_rearm_the_timers(
    app: App, clock: ManualClock
) -> None:
    """A trip opened *now* with past dates (how the CLI and the web opened trips before
    one creation path) sits in approved with no timer. Recording its departure and
    return with their dates dates them then: report_due arms its timers from the
    return and the case catches up to escalated, each step at its own instant."""
    clock.set(datetime(2021, 10, 20, 1, 0))
    case_id = add_trip(app, planned_end=date(2021, 12, 31))  # came back early
    with app.db.session(write=False) as session:
        assert storage.cases.get_case(session, case_id).state == "approved"
        assert not storage.timers.pending_timers(session, case_id)
    _fire(app, case_id, "depart", on=date(2021, 8, 30))
    _fire(app, case_id, "return", on=date(2021, 9, 6))
    with app.db.session(write=False) as session:
        case = storage.cases.get_case(session, case_id)
        history = [(e.event, e.at) for e in storage.events.case_events(session, case_id)
                   if e.to_state and e.event != "create"]  # created (wrongly) on 20/10
    assert (case.state, case.escalation_level, case.deadline) == ("escalated", 2, date(2021, 9, 21))
    assert history == [
        ("depart", datetime(2021, 8, 29, 17, 0)),
        ("return", datetime(2021, 9, 5, 17, 0)),
        ("open_report", datetime(2021, 9, 5, 17, 0)),
        ("reminder", datetime(2021, 9, 14, 0, 30)),
        ("reminder", datetime(2021, 9, 20, 0, 30)),
        ("deadline_passed", datetime(2021, 9, 21, 17, 0)),
        ("escalate", datetime(2021, 9, 28, 17, 0)),
        ("escalate", datetime(2021, 10, 12, 17, 0)),
    ]
