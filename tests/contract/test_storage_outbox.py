"""The contract of storage/outbox.py, storage/letters.py, storage/digest.py and
storage/app_secrets.py, run on SQLite and on PostgreSQL (one fresh schema per test).

What the sender relies on, whatever the database: a notice key yields one row; a
claim takes the oldest due rows first and two claimers never get the same row; a
lease that runs out lets another sender take the row, and the first sender's late
outcome no longer applies; outcomes (sent, retry, failed/parked, released) land as
written; a coordinator's resend moves a row only from the status it was read in;
letter numbers are taken once each.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import insert

import storage.cases
import storage.decisions
from storage import app_secrets, letters, outbox
from storage import digest as stored_digest
from storage.db import Database
from storage.models import Event, Unit
from tests.contract import test_storage_contract as contract

NOW, add_cases = contract.NOW, contract.add_cases
db = contract.db  # the fixture: a migrated, empty database on SQLite, then on PostgreSQL
LEASE = timedelta(seconds=60)


def row(key: str, due: datetime = NOW, **over: Any) -> dict[str, Any]:
    values = {
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
        "next_attempt_at": due,
        "refused": {},
        "message_id": f"<{key}@example.vn>",
        "letter_number": None,
        "created_at": NOW - timedelta(days=1),
        "sent_at": None,
    }
    values.update(over)
    return values


def enqueue(db: Database, *rows: dict[str, Any]) -> dict[str, int]:
    """Insert ``rows``; key → id."""
    with db.session() as s:
        outbox.enqueue(s, list(rows))
    with db.session(write=False) as s:
        return {r["key"]: outbox.id_for_key(s, r["key"]) for r in rows}


def claim(db: Database, token: str, limit: int = 10, now: datetime = NOW) -> list[dict[str, Any]]:
    with db.session() as s:
        return outbox.claim(s, now, token, now + LEASE, limit)


def get(db: Database, outbox_id: int) -> dict[str, Any]:
    with db.session(write=False) as s:
        found = outbox.get(s, outbox_id)
    assert found is not None
    return found


# -- enqueue ------------------------------------------------------------------------------


def test_enqueue_keeps_the_first_row_of_a_key(db: Database) -> None:
    ids = enqueue(db, row("k1"), row("k2"))
    with db.session() as s:
        outbox.enqueue(s, [row("k1", context={"n": 2}, kind="escalation"), row("k3")])
    with db.session(write=False) as s:
        listed = outbox.list_rows(s)
        assert outbox.id_for_key(s, "k1") == ids["k1"]
        assert outbox.id_for_key(s, "nope") is None
    assert sorted(r["key"] for r in listed) == ["k1", "k2", "k3"]
    first = next(r for r in listed if r["key"] == "k1")
    assert (first["context"], first["kind"]) == ({"n": 1}, "reminder")


def test_enqueue_of_nothing_writes_nothing(db: Database) -> None:
    with db.session() as s:
        outbox.enqueue(s, [])
    with db.session(write=False) as s:
        assert outbox.list_rows(s) == []


# -- claim --------------------------------------------------------------------------------


def test_claim_takes_the_oldest_due_rows_first(db: Database) -> None:
    ids = enqueue(
        db,
        row("mid", NOW - timedelta(minutes=5)),
        row("later", NOW + timedelta(minutes=1)),  # not due yet
        row("oldest", NOW - timedelta(hours=2)),
        row("held", NOW - timedelta(days=3), status="held"),  # waits for a coordinator
        row("newest", NOW),
    )
    got = claim(db, "w/1", limit=2)
    assert [r["key"] for r in got] == ["oldest", "mid"]
    for r in got:
        assert (r["status"], r["claimed_by"], r["claimed_until"], r["attempts"]) == (
            "sending",
            "w/1",
            NOW + LEASE,
            1,
        )
    rest = claim(db, "w/2")
    assert [r["key"] for r in rest] == ["newest"]
    assert claim(db, "w/3") == []
    assert get(db, ids["later"])["status"] == "pending"
    assert get(db, ids["held"])["status"] == "held"


def test_a_claimed_row_is_not_claimed_again_while_its_lease_runs(db: Database) -> None:
    enqueue(db, row("a"), row("b"))
    first = claim(db, "w/1", limit=1)
    second = claim(db, "w/2", now=NOW + LEASE - timedelta(seconds=1))
    assert [r["key"] for r in first] == ["a"]
    assert [r["key"] for r in second] == ["b"]
    assert claim(db, "w/3", now=NOW + LEASE) == []  # the lease ends after its instant


def test_two_claimers_never_get_the_same_row(db: Database) -> None:
    """Four senders claim small batches at once until nothing is left: every row is
    claimed exactly once (PostgreSQL: SKIP LOCKED; SQLite: BEGIN IMMEDIATE)."""
    n = 40
    enqueue(db, *(row(f"k{i}", NOW - timedelta(seconds=i)) for i in range(n)))
    barrier = threading.Barrier(4)
    claimed: dict[str, list[int]] = {}
    errors: list[BaseException] = []

    def sender(token: str) -> None:
        mine: list[int] = []
        try:
            barrier.wait(10)
            while batch := claim(db, token, limit=3):
                mine += [r["id"] for r in batch]
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)
        claimed[token] = mine

    threads = [threading.Thread(target=sender, args=(f"w/{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    every = [i for ids in claimed.values() for i in ids]
    assert len(every) == n
    assert len(set(every)) == n
    with db.session(write=False) as s:
        holders = {r["id"]: r["claimed_by"] for r in outbox.list_rows(s, limit=n)}
    for token, ids in claimed.items():
        assert all(holders[i] == token for i in ids)


def test_an_expired_lease_is_reclaimed_by_another_sender(db: Database) -> None:
    ids = enqueue(db, row("a"), row("b", NOW + timedelta(minutes=10)))
    assert [r["key"] for r in claim(db, "dead/1")] == ["a"]
    later = NOW + LEASE + timedelta(seconds=1)
    taken = claim(db, "alive/1", now=later)
    assert [r["key"] for r in taken] == ["a"]  # b is not due until NOW + 10 min
    assert (taken[0]["claimed_by"], taken[0]["attempts"]) == ("alive/1", 2)
    assert taken[0]["claimed_until"] == later + LEASE
    # The dead sender's late outcomes no longer apply; the new holder's do.
    with db.session() as s:
        outbox.mark_stopped(s, ids["a"], "dead/1", "failed", "too late")
        outbox.mark_retry(s, [(ids["a"], "dead/1", NOW, "too late")])
        outbox.release(s, [ids["a"]], "dead/1")
    kept = get(db, ids["a"])
    assert (kept["status"], kept["claimed_by"], kept["attempts"]) == ("sending", "alive/1", 2)
    with db.session() as s:
        outbox.mark_stopped(s, ids["a"], "alive/1", "parked", "cannot render")
    assert get(db, ids["a"])["status"] == "parked"


def test_expired_leases_come_before_due_rows(db: Database) -> None:
    ids = enqueue(db, row("stuck", NOW - timedelta(minutes=1)))
    claim(db, "dead/1")
    later = NOW + LEASE + timedelta(seconds=1)
    enqueue(db, row("fresh", NOW - timedelta(days=1)))
    got = claim(db, "alive/1", limit=1, now=later)
    assert [r["id"] for r in got] == [ids["stuck"]]


def test_postpone_due_moves_only_due_pending_rows(db: Database) -> None:
    opening = NOW + timedelta(hours=6)
    ids = enqueue(
        db,
        row("due"),
        row("later", NOW + timedelta(hours=1)),
        row("held", NOW, status="held"),
    )
    with db.session() as s:
        assert outbox.postpone_due(s, NOW, opening) == 1
    assert get(db, ids["due"])["next_attempt_at"] == opening
    assert get(db, ids["later"])["next_attempt_at"] == NOW + timedelta(hours=1)
    assert get(db, ids["held"])["next_attempt_at"] == NOW


# -- outcomes -----------------------------------------------------------------------------


def test_sent_is_recorded_with_the_refused_recipients(db: Database) -> None:
    ids = enqueue(db, row("plain"), row("partly"), row("other"))
    claim(db, "w/1")
    sent_at = NOW + timedelta(seconds=5)
    refused = {"b@example.vn": "550 no such user"}
    with db.session() as s:
        outbox.mark_sent(s, sent_at, {ids["plain"]: {}, ids["partly"]: refused})
    for key, expected in (("plain", {}), ("partly", refused)):
        r = get(db, ids[key])
        assert (r["status"], r["sent_at"], r["refused"]) == ("sent", sent_at, expected)
        assert (r["claimed_by"], r["claimed_until"], r["last_error"]) == (None, None, None)
    assert get(db, ids["other"])["status"] == "sending"


def test_sent_holds_whoever_holds_the_lease_and_is_written_once(db: Database) -> None:
    ids = enqueue(db, row("a"))
    claim(db, "dead/1")
    claim(db, "alive/1", now=NOW + LEASE + timedelta(seconds=1))
    with db.session() as s:  # the first sender's server had accepted it after all
        outbox.mark_sent(s, NOW + timedelta(seconds=1), {ids["a"]: {}})
    with db.session() as s:
        outbox.mark_sent(s, NOW + timedelta(minutes=2), {ids["a"]: {"x@example.vn": "550"}})
    r = get(db, ids["a"])
    assert (r["status"], r["sent_at"], r["refused"]) == ("sent", NOW + timedelta(seconds=1), {})


def test_retry_goes_back_to_pending_at_its_next_attempt(db: Database) -> None:
    ids = enqueue(db, row("a"), row("b"))
    claim(db, "w/1")
    next_at = NOW + timedelta(minutes=15)
    with db.session() as s:
        outbox.mark_retry(
            s, [(ids["a"], "w/1", next_at, "421 try later"), (ids["b"], "w/1", NOW, "timeout")]
        )
    a = get(db, ids["a"])
    assert (a["status"], a["next_attempt_at"], a["last_error"], a["attempts"]) == (
        "pending",
        next_at,
        "421 try later",
        1,
    )
    assert (a["claimed_by"], a["claimed_until"]) == (None, None)
    assert [r["key"] for r in claim(db, "w/2", now=NOW + timedelta(minutes=1))] == ["b"]
    with db.session() as s:
        outbox.mark_sent(s, NOW + timedelta(minutes=1), {ids["b"]: {}})
    again = claim(db, "w/3", now=next_at)
    assert [(r["key"], r["attempts"]) for r in again] == [("a", 2)]


def test_failed_and_parked_keep_their_reason(db: Database) -> None:
    ids = enqueue(db, row("a"), row("b"))
    claim(db, "w/1")
    with db.session() as s:
        outbox.mark_stopped(s, ids["a"], "w/1", "failed", "550 mailbox unavailable")
        outbox.mark_stopped(s, ids["b"], "w/1", "parked", "template missing")
    a, b = get(db, ids["a"]), get(db, ids["b"])
    assert (a["status"], a["last_error"], a["claimed_by"]) == (
        "failed",
        "550 mailbox unavailable",
        None,
    )
    assert (b["status"], b["last_error"], b["claimed_by"]) == ("parked", "template missing", None)
    assert claim(db, "w/2", now=NOW + timedelta(days=1)) == []  # neither is due again


def test_release_gives_the_row_back_as_it_was(db: Database) -> None:
    ids = enqueue(db, row("a"), row("b"))
    claim(db, "w/1")
    with db.session() as s:
        outbox.release(s, [ids["a"]], "w/1")
    a = get(db, ids["a"])
    assert (a["status"], a["attempts"], a["claimed_by"], a["claimed_until"]) == (
        "pending",
        0,
        None,
        None,
    )
    assert get(db, ids["b"])["status"] == "sending"
    assert [r["key"] for r in claim(db, "w/2")] == ["a"]


# -- a coordinator's moves and listings ---------------------------------------------------


def test_resend_moves_a_row_only_from_the_status_it_was_read_in(db: Database) -> None:
    ids = enqueue(db, row("a"))
    claim(db, "w/1")
    with db.session() as s:
        outbox.mark_stopped(s, ids["a"], "w/1", "failed", "550")
    fresh = {
        "status": "pending",
        "attempts": 0,
        "last_error": None,
        "next_attempt_at": NOW + timedelta(hours=1),
        "to_addrs": ["fixed@example.vn"],
    }
    with db.session() as s:
        assert outbox.update_if_status(s, ids["a"], "parked", fresh) is False
    assert get(db, ids["a"])["status"] == "failed"
    with db.session() as s:
        assert outbox.update_if_status(s, ids["a"], "failed", fresh) is True
    r = get(db, ids["a"])
    assert (r["status"], r["attempts"], r["last_error"], r["to_addrs"]) == (
        "pending",
        0,
        None,
        ["fixed@example.vn"],
    )
    assert [x["key"] for x in claim(db, "w/2", now=NOW + timedelta(hours=1))] == ["a"]


def test_list_rows_by_status_and_case_newest_first(db: Database) -> None:
    [case_id] = add_cases(db, 1, due=0)
    ids = enqueue(
        db,
        row("p1"),
        row("h1", status="held"),
        row("p2", case_id=case_id),
        row("f1", status="failed", case_id=case_id),
        row("p3"),
    )
    with db.session(write=False) as s:
        assert [r["key"] for r in outbox.list_rows(s, "pending")] == ["p3", "p2", "p1"]
        assert [r["key"] for r in outbox.list_rows(s, "pending", limit=2)] == ["p3", "p2"]
        assert [r["key"] for r in outbox.list_rows(s, "held")] == ["h1"]
        assert [r["key"] for r in outbox.list_rows(s, case_id=case_id)] == ["f1", "p2"]
        assert [r["key"] for r in outbox.list_rows(s, "failed", case_id=case_id)] == ["f1"]
        assert len(outbox.list_rows(s)) == 5
        assert outbox.get(s, ids["h1"])["status"] == "held"
        assert outbox.get(s, max(ids.values()) + 1) is None


# -- letters, secrets ---------------------------------------------------------------------


def test_letter_numbers_count_per_year(db: Database) -> None:
    with db.session() as s:
        taken = [letters.next_number(s, 2026) for _ in range(3)]
        other = letters.next_number(s, 2027)
    with db.session() as s:
        taken.append(letters.next_number(s, 2026))
    assert (taken, other) == ([1, 2, 3, 4], 1)


def test_concurrent_letters_never_share_a_number(db: Database) -> None:
    barrier = threading.Barrier(4)
    numbers: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        barrier.wait(10)
        for _ in range(5):
            with db.session() as s:
                n = letters.next_number(s, 2026)
            with lock:
                numbers.append(n)

    threads = [threading.Thread(target=take) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(numbers) == list(range(1, 21))


def test_a_rows_letter_is_stored_with_its_context(db: Database) -> None:
    ids = enqueue(db, row("l1", kind="urging_letter", context={"name": "An"}))
    with db.session(write=False) as s:
        assert letters.letter_of(s, ids["l1"]) == (None, {"name": "An"})
    with db.session() as s:
        letters.set_letter(s, ids["l1"], "7/SNgV", {"name": "An", "letter_date": "2026-03-10"})
    with db.session(write=False) as s:
        assert letters.letter_of(s, ids["l1"]) == (
            "7/SNgV",
            {"name": "An", "letter_date": "2026-03-10"},
        )


def _unit_cases(
    db: Database, specs: Sequence[tuple[str, str, date | None, int | None]]
) -> list[int]:
    """Cases (name, state, deadline, unit id) with decision 36/QĐ of 2026-01-05."""
    ids = []
    with db.session() as s:
        decision = storage.decisions.get_or_create_decision(s, "36/QĐ", date(2026, 1, 5), "department")
        for name, state, deadline, unit_id in specs:
            ids.append(
                storage.cases.insert_case(
                    s,
                    {
                        "workflow": "trip",
                        "state": state,
                        "version": 1,
                        "name": name,
                        "data": {},
                        "deadline": deadline,
                        "unit_id": unit_id,
                        "decision_id": decision.id,
                        "created_at": NOW,
                        "updated_at": NOW,
                    },
                )
            )
    return ids


def _units(db: Database, *codes: str) -> list[int]:
    with db.session() as s:
        units = [Unit(code=c, name=f"Unit {c}") for c in codes]
        s.add_all(units)
        s.flush()
        return [u.id for u in units]


def test_unit_cases_lists_the_units_late_cases_with_their_last_urging_letter(
    db: Database,
) -> None:
    syt, sct = _units(db, "SYT", "SCT")
    own, late, filed, elsewhere = _unit_cases(
        db,
        [
            ("Own", "escalated", date(2026, 2, 20), syt),
            ("Late", "overdue", date(2026, 2, 10), syt),
            ("Filed", "report_filed", date(2026, 2, 1), syt),
            ("Elsewhere", "overdue", date(2026, 2, 1), sct),
        ],
    )
    sent = datetime(2026, 2, 25, 1, 0)
    enqueue(
        db,
        row("u1", kind="urging_letter", case_id=late, letter_number="3/SNgV", sent_at=sent),
        row("u2", kind="urging_letter", case_id=late, letter_number="9/SNgV", sent_at=sent),
        row("u3", kind="urging_letter", case_id=own),  # not numbered: never sent
        row("e1", kind="escalation", case_id=own, letter_number="4/SNgV"),
    )
    with db.session(write=False) as s:
        found = letters.unit_cases(s, own, "trip", ("overdue", "escalated"), "urging_letter")
    assert [c["id"] for c in found] == [late, own]  # oldest deadline first
    assert found[0]["urging_number"] == "9/SNgV" and found[0]["urging_sent_at"] == sent
    assert found[1]["urging_number"] is None
    assert (found[0]["decision_number"], found[0]["decided_on"]) == ("36/QĐ", date(2026, 1, 5))
    assert found[0]["deadline"] == date(2026, 2, 10)
    assert filed not in {c["id"] for c in found} and elsewhere not in {c["id"] for c in found}


def test_unit_cases_of_a_case_without_unit_is_the_case_alone(db: Database) -> None:
    [alone] = _unit_cases(db, [("Alone", "report_filed", None, None)])
    _unit_cases(db, [("Other", "overdue", date(2026, 2, 1), None)])
    with db.session(write=False) as s:
        found = letters.unit_cases(s, alone, "trip", ("overdue",), "urging_letter")
    assert [c["id"] for c in found] == [alone]


def test_a_secret_is_created_once(db: Database) -> None:
    with db.session() as s:
        assert app_secrets.get_or_create(s, "k", "first", NOW) == "first"
    with db.session() as s:
        assert app_secrets.get_or_create(s, "k", "second", NOW) == "first"
        assert app_secrets.get_or_create(s, "other", "third", NOW) == "third"


# -- the digest's read model --------------------------------------------------------------


def test_digest_read_model(db: Database) -> None:
    [syt] = _units(db, "SYT")
    due, late, filed, cancelled, later = _unit_cases(
        db,
        [
            ("Due", "report_due", date(2026, 3, 12), syt),
            ("Late", "escalated", date(2026, 2, 10), syt),
            ("Filed", "report_filed", date(2026, 3, 2), None),
            ("Cancelled", "cancelled", date(2026, 3, 3), None),
            ("Later", "report_due", date(2026, 3, 20), None),
        ],
    )
    with db.session() as s:
        s.execute(
            insert(Event.__table__),
            [
                _event(late, "escalate", NOW - timedelta(days=2)),
                _event(late, "escalate", NOW - timedelta(days=9)),  # before the week
                _event(due, "remind", NOW - timedelta(days=1)),
            ],
        )
    week = (date(2026, 3, 9), date(2026, 3, 15))
    with db.session(write=False) as s:
        in_week = stored_digest.cases_due_between(s, ("report_due",), *week)
        overdue = stored_digest.cases_in(s, ("overdue", "escalated"))
        escalated = stored_digest.events_between(s, "escalate", NOW - timedelta(days=7), NOW)
        this_year = stored_digest.cases_with_deadline(
            s, date(2026, 1, 1), date(2026, 3, 10), ("cancelled",)
        )
    assert [(r["id"], r["unit_name"]) for r in in_week] == [(due, "Unit SYT")]
    assert [(r["id"], r["state"], r["deadline"]) for r in overdue] == [
        (late, "escalated", date(2026, 2, 10))
    ]
    assert [(r["case_id"], r["at"], r["name"]) for r in escalated] == [
        (late, NOW - timedelta(days=2), "Late")
    ]
    assert sorted(r["id"] for r in this_year) == sorted([late, filed])
    assert cancelled not in {r["id"] for r in this_year} and later not in {
        r["id"] for r in this_year
    }


def _event(case_id: int, event: str, at: datetime) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "event": event,
        "from_state": None,
        "to_state": None,
        "actor": "test",
        "at": at,
        "recorded_at": at,
        "reason": None,
        "data": {},
    }
