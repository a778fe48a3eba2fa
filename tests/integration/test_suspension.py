"""Suspension stops an obligation's clock; resumption continues it with the time that
was left, in the rule's own units (trip reports and the shared obligation lifecycle)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

import storage.cases
import storage.events
import storage.outbox
import storage.timers
from engine import creation
from engine.app import App
from engine.creation import Traveller
from engine.reports import Period, suspensions
from kernel.clock import ManualClock
from kernel.errors import TransitionNotAllowed
from tests.conftest import add_unit


def local(day: date, hour: int = 10) -> datetime:
    """``hour`` o'clock local (UTC+7) on ``day``, as naive UTC."""
    return datetime(day.year, day.month, day.day, hour - 7)


def _fire(app: App, case_id: int, event: str, reason: str | None = None, **params):
    with app.db.session() as session:
        return app.engine.fire(
            session, case_id, event, actor="user:a", reason=reason, params=params
        )


def _case(app: App, case_id: int):
    with app.db.session(write=False) as session:
        return storage.cases.get_case(session, case_id), storage.events.case_events(session, case_id)


def open_trip(
    app: App,
    *,
    name: str = "Nguyễn Văn An",
    purpose: str = "official",
    code: str = "SYT",
    passport: str | None = None,
    back: date = date(2026, 10, 5),
) -> int:
    """A trip under decision 12/QĐ-SNgV of 01/09/2026, back on ``back``, caught up."""
    unit = add_unit(app, code=code)
    traveller = Traveller(
        name=name,
        unit_id=unit.id,
        category="unit",
        country_codes="KH",
        purpose=purpose,
        departure=date(2026, 9, 28),
        return_=back,
        passport=passport,
    )
    with app.db.session() as session:
        [case] = creation.open_trips(
            app.engine,
            session,
            number="12/QĐ-SNgV",
            decided_on=date(2026, 9, 1),
            issuer="department",
            travellers=[traveller],
            actor="test",
        )
        return case.id


def _trip_2026(app: App, clock: ManualClock, purpose: str = "official") -> int:
    """A trip back on Monday 05/10/2026, entered on 08/10/2026 at 10:00."""
    clock.set(local(date(2026, 10, 8)))
    return open_trip(app, purpose=purpose)


def test_acceptance_suspended_trip_report_is_not_overdue_and_its_deadline_moves(
    app: App, clock: ManualClock
) -> None:
    case_id = _trip_2026(app, clock)
    case, _ = _case(app, case_id)
    # official: 15 days after the return 05/10/2026 (not counted) → Tue 20/10/2026
    assert (case.state, case.deadline) == ("report_due", date(2026, 10, 20))
    _fire(app, case_id, "suspend", reason="Người đi đang điều trị tại bệnh viện")
    case, _ = _case(app, case_id)
    assert case.state == "suspended"
    assert case.data["suspensions"][-1]["left"] == 12  # 08/10 → 20/10, calendar days
    # the reminder of 13/10 (5 working days before 20/10) does not go while suspended
    with app.db.session(write=False) as session:
        outbox_before = len(storage.outbox.outbox_for_case(session, case_id))
    clock.set(local(date(2026, 10, 14)))
    app.engine.sweep()
    with app.db.session(write=False) as session:
        assert len(storage.outbox.outbox_for_case(session, case_id)) == outbox_before
        assert storage.timers.pending_timers(session, case_id) == []
    clock.set(local(date(2026, 10, 15)))
    _fire(app, case_id, "resume", reason="Người đi đã ra viện, tiếp tục báo cáo")
    case, _ = _case(app, case_id)
    # 12 days left, counted from the resumption 15/10 → Tue 27/10/2026
    assert (case.state, case.deadline) == ("report_due", date(2026, 10, 27))
    assert case.data["suspended_days"] == 7
    clock.set(datetime(2026, 10, 21, 17, 0))  # 22/10 00:00 local: 21/10 is over
    app.engine.sweep()
    case, history = _case(app, case_id)
    assert case.state == "report_due" and case.deadline > date(2026, 10, 20)
    steps = {e.event: e for e in history if e.event in ("suspend", "resume")}
    assert steps["suspend"].reason == "Người đi đang điều trị tại bệnh viện"
    assert steps["suspend"].to_state == "suspended"
    assert steps["resume"].reason == "Người đi đã ra viện, tiếp tục báo cáo"
    assert steps["resume"].to_state == "report_due"
    # the compliance figures: the days suspended per case and in total
    with app.db.session(write=False) as session:
        rows = suspensions(session, Period(date(2026, 10, 1), date(2026, 10, 31)), clock.now())
    assert rows == [
        {"case_id": case_id, "workflow": "trip", "days_suspended": 7},
        {"case_id": None, "workflow": None, "days_suspended": 7},
    ]


