"""The pure step (engine/step.py) on its own: a case built in memory, its due timers,
an event and the trip workflow's rules in; state, history, timers and notices out.
No database is opened and no clock is read."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import pytest

from engine.registry import Registry
from engine.rules import Rules
from engine.step import SKIP_BACKFILL, CaseWork, Draft, DueTimer, Step, Stepper
from kernel.errors import TransitionNotAllowed
from kernel.settings import load_config

CREATED = datetime(2021, 7, 31, 17, 0)  # 1/8/2021 00:00 in Tây Ninh
NOW = datetime(2021, 10, 15, 3, 0)  # past the deadline (21/9) and the second escalation


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load()


@pytest.fixture(scope="module")
def rules(registry: Registry) -> Rules:
    config = load_config(None, {})
    org = config.organisation
    return Rules(
        registry.settings("trip", config),
        config.business_calendar(),
        org.tz,
        config.calendar.office_start,
    )


def stepper(registry: Registry, rules: Rules, now: datetime = NOW) -> Stepper:
    return Stepper(registry, lambda _workflow: rules, actor="worker:unit", now=now)


def trip(**fields: Any) -> Draft:
    values: dict[str, Any] = {
        "id": 7,
        "workflow": "trip",
        "state": "approved",
        "version": 1,
        "purpose": "official",
        "planned_start": date(2021, 8, 30),
        "planned_end": date(2021, 9, 6),
        "actual_start": None,
        "actual_end": None,
        "deadline": None,
        "escalation_level": 0,
        "report_filed_on": None,
        "filed_late": None,
        "parent_id": None,
        "data": {},
        "updated_at": CREATED,
    }
    values.update(fields)
    return Draft(**values)


def moves(work: CaseWork) -> list[tuple[str, str | None, datetime]]:
    return [(e["event"], e["to_state"], e["at"]) for e in work.events]


def test_a_new_trip_opened_in_the_past_catches_up_to_escalated(registry, rules) -> None:
    case = trip()
    work = stepper(registry, rules).open(case, Step(CREATED, "import"))
    assert (case.state, case.escalation_level, case.deadline) == ("escalated", 2, date(2021, 9, 21))
    assert [m[:2] for m in moves(work)] == [
        ("create", "approved"),
        ("depart", "travelling"),
        ("return", "returned"),
        ("open_report", "report_due"),
        ("reminder", "report_due"),
        ("reminder", "report_due"),
        ("deadline_passed", "overdue"),
        ("escalate", "escalated"),
        ("escalate", "escalated"),
    ]
    assert all(e["recorded_at"] == NOW and e["case_id"] == 7 for e in work.events)
    assert work.expected_version is None and work.timers_fired == 7
    assert work.new_timers == []  # the ladder has no third level: nothing left to store
    # catch-up, not flood: only the second escalation goes out; the rest is history
    sent, skipped = stepper(registry, rules).choose_notices(work, notify=True)
    assert [(n.kind, level) for _at, n, level in sent] == [("escalation", 2)]
    assert {e["data"]["notice"] for e in skipped} == {
        "approval_notice", "reminder", "urging_letter", "escalation"
    }
    assert all(e["event"] == "notice_skipped" and "superseded" in e["reason"] for e in skipped)


def test_a_backfill_sends_nothing(registry, rules) -> None:
    work = stepper(registry, rules).open(trip(), Step(CREATED, "import"))
    sent, skipped = stepper(registry, rules).choose_notices(work, notify=False)
    assert sent == [] and len(skipped) == len(work.notices)
    assert {e["reason"] for e in skipped} == {SKIP_BACKFILL}


def test_a_trip_still_ahead_keeps_its_approval_and_stores_its_timer(registry, rules) -> None:
    now = datetime(2021, 8, 10, 1, 0)
    case = trip()
    work = stepper(registry, rules, now).open(case, Step(CREATED, "user:a"))
    assert case.state == "approved"
    assert [(t["kind"], t["fire_at"]) for t in work.new_timers] == [
        ("depart", datetime(2021, 8, 29, 17, 0))
    ]
    sent, skipped = stepper(registry, rules, now).choose_notices(work, notify=True)
    assert [n.kind for _at, n, _level in sent] == ["approval_notice"] and skipped == []


def test_a_step_applies_an_event_then_fires_the_due_timers(registry, rules) -> None:
    """A return recorded on 6/9 for a case travelling since 30/8: report_due, its
    reminders and deadline fire by now; the stored return timer is cancelled."""
    case = trip(state="travelling", actual_start=date(2021, 8, 30),
                planned_end=date(2021, 12, 31), version=3)
    s = stepper(registry, rules)
    at = datetime(2021, 9, 5, 17, 0)
    work = CaseWork(case, expected_version=3, horizon=at)
    queue: list[DueTimer] = []
    s.apply(case, "return", Step(at, "user:a", params={"on": date(2021, 9, 6)}), work, queue)
    s.advance(case, work, queue, NOW)
    assert case.state == "escalated" and case.version == 3 + 5
    assert moves(work)[0] == ("return", "returned", at)
    assert work.cancel_pending and work.fired == [] and work.stale == []
    assert work.events[0]["data"] == {"on": "2021-09-06"}


def test_a_timer_of_a_state_the_case_left_is_stale(registry, rules) -> None:
    case = trip(state="report_filed", deadline=date(2021, 9, 21))
    work = CaseWork(case, expected_version=1, horizon=NOW)
    stored = [DueTimer(41, "deadline", 1, datetime(2021, 9, 21, 17, 0))]
    stepper(registry, rules).catch_up(case, work, stored)
    assert work.stale == [41] and work.fired == [] and not work.moved
    assert case.state == "report_filed"


def test_a_due_stored_timer_fires_and_is_marked(registry, rules) -> None:
    case = trip(state="report_due", actual_end=date(2021, 9, 6), deadline=date(2021, 9, 21))
    work = CaseWork(case, expected_version=1, horizon=datetime(2021, 9, 22, 0, 0))
    queue = [DueTimer(42, "deadline", 1, datetime(2021, 9, 21, 17, 0))]
    stepper(registry, rules).catch_up(case, work, queue)
    assert work.fired == [42] and case.state == "overdue"
    assert work.events[0]["data"] == {"timer": "deadline", "level": 1}
    assert [(t["kind"], t["level"]) for t in work.new_timers] == [("escalate", 1)]
    assert [n.kind for _at, n, _l in work.notices] == ["urging_letter"]


def test_a_refused_event_changes_nothing(registry, rules) -> None:
    case = trip()
    work = CaseWork(case, expected_version=1, horizon=CREATED)
    with pytest.raises(TransitionNotAllowed):
        stepper(registry, rules).transition(case, "file", Step(CREATED, "user:a"), work, [])
    assert case.state == "approved" and work.events == [] and not work.cancel_pending
