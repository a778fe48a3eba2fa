"""Checking a sweep of the dataset's due deadline timers, on any backend.

Each due case sits in ``report_due`` with only its deadline timer pending; firing it
moves the case to ``overdue`` (state, version), marks the timer fired, appends the
history event, schedules the first escalation and enqueues the urging letter. The
counts below prove that every due timer fired exactly once, and give the number of
rows the engine wrote per timer.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import distinct, func, select

import storage.tables
from bench.common import check

TIMER, EVENT, OUTBOX, CASE = storage.tables.TIMER, storage.tables.EVENT, storage.tables.OUTBOX, storage.tables.CASE


def counts(conn: Any, now: datetime) -> dict[str, int]:
    def one(stmt: Any) -> int:
        return int(conn.execute(stmt).scalar_one())

    passed = EVENT.c.event == "deadline_passed"
    return {
        "timers": one(select(func.count()).select_from(TIMER)),
        "due_pending": one(
            select(func.count()).where(TIMER.c.status == "pending", TIMER.c.fire_at <= now)
        ),
        "fired": one(select(func.count()).where(TIMER.c.status == "fired")),
        "events": one(select(func.count()).select_from(EVENT)),
        "passed_events": one(select(func.count()).where(passed)),
        "passed_cases": one(select(func.count(distinct(EVENT.c.case_id))).where(passed)),
        "overdue": one(select(func.count()).where(CASE.c.state == "overdue")),
        "escalations": one(
            select(func.count()).where(TIMER.c.kind == "escalate", TIMER.c.status == "pending")
        ),
        "outbox": one(select(func.count()).select_from(OUTBOX)),
        "outbox_cases": one(select(func.count(distinct(OUTBOX.c.case_id)))),
        "outbox_parked": one(select(func.count()).where(OUTBOX.c.status == "parked")),
    }


def verify(before: dict[str, int], after: dict[str, int], due: int) -> float:
    """Raise unless every due timer fired exactly once; return rows written per timer."""
    check(after["due_pending"] == 0, f"{after['due_pending']} due timers still pending")
    fired = after["fired"] - before["fired"]
    check(fired == due, f"{fired} timers fired, {due} were due")
    passed = after["passed_events"] - before["passed_events"]
    check(passed == due, f"{passed} deadline events for {due} due timers (doubled or lost)")
    check(after["passed_cases"] == after["passed_events"], "a case got its deadline twice")
    check(after["overdue"] - before["overdue"] == due, "not every due case is overdue")
    check(after["escalations"] - before["escalations"] == due, "next timers missing")
    outbox = after["outbox"] - before["outbox"]
    check(outbox == due and after["outbox_cases"] == after["outbox"], f"{outbox} letters for {due}")
    check(after["outbox_parked"] == 0, "letters parked: routing failed")
    written = (
        due  # cases moved
        + fired
        + (after["timers"] - before["timers"])
        + (after["events"] - before["events"])
        + outbox
    )
    return written / due