def test_without_suspension_the_same_trip_is_overdue_on_21_10(app: App, clock: ManualClock) -> None:
    case_id = _trip_2026(app, clock)
    clock.set(datetime(2026, 10, 21, 17, 0))
    app.engine.sweep()
    case, _ = _case(app, case_id)
    assert case.state == "overdue"


def test_a_working_day_rule_resumes_in_working_days(app: App, clock: ManualClock) -> None:
    case_id = _trip_2026(app, clock, purpose="private")
    case, _ = _case(app, case_id)
    # private: 7 working days after Mon 05/10/2026: 6, 7, 8, 9, 12, 13, 14 → Wed 14/10
    assert case.deadline == date(2026, 10, 14)
    clock.set(local(date(2026, 10, 9)))
    _fire(app, case_id, "suspend", reason="Chờ xác minh")
    case, _ = _case(app, case_id)
    # left at Fri 09/10: 12, 13, 14 → 3 working days
    assert case.data["suspensions"][-1]["left"] == 3
    clock.set(local(date(2026, 10, 12)))
    _fire(app, case_id, "resume", reason="Đã xác minh")
    case, _ = _case(app, case_id)
    # 3 working days after Mon 12/10: 13, 14, 15 → Thu 15/10 (counted in calendar
    # days, 5 days from 12/10 would be Sat 17/10 → Mon 19/10)
    assert case.deadline == date(2026, 10, 15)


def test_suspend_and_resume_need_a_reason(app: App, clock: ManualClock) -> None:
    case_id = _trip_2026(app, clock)
    with pytest.raises(TransitionNotAllowed, match="needs reason"):
        _fire(app, case_id, "suspend")
    _fire(app, case_id, "suspend", reason="Ốm")
    with pytest.raises(TransitionNotAllowed, match="needs reason"):
        _fire(app, case_id, "resume")


def test_a_report_filed_while_suspended_ends_the_suspension(app: App, clock: ManualClock) -> None:
    case_id = _trip_2026(app, clock)
    _fire(app, case_id, "suspend", reason="Ốm")
    clock.set(local(date(2026, 10, 12)))
    _fire(app, case_id, "file", on=date(2026, 10, 12))
    case, _ = _case(app, case_id)
    assert case.state == "report_filed" and case.filed_late is False
    assert case.data["suspensions"][-1]["days"] == 4


def test_an_obligation_is_suspended_the_same_way(app: App, clock: ManualClock) -> None:
    """The shared obligation lifecycle (here the passport return, a working-day rule)."""
    # a trip with an official passport, back on 05/10/2026: its passport obligation
    clock.set(local(date(2026, 10, 6)))
    trip = open_trip(app, passport="official")
    with app.db.session(write=False) as session:
        [child] = storage.cases.find_cases(session, workflow="trip_passport")
    assert child.parent_id == trip
    assert (child.state, child.deadline) == ("due", date(2026, 10, 12))
    clock.set(local(date(2026, 10, 7)))
    _fire(app, child.id, "suspend", reason="Hộ chiếu đang làm thủ tục gia hạn thị thực")
    clock.set(datetime(2026, 10, 20, 17, 0))  # long after the deadline
    app.engine.sweep()
    case, _ = _case(app, child.id)
    assert case.state == "suspended"
    _fire(app, child.id, "resume", reason="Đã xong")
    case, _ = _case(app, child.id)
    # left at Wed 07/10: 8, 9, 12 → 3 working days after Wed 21/10: 22, 23, 26
    assert (case.state, case.deadline) == ("due", date(2026, 10, 26))
    assert case.data["suspended_days"] == 14
