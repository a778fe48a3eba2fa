"""One contract for the engine's storage modules (cases, timers, events, units, decisions,
calendar, periodic runs), run on every backend: SQLite and PostgreSQL.

What the engine relies on, whatever the database: due timers are claimed by one
transaction at a time (SQLite: BEGIN IMMEDIATE; PostgreSQL: FOR UPDATE SKIP LOCKED),
a notice key yields one outbox row, a period key is claimed once, a case is written
only at the version it was read at, and the due-timer index is partial.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select, text

import storage.cases
import storage.outbox
import storage.periodic
import storage.timers
from storage.db import Database
from storage.models import Case, OutboxMessage, Timer
from tests.pg import pg_schema, require_pg

NOW = datetime(2026, 3, 10, 2, 0)


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'contract.db'}")
        database.upgrade()
        yield database
        database.dispose()
        return
    with pg_schema(require_pg()) as (_schema, url):
        database = Database(url)
        database.upgrade()
        yield database
        database.dispose()


def add_cases(db: Database, n: int, *, due: int = 1, later: int = 0) -> list[int]:
    """``n`` cases, each with ``due`` timers due before NOW and ``later`` after it."""
    ids = []
    with db.session() as s:
        for i in range(n):
            ids.append(
                storage.cases.insert_case(
                    s,
                    {
                        "workflow": "trip",
                        "state": "report_due",
                        "version": 1,
                        "name": f"Case {i}",
                        "data": {},
                        "created_at": NOW,
                        "updated_at": NOW,
                    },
                )
            )
        rows = []
        for case_id in ids:
            for k in range(due):
                rows.append(_timer(case_id, NOW - timedelta(hours=1, minutes=k), k + 1))
            for k in range(later):
                rows.append(_timer(case_id, NOW + timedelta(days=1 + k), due + k + 1))
        storage.timers.insert_timers(s, rows)
    return ids


def _timer(case_id: int, fire_at: datetime, level: int) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "kind": "reminder",
        "level": level,
        "fire_at": fire_at,
        "status": "pending",
    }


def _outbox_row(key: str, **over: Any) -> dict[str, Any]:
    row = {
        "key": key,
        "kind": "reminder",
        "case_id": None,
        "level": 1,
        "language": "vi",
        "to_addrs": ["a@example.vn"],
        "cc_addrs": [],
        "context": {"n": 1},
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": NOW,
        "refused": {},
        "message_id": f"<{key}@example.vn>",
        "created_at": NOW,
    }
    row.update(over)
    return row


# -- claim_due ----------------------------------------------------------------------------


def test_claim_due_returns_only_due_pending_timers_grouped_by_case(db: Database) -> None:
    ids = add_cases(db, 3, due=2, later=1)
    with db.session() as s:
        storage.timers.set_timer_status(s, [_timer_ids(s, ids[2])[0]], "fired", NOW)
        due = storage.timers.claim_due(s, NOW, limit=10)
    assert sorted(due) == ids
    assert [len(due[i]) for i in ids] == [2, 2, 1]
    for timers in due.values():
        assert all(t.status == "pending" and t.fire_at <= NOW for t in timers)
        assert [t.fire_at for t in timers] == sorted(t.fire_at for t in timers)


def test_claim_due_limits_cases_not_timers(db: Database) -> None:
    add_cases(db, 7, due=3)
    with db.session() as s:
        due = storage.timers.claim_due(s, NOW, limit=4)
    assert 1 <= len(due) <= 4
    assert all(len(timers) == 3 for timers in due.values())  # a case comes whole


def test_claim_due_finds_nothing_when_nothing_is_due(db: Database) -> None:
    add_cases(db, 2, due=0, later=2)
    with db.session() as s:
        assert storage.timers.claim_due(s, NOW, limit=10) == {}
        assert storage.timers.due_timer_count(s, NOW) == 0


def test_two_claimers_never_get_the_same_case(db: Database) -> None:
    """PostgreSQL: the second skips the first's locked cases and takes the others at
    once. SQLite: the second waits for the first to commit, then finds what is left.
    Either way the two claims are disjoint and together cover every due case."""
    ids = add_cases(db, 10)
    first_claimed = threading.Event()
    release = threading.Event()
    results: dict[str, Any] = {}

    def first() -> None:
        with db.session() as s:
            due = storage.timers.claim_due(s, NOW, limit=5)
            results["first"] = set(due)
            first_claimed.set()
            release.wait(10)
            timer_ids = [t.id for timers in due.values() for t in timers]
            storage.timers.set_timer_status(s, timer_ids, "fired", NOW)

    def second() -> None:
        with db.session() as s:
            results["second"] = set(storage.timers.claim_due(s, NOW, limit=5))

    t1 = threading.Thread(target=first)
    t1.start()
    assert first_claimed.wait(10)
    t2 = threading.Thread(target=second)
    t2.start()
    t2.join(1.0 if db.dialect == "postgresql" else 0.3)
    if db.dialect == "postgresql":
        assert not t2.is_alive(), "SKIP LOCKED: the second claimer must not wait"
    else:
        assert t2.is_alive(), "BEGIN IMMEDIATE: the second claimer must wait"
    release.set()
    t1.join(10)
    t2.join(30)
    assert len(results["first"]) == 5
    assert results["first"].isdisjoint(results["second"])
    assert results["first"] | results["second"] == set(ids)


def test_a_fired_timer_is_never_set_again(db: Database) -> None:
    [case_id] = add_cases(db, 1)
    with db.session() as s:
        [timer_id] = _timer_ids(s, case_id)
        storage.timers.set_timer_status(s, [timer_id], "fired", NOW)
    with db.session() as s:
        storage.timers.set_timer_status(s, [timer_id], "parked", NOW + timedelta(hours=1), "late")
        timer = s.get(Timer, timer_id)
        assert (timer.status, timer.fired_at, timer.last_error) == ("fired", NOW, None)


# -- outbox, periodic keys, optimistic lock ------------------------------------------------


def test_insert_outbox_ignores_a_key_it_has_already(db: Database) -> None:
    with db.session() as s:
        storage.outbox.insert_outbox(s, [_outbox_row("k1"), _outbox_row("k2")])
    with db.session() as s:
        storage.outbox.insert_outbox(s, [_outbox_row("k1", context={"n": 2}), _outbox_row("k3")])
    with db.session() as s:
        rows = {r.key: r for r in s.scalars(select(OutboxMessage))}
    assert sorted(rows) == ["k1", "k2", "k3"]
    assert rows["k1"].context == {"n": 1}  # the first write wins, nothing is overwritten


def test_claim_period_is_won_once_per_key(db: Database) -> None:
    with db.session() as s:
        assert storage.periodic.claim_period(s, "digest:2026-W11", NOW, "w1") is True
    with db.session() as s:
        assert storage.periodic.claim_period(s, "digest:2026-W11", NOW, "w2") is False
        assert storage.periodic.claim_period(s, "digest:2026-W12", NOW, "w2") is True
    with db.session() as s:
        rows = s.execute(text("SELECT key, worker FROM periodic_run ORDER BY key")).all()
    assert [tuple(r) for r in rows] == [("digest:2026-W11", "w1"), ("digest:2026-W12", "w2")]


def test_claim_period_concurrently_has_one_winner(db: Database) -> None:
    barrier = threading.Barrier(4)
    wins: list[bool] = []
    lock = threading.Lock()

    def claim(worker: str) -> None:
        barrier.wait(10)
        with db.session() as s:
            won = storage.periodic.claim_period(s, "digest:2026-W20", NOW, worker)
        with lock:
            wins.append(won)

    threads = [threading.Thread(target=claim, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(wins) == [False, False, False, True]


def test_update_cases_writes_only_at_the_expected_version(db: Database) -> None:
    [case_id] = add_cases(db, 1)
    with db.session() as s:
        case = storage.cases.get_case(s, case_id)
    moved = Case(**case.model_dump())
    moved.state, moved.version = "overdue", 2
    with db.session() as s:
        assert storage.cases.update_cases(s, [(moved, 1)]) is True
    stale = Case(**case.model_dump())
    stale.state, stale.version = "report_filed", 2
    with db.session() as s:
        assert storage.cases.update_cases(s, [(stale, 1)]) is False
        s.rollback()
    with db.session() as s:
        now = storage.cases.get_case(s, case_id)
    assert (now.state, now.version) == ("overdue", 2)


def test_due_timer_index_is_partial_on_pending(db: Database) -> None:
    if db.dialect == "postgresql":
        found = {i["name"]: i for i in inspect(db.engine).get_indexes("timer")}
        assert found["ix_timer_due"]["column_names"] == ["fire_at"]
        where = found["ix_timer_due"]["dialect_options"]["postgresql_where"]
    else:
        with db.engine.connect() as conn:
            where = conn.execute(
                text("SELECT sql FROM sqlite_master WHERE type='index' AND name='ix_timer_due'")
            ).scalar_one()
    assert "status" in where and "'pending'" in where


def _timer_ids(session: Any, case_id: int) -> list[int]:
    stmt = select(Timer.id).where(Timer.case_id == case_id).order_by(Timer.fire_at)
    return list(session.scalars(stmt))


def test_helpers_count_what_they_insert(db: Database) -> None:
    """The fixture can fail: a wrong helper would make the contract above vacuous."""
    add_cases(db, 4, due=2, later=1)
    with db.session() as s:
        assert s.execute(select(func.count()).select_from(Timer)).scalar_one() == 12
        assert storage.timers.due_timer_count(s, NOW) == 8


def test_update_cases_in_a_batch_reports_one_stale_case(db: Database) -> None:
    first, second = add_cases(db, 2)
    with db.session() as s:
        a, b = storage.cases.get_case(s, first), storage.cases.get_case(s, second)
    a.version, b.version = 2, 2
    with db.session() as s:
        assert storage.cases.update_cases(s, [(a, 1), (b, 1)]) is True
    a.version, b.version = 3, 3
    with db.session() as s:  # a is at version 2 as expected, b is not at 1 any more
        assert storage.cases.update_cases(s, [(a, 2), (b, 1)]) is False
        s.rollback()
