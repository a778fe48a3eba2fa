"""Contract for storage/pages.py (the pages' read models) and storage/calendar.py (the
admins' calendar days), on SQLite and on PostgreSQL.

The case list filters, pages with a keyset cursor and counts; a unit's view holds only
its own cases; the dashboard, escalation, case-page and outbox reads return what the
pages show.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pytest

import storage.calendar
import storage.cases
import storage.decisions
import storage.events
import storage.outbox
import storage.timers
import storage.units
from kernel.text import name_key
from storage import calendar as calendar_store
from storage import pages
from storage.db import Database
from storage.models import Unit
from tests.contract import test_storage_contract

db = test_storage_contract.db  # the fixture: a migrated, empty database on each backend

NOW = datetime(2026, 3, 10, 2, 0)

# name, unit, workflow, state, category, decision (number, date, issuer), deadline, level
CASES: list[tuple[Any, ...]] = [
    ("Nguyễn Văn An", "SYT", "trip", "report_due", "unit", ("12/QĐ", date(2026, 1, 5), "province"), date(2026, 3, 12), 0),
    ("Trần Thị Bình", "SYT", "trip", "overdue", "unit", ("12/QĐ", date(2026, 1, 5), "province"), date(2026, 3, 2), 0),
    ("Lê Văn Cường", "STC", "trip", "escalated", "standing_committee", ("40/QĐ", date(2026, 2, 1), "department"), date(2026, 2, 20), 2),
    ("Phạm Thị Dung", "STC", "trip", "escalated", "unit", ("40/QĐ", date(2026, 2, 1), "department"), date(2026, 2, 15), 1),
    ("Hoàng Văn Em", "STC", "trip", "approved", "unit", ("41/QĐ", date(2026, 2, 10), "province"), None, 0),
    ("Dự án Nước sạch", "SYT", "ngo_report", "due", None, None, date(2026, 3, 16), 0),
    ("Võ Thị Giang", None, "trip", "closed", "unit", ("7/QĐ", date(2025, 11, 3), "other"), date(2025, 12, 1), 0),
]  # fmt: skip


def seed(db: Database) -> dict[str, int]:
    """The cases above; their ids by name."""
    ids: dict[str, int] = {}
    with db.session() as s:
        units = {
            code: pages.save_unit(s, Unit(code=code, name=f"Sở {code}")).id
            for code in ("SYT", "STC")
        }
        for name, unit, workflow, state, category, decision, deadline, level in CASES:
            decision_id = None
            if decision:
                decision_id = storage.decisions.get_or_create_decision(s, *decision).id
            values = {
                "version": 1,
                "data": {},
                "workflow": workflow,
                "state": state,
                "name": name,
                "name_key": name_key(name),
                "unit_id": units.get(unit),
                "category": category,
                "decision_id": decision_id,
                "deadline": deadline,
                "escalation_level": level,
                "created_at": NOW,
                "updated_at": NOW,
            }
            ids[name] = storage.cases.insert_case(s, values)
    return ids


def unit_id(db: Database, code: str) -> int:
    with db.session(write=False) as s:
        found = storage.units.unit_by_code(s, code)
        assert found is not None
        return found.id


def names(rows: list[dict[str, Any]]) -> list[str]:
    return [r["name"] for r in rows]


# -- the case list: filters --------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({}, 7),
        ({"workflow": "ngo_report"}, 1),
        ({"state": "escalated"}, 2),
        ({"state": "escalated", "known_workflows": ("ngo_report",)}, 0),
        ({"category": "standing_committee"}, 1),
        ({"issuer": "province"}, 3),
        ({"decision": " 40/QĐ "}, 2),
        ({"period_from": date(2026, 2, 1)}, 3),
        ({"period_to": date(2026, 1, 31)}, 3),
        ({"period_from": date(2026, 1, 6), "period_to": date(2026, 2, 9)}, 2),
        ({"q": "41/", "q_key": "41/"}, 1),
        ({"q": "Thị", "q_key": "thi"}, 3),
        ({"q": "%", "q_key": "%"}, 0),  # % and _ are letters, not wildcards
        ({"q": "_", "q_key": "_"}, 0),
        ({"sort": "deadline"}, 6),  # sorting by deadline shows the cases that have one
    ],
)
def test_filters_select_the_matching_cases(
    db: Database, fields: dict[str, Any], expected: int
) -> None:
    seed(db)
    flt = pages.CaseFilter(**fields)
    with db.session(write=False) as s:
        page = pages.case_page(s, flt)
        count = pages.count_cases(s, flt)
    assert page.total == count == len(page.rows) == expected
    assert page.next_cursor is None


def test_filter_by_unit_and_search_by_name_key(db: Database) -> None:
    ids = seed(db)
    with db.session(write=False) as s:
        syt = pages.case_page(s, pages.CaseFilter(unit_id=unit_id(db, "SYT")))
        found = pages.case_page(s, pages.CaseFilter(q="cuong", q_key="cuong"))
        nobody = pages.case_page(s, pages.CaseFilter(unit_id=-1))
    assert sorted(r["id"] for r in syt.rows) == sorted(
        ids[n] for n in ("Nguyễn Văn An", "Trần Thị Bình", "Dự án Nước sạch")
    )
    assert names(found.rows) == ["Lê Văn Cường"]
    assert nobody.total == 0 and nobody.rows == []


def test_a_row_carries_its_unit_and_decision(db: Database) -> None:
    ids = seed(db)
    with db.session(write=False) as s:
        (row,) = pages.case_page(s, pages.CaseFilter(q="Cường", q_key="cuong")).rows
        (ngo,) = pages.case_page(s, pages.CaseFilter(workflow="ngo_report")).rows
    assert row["id"] == ids["Lê Văn Cường"]
    assert (row["unit_code"], row["unit_name"]) == ("STC", "Sở STC")
    assert (row["decision_number"], row["decision_date"], row["issuer"]) == (
        "40/QĐ",
        date(2026, 2, 1),
        "department",
    )
    assert (row["escalation_level"], row["deadline"]) == (2, date(2026, 2, 20))
    assert ngo["decision_number"] is None and ngo["unit_code"] == "SYT"


# -- a unit sees only its own cases ------------------------------------------------------


def test_only_unit_scopes_every_list_to_the_unit(db: Database) -> None:
    seed(db)
    syt, stc = unit_id(db, "SYT"), unit_id(db, "STC")
    with db.session(write=False) as s:
        own = pages.case_page(s, pages.CaseFilter(only_unit=stc))
        # a unit user asking for another unit's cases gets none
        other = pages.case_page(s, pages.CaseFilter(only_unit=stc, unit_id=syt))
        counts = pages.state_counts(s, only_unit=stc)
        late = pages.late_cases(s, ("overdue", "escalated"), only_unit=syt)
        upcoming = pages.upcoming_deadlines(
            s, ("report_due", "due"), date(2026, 3, 1), date(2026, 3, 31), only_unit=stc
        )
    assert {r["unit_code"] for r in own.rows} == {"STC"} and own.total == 3
    assert other.total == 0
    assert counts == {"trip": {"escalated": 2, "approved": 1}}
    assert names(late) == ["Trần Thị Bình"]
    assert upcoming == []


# -- paging ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sort", "fields"),
    [("id", {}), ("name", {}), ("deadline", {}), ("deadline", {"only_unit": "SYT"})],
)
def test_keyset_pages_cover_every_case_once_in_order(
    db: Database, sort: str, fields: dict[str, Any]
) -> None:
    seed(db)
    if "only_unit" in fields:  # a selective filter: the planner sorts the matches
        fields = {"only_unit": unit_id(db, fields["only_unit"])}
    flt = pages.CaseFilter(sort=sort, **fields)
    with db.session(write=False) as s:
        whole = pages.case_page(s, flt, None, 100)
        seen: list[dict[str, Any]] = []
        cursor = None
        for _ in range(10):
            page = pages.case_page(s, flt, cursor, 2)
            assert len(page.rows) <= 2 and page.total == whole.total
            seen += page.rows
            cursor = page.next_cursor
            if cursor is None:
                break
        exported = list(pages.iter_cases(s, flt, batch=3))
    assert [r["id"] for r in seen] == [r["id"] for r in whole.rows] == [r["id"] for r in exported]
    assert len({r["id"] for r in seen}) == whole.total > 2
    order = {
        "id": lambda r: -r["id"],
        "name": lambda r: (r["_sort"], r["id"]),  # the name key
        "deadline": lambda r: (r["deadline"], r["id"]),
    }
    assert seen == sorted(seen, key=order[sort])


def test_a_bad_cursor_gives_the_first_page(db: Database) -> None:
    seed(db)
    with db.session(write=False) as s:
        first = pages.case_page(s, pages.CaseFilter(), None, 3)
        garbled = pages.case_page(s, pages.CaseFilter(), "not-a-cursor", 3)
        wrong_sort = pages.case_page(s, pages.CaseFilter(sort="deadline"), first.next_cursor, 3)
    assert [r["id"] for r in garbled.rows] == [r["id"] for r in first.rows]
    assert first.next_cursor and len(wrong_sort.rows) == 3


def test_cursor_round_trip() -> None:
    cursor = pages.encode_cursor(date(2026, 3, 2), 41)
    assert pages.decode_cursor(cursor, "deadline") == (date(2026, 3, 2), 41)
    assert pages.decode_cursor(pages.encode_cursor(7, 7), "id") == (7, 7)
    assert pages.decode_cursor(cursor, "id") is None


# -- dashboard and escalations ---------------------------------------------------------


def test_state_counts_per_workflow_and_state(db: Database) -> None:
    seed(db)
    with db.session(write=False) as s:
        counts = pages.state_counts(s)
    assert counts == {
        "trip": {"report_due": 1, "overdue": 1, "escalated": 2, "approved": 1, "closed": 1},
        "ngo_report": {"due": 1},
    }


def test_late_cases_longest_overdue_first(db: Database) -> None:
    seed(db)
    with db.session(write=False) as s:
        late = pages.late_cases(s, ("overdue", "escalated"))
        first = pages.late_cases(s, ("overdue", "escalated"), limit=1)
    assert names(late) == ["Phạm Thị Dung", "Lê Văn Cường", "Trần Thị Bình"]
    assert names(first) == ["Phạm Thị Dung"]


def test_upcoming_deadlines_within_the_window(db: Database) -> None:
    seed(db)
    with db.session(write=False) as s:
        both = pages.upcoming_deadlines(
            s, ("report_due", "due"), date(2026, 3, 12), date(2026, 3, 16)
        )
        one = pages.upcoming_deadlines(
            s, ("report_due", "due"), date(2026, 3, 13), date(2026, 3, 20)
        )
        trips = pages.upcoming_deadlines(s, ("report_due",), date(2026, 3, 1), date(2026, 3, 31))
    assert names(both) == ["Nguyễn Văn An", "Dự án Nước sạch"]
    assert names(one) == ["Dự án Nước sạch"]
    assert names(trips) == ["Nguyễn Văn An"]


def test_cases_in_state_highest_level_first_and_their_events(db: Database) -> None:
    ids = seed(db)
    cuong, dung = ids["Lê Văn Cường"], ids["Phạm Thị Dung"]
    with db.session(write=False) as s:
        rows = pages.cases_in_state(s, "escalated")
        first = pages.cases_in_state(s, "escalated", limit=1)
    with db.session() as s:
        storage.events.insert_events(
            s,
            [
                _event(cuong, "escalate", NOW),
                _event(cuong, "deadline_passed", NOW - timedelta(days=3)),
                _event(cuong, "reminder", NOW - timedelta(days=1)),
                _event(dung, "deadline_passed", NOW),
            ],
        )
    with db.session(write=False) as s:
        history = pages.events_of(s, [cuong, dung], ("deadline_passed", "escalate"))
        none = pages.events_of(s, [], ("escalate",))
    # level 2, then level 1 (whose deadline is earlier)
    assert names(rows) == ["Lê Văn Cường", "Phạm Thị Dung"]
    assert names(first) == ["Lê Văn Cường"]
    assert [e.event for e in history[cuong]] == ["deadline_passed", "escalate"]
    assert [e.event for e in history[dung]] == ["deadline_passed"]
    assert none == {}


def _event(case_id: int, event: str, at: datetime, **data: Any) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "event": event,
        "actor": "system",
        "at": at,
        "recorded_at": at,
        "data": data,
    }


# -- one case ------------------------------------------------------------------------------


def test_case_page_reads(db: Database) -> None:
    ids = seed(db)
    an, ngo = ids["Nguyễn Văn An"], ids["Dự án Nước sạch"]
    with db.session(write=False) as s:
        case = storage.cases.get_case(s, an)
        assert case is not None
        unit = pages.unit(s, case.unit_id)
        decision = pages.decision(s, case.decision_id)
        assert pages.unit(s, None) is None and pages.decision(s, None) is None
    assert unit is not None and unit.code == "SYT"
    assert decision is not None and (decision.number, decision.year) == ("12/QĐ", 2026)
    with db.session() as s:
        storage.events.insert_events(
            s,
            [_event(an, "file", NOW, n=1), _event(an, "note", NOW), _event(an, "file", NOW, n=2)],
        )
    with db.session() as s:
        event = pages.latest_event(s, an, "file")
        assert event is not None and event.data == {"n": 2}
        assert pages.latest_event(s, ngo, "file") is None
        file_id = pages.add_attachment(
            s,
            {
                "case_id": an,
                "event_id": event.id,
                "filename": "bao-cao.pdf",
                "content_type": "application/pdf",
                "size": 9,
                "content": b"%PDF-1.7\n",
                "uploaded_by": "user:a@example.vn",
                "uploaded_at": NOW,
            },
        )
    with db.session(write=False) as s:
        listed = pages.attachments(s, an)
        kept = pages.attachment(s, an, file_id)
        elsewhere = pages.attachment(s, ngo, file_id)
        assert pages.attachments(s, ngo) == []
    assert [(f["id"], f["filename"], f["size"]) for f in listed] == [(file_id, "bao-cao.pdf", 9)]
    assert "content" not in listed[0]
    assert kept is not None and kept.content == b"%PDF-1.7\n"
    assert elsewhere is None  # a file is only found through its own case


# -- outbox --------------------------------------------------------------------------------


def _message(key: str, kind: str, status: str, at: datetime) -> dict[str, Any]:
    return {
        "key": key,
        "kind": kind,
        "level": 0,
        "language": "vi",
        "to_addrs": ["a@example.vn"],
        "cc_addrs": [],
        "context": {},
        "status": status,
        "attempts": 0,
        "next_attempt_at": at,
        "refused": {},
        "message_id": f"<{key}@example.vn>",
        "created_at": at,
    }


def test_notices_filters_newest_first(db: Database) -> None:
    with db.session() as s:
        storage.outbox.insert_outbox(
            s,
            [
                _message("k1", "reminder", "pending", NOW),
                _message("k2", "overdue", "held", NOW + timedelta(days=2)),
                _message("k3", "reminder", "failed", NOW),
                _message("k4", "reminder", "sent", NOW),
            ],
        )
    with db.session(write=False) as s:
        every = pages.notices(s)
        reminders = pages.notices(s, kind="reminder")
        pending = pages.notices(s, status="pending")
        waiting = pages.notices(s, statuses=("pending", "held"))
        soon = pages.notices(s, statuses=("pending", "held"), due_before=NOW + timedelta(days=1))
        two = pages.notices(s, limit=2)
        kinds = pages.notice_kinds(s)
        one = pages.notice(s, every[0].id)
        missing = pages.notice(s, 10_000)
    assert [m.key for m in every] == ["k4", "k3", "k2", "k1"]
    assert [m.key for m in reminders] == ["k4", "k3", "k1"]
    assert [m.key for m in pending] == ["k1"]
    assert [m.key for m in waiting] == ["k2", "k1"]
    assert [m.key for m in soon] == ["k1"]
    assert [m.key for m in two] == ["k4", "k3"]
    assert kinds == ["overdue", "reminder"]
    assert one is not None and one.key == "k4" and missing is None


def test_timers_due_before_with_their_case(db: Database) -> None:
    ids = seed(db)
    an, dung = ids["Nguyễn Văn An"], ids["Trần Thị Bình"]
    with db.session() as s:
        storage.timers.insert_timers(
            s,
            [
                {"case_id": an, "kind": "reminder", "level": 1, "fire_at": NOW + timedelta(hours=5), "status": "pending"},
                {"case_id": dung, "kind": "deadline", "level": 1, "fire_at": NOW + timedelta(hours=1), "status": "pending"},
                {"case_id": an, "kind": "reminder", "level": 2, "fire_at": NOW + timedelta(days=3), "status": "pending"},
                {"case_id": an, "kind": "reminder", "level": 0, "fire_at": NOW, "status": "fired"},
            ],
        )  # fmt: skip
    with db.session(write=False) as s:
        rows = pages.timers_due_before(s, NOW + timedelta(days=1))
        first = pages.timers_due_before(s, NOW + timedelta(days=1), limit=1)
    assert [(t.kind, name, state) for t, name, state in rows] == [
        ("deadline", "Trần Thị Bình", "overdue"),
        ("reminder", "Nguyễn Văn An", "report_due"),
    ]
    assert len(first) == 1


# -- units ---------------------------------------------------------------------------------


def test_units_by_code_and_save_updates(db: Database) -> None:
    with db.session() as s:
        for code in ("SYT", "BCA", "STC"):
            pages.save_unit(s, Unit(code=code, name=code))
    with db.session() as s:
        unit = storage.units.unit_by_code(s, "BCA")
        assert unit is not None
        unit.name, unit.email = "Công an tỉnh", "ca@example.vn"
        pages.save_unit(s, unit)
    with db.session(write=False) as s:
        units = pages.units(s)
    assert [u.code for u in units] == ["BCA", "STC", "SYT"]
    assert (units[0].name, units[0].email) == ("Công an tỉnh", "ca@example.vn")


# -- the admins' calendar (storage/calendar.py) ---------------------------------------------


def test_calendar_days_add_change_list_remove(db: Database) -> None:
    with db.session() as s:
        calendar_store.set_day(s, date(2026, 5, 2), "working", "QĐ 1/UBND", NOW)
        calendar_store.set_day(s, date(2026, 4, 30), "closure", "CV 2", NOW)
        calendar_store.set_day(s, date(2025, 12, 31), "closure", "CV 3", NOW)
        calendar_store.set_day(s, date(2027, 1, 1), "closure", "CV 4", NOW)
    with db.session() as s:
        changed = calendar_store.set_day(
            s, date(2026, 5, 2), "closure", "QĐ 5", NOW + timedelta(days=1)
        )
    assert (changed.kind, changed.source, changed.created_at) == ("closure", "QĐ 5", NOW)
    with db.session(write=False) as s:
        year = calendar_store.days_in_year(s, 2026)
    assert [(d.day, d.kind, d.source) for d in year] == [
        (date(2026, 4, 30), "closure", "CV 2"),
        (date(2026, 5, 2), "closure", "QĐ 5"),
    ]
    with db.session() as s:
        assert calendar_store.remove_day(s, date(2026, 4, 30)) is True
        assert calendar_store.remove_day(s, date(2026, 4, 30)) is False
    with db.session(write=False) as s:
        assert [d.day for d in calendar_store.days_in_year(s, 2026)] == [date(2026, 5, 2)]
        closures, working = storage.calendar.calendar_overlay(s)
    assert sorted(closures) == [date(2025, 12, 31), date(2026, 5, 2), date(2027, 1, 1)]
    assert working == []
