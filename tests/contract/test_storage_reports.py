"""The contract of storage/reports.py, the report's read models, on SQLite and PostgreSQL.

Histories are written here row by row (no engine), so each test states exactly what the
database holds and what the read model must give back: the state a case was in at an
instant, the filing that put it there, the period a case belongs to, the obligations of
a period with their history, and the case list the exports write. One test runs the
compliance figures (by issuer, category and unit, as of two dates) on top of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import storage.cases
import storage.decisions
import storage.events
from engine.reports import Period, compliance
from storage import reports as store
from storage.db import Database, Session
from storage.models import Unit
from tests.pg import pg_schema, require_pg

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
T0 = datetime(2021, 3, 1, 2, 0)  # naive UTC, like every instant in the database
FILED = ("report_filed", "closed")


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty database on each backend."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'reports.db'}")
        database.upgrade()
        yield database
        database.dispose()
        return
    with pg_schema(require_pg()) as (_schema, url):
        database = Database(url)
        database.upgrade()
        yield database
        database.dispose()


def unit(s: Session, code: str, name: str) -> int:
    row = Unit(code=code, name=name, email=f"{code.lower()}@example.vn")
    s.add(row)
    s.flush()
    assert row.id is not None
    return row.id


def case(
    s: Session,
    *,
    workflow: str = "trip",
    state: str = "approved",
    decision: tuple[str, date, str] | None = ("1/QĐ-SNgV", date(2021, 2, 1), "department"),
    **fields: Any,
) -> int:
    values: dict[str, Any] = {
        "workflow": workflow,
        "state": state,
        "name": "Nguyễn Văn An",
        "created_at": T0,
        "updated_at": T0,
        **fields,
    }
    if decision is not None:
        values["decision_id"] = storage.decisions.get_or_create_decision(s, *decision).id
    row = storage.cases.new_case_values(values)
    del row["id"]  # the database numbers it
    return storage.cases.insert_case(s, row)


def history(s: Session, case_id: int, *entries: tuple[Any, ...]) -> None:
    """entries: (event, from_state, to_state, at[, data])."""
    rows = []
    for event, from_state, to_state, at, *data in entries:
        rows.append(
            {
                "case_id": case_id,
                "event": event,
                "from_state": from_state,
                "to_state": to_state,
                "actor": "test",
                "at": at,
                "recorded_at": at,
                "reason": None,
                "data": data[0] if data else {},
            }
        )
    storage.events.insert_events(s, rows)


def trips(s: Session, until: datetime, **kw: Any) -> list[store.TripRow]:
    args: dict[str, Any] = {
        "workflow": "trip",
        "start": date(2021, 1, 1),
        "end": date(2021, 12, 31),
        "by": "decision",
        "until": until,
        "filed_states": FILED,
        **kw,
    }
    return store.trip_history_rows(s, **args)


def day(n: int) -> datetime:
    return T0 + timedelta(days=n)


# -- trip_history_rows ------------------------------------------------------------------


def test_the_state_at_an_instant_and_the_filing_that_put_it_there(db: Database) -> None:
    with db.session() as s:
        uid = unit(s, "SYT", "Sở Y tế")
        cid = case(
            s,
            state="closed",
            unit_id=uid,
            position="Giám đốc",
            category="unit",
            country_codes="KH,LA",
            purpose="official",
            planned_start=date(2021, 3, 2),
            actual_start=date(2021, 3, 3),
            planned_end=date(2021, 3, 6),
            deadline=date(2021, 3, 22),
            report_filed_on=date(2021, 3, 10),
            filed_late=False,
        )
        history(
            s,
            cid,
            ("create", None, "approved", day(0)),
            ("reminder", "approved", None, day(1)),  # no state: not the state's entry
            ("return", "approved", "report_due", day(5)),
            ("file", "report_due", "report_filed", day(9), {"on": "2021-03-10"}),
            ("close", "report_filed", "closed", day(12)),
        )
    with db.session(write=False) as s:
        assert trips(s, day(0)) == []  # an entry *at* the instant is not yet history
        (before,) = trips(s, day(0) + timedelta(seconds=1))
        (reminded,) = trips(s, day(2))
        (due,) = trips(s, day(9))
        (filed,) = trips(s, day(10))
        (closed,) = trips(s, day(30))
    assert before.state == reminded.state == "approved"
    assert (due.state, due.file_from, due.file_at, due.file_on) == ("report_due", None, None, None)
    assert (filed.state, filed.file_from, filed.file_at) == ("report_filed", "report_due", day(9))
    assert filed.file_on == "2021-03-10"
    assert closed.state == "closed" and closed.file_at == day(9)
    # the case row's own values, and the joins
    assert closed == store.TripRow(
        case_id=cid,
        decision_id=closed.decision_id,
        decision_number="1/QĐ-SNgV",
        decision_date=date(2021, 2, 1),
        issuer="department",
        name="Nguyễn Văn An",
        position="Giám đốc",
        unit_code="SYT",
        unit_name="Sở Y tế",
        category="unit",
        country_codes="KH,LA",
        purpose="official",
        departure=date(2021, 3, 3),  # actual before planned
        return_=date(2021, 3, 6),  # no actual return: the planned one
        deadline=date(2021, 3, 22),
        state="closed",
        now_state="closed",
        now_filed_late=False,
        now_filed_on=date(2021, 3, 10),
        file_from="report_due",
        file_at=day(9),
        file_on="2021-03-10",
    )
    assert closed.decision_id is not None


def test_the_last_filing_counts_and_ties_go_to_the_later_row(db: Database) -> None:
    with db.session() as s:
        cid = case(s, state="report_filed")
        history(
            s,
            cid,
            ("create", None, "approved", day(0)),
            ("return", "approved", "report_due", day(1)),
            ("file", "report_due", "report_filed", day(2), {"on": "2021-03-03"}),
            ("reject", "report_filed", "report_due", day(3)),
            ("deadline", "report_due", "overdue", day(8)),
            ("file", "overdue", "report_filed", day(9)),  # names no day
            # same instant, written later: the later row is the state's entry
            ("close", "report_filed", "closed", day(9)),
        )
    with db.session(write=False) as s:
        (rejected,) = trips(s, day(4))
        (refiled,) = trips(s, day(10))
    assert rejected.state == "report_due" and rejected.file_at is None
    assert (refiled.state, refiled.file_from, refiled.file_at) == ("closed", "overdue", day(9))
    assert refiled.file_on is None


def test_the_period_by_decision_or_by_return_and_the_workflow(db: Database) -> None:
    with db.session() as s:
        ids = {}
        for key, decided, planned, actual in [
            ("jan", date(2021, 1, 1), date(2021, 2, 1), None),
            ("dec", date(2021, 12, 31), date(2022, 1, 5), date(2021, 12, 30)),
            ("before", date(2020, 12, 31), date(2021, 1, 3), None),
            ("after", date(2022, 1, 1), date(2022, 1, 3), None),
        ]:
            ids[key] = case(
                s,
                decision=(key, decided, "province"),
                planned_end=planned,
                actual_end=actual,
            )
            history(s, ids[key], ("create", None, "approved", day(0)))
        ngo = case(s, workflow="ngo_project", decision=("ngo", date(2021, 5, 1), "province"))
        history(s, ngo, ("create", None, "active", day(0)))
    until = day(1)
    with db.session(write=False) as s:
        by_decision = [r.case_id for r in trips(s, until)]
        by_return = [r.case_id for r in trips(s, until, by="return")]
        january = [r.case_id for r in trips(s, until, end=date(2021, 1, 31))]
        ngo_rows = [r.case_id for r in trips(s, until, workflow="ngo_project")]
        with pytest.raises(ValueError, match="by must be"):
            trips(s, until, by="deadline")
    assert by_decision == [ids["jan"], ids["dec"]]  # both bounds included, decision order
    # by return: actual return, else planned (dec came back 30/12/2021, planned 2022)
    assert sorted(by_return) == sorted([ids["jan"], ids["dec"], ids["before"]])
    assert january == [ids["jan"]]
    assert ngo_rows == [ngo]


def test_trips_come_in_decision_order(db: Database) -> None:
    with db.session() as s:
        late = case(s, decision=("9/QĐ", date(2021, 6, 1), "department"))
        b = case(s, decision=("2/QĐ", date(2021, 5, 1), "department"))
        a = case(s, decision=("1/QĐ", date(2021, 5, 1), "department"))
        a2 = case(s, decision=("1/QĐ", date(2021, 5, 1), "department"), name="Lê Thị Bình")
        no_unit = case(s, decision=("0/QĐ", date(2021, 4, 1), "department"), unit_id=None)
        for cid in (late, b, a, a2, no_unit):
            history(s, cid, ("create", None, "approved", day(0)))
    with db.session(write=False) as s:
        rows = trips(s, day(1))
    assert [r.case_id for r in rows] == [no_unit, a, a2, b, late]
    assert (rows[0].unit_code, rows[0].unit_name) == (None, None)


def test_many_filings_are_looked_up_in_chunks(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "_ID_CHUNK", 2)
    with db.session() as s:
        ids = [case(s, state="report_filed", name=f"T{i}") for i in range(5)]
        for i, cid in enumerate(ids):
            history(
                s,
                cid,
                ("create", None, "approved", day(0)),
                ("file", "report_due", "report_filed", day(1), {"on": f"2021-03-1{i}"}),
            )
    with db.session(write=False) as s:
        rows = trips(s, day(2))
    assert [r.file_on for r in rows] == [f"2021-03-1{i}" for i in range(5)]


# -- the figures on top of them ---------------------------------------------------------


def test_compliance_figures_by_issuer_category_and_unit_as_of_a_date(db: Database) -> None:
    """Two units, both issuers, both categories; the figures before and after the
    deadline and a filing (the compliance rules run on the read model's rows)."""
    with db.session() as s:
        syt, sgd = unit(s, "SYT", "Sở Y tế"), unit(s, "SGD", "Sở Giáo dục")
        specs = [
            # (decision, issuer, category, unit, filed on day n or None)
            ("1/QĐ-UBND", "province", "standing_committee", syt, 9),
            ("2/QĐ-SNgV", "department", "unit", syt, None),
            ("2/QĐ-SNgV", "department", "unit", sgd, 20),
        ]
        for n, (number, issuer, category, uid, filed) in enumerate(specs):
            cid = case(
                s,
                decision=(number, date(2021, 2, 1), issuer),
                category=category,
                unit_id=uid,
                name=f"T{n}",
                deadline=date(2021, 3, 15),
            )
            entries: list[tuple[Any, ...]] = [
                ("create", None, "approved", day(0)),
                ("return", "approved", "report_due", day(1)),
                ("deadline", "report_due", "overdue", day(15)),  # 16/03 local midnight
            ]
            if filed is not None:
                before = "report_due" if filed < 15 else "overdue"
                entries.append(("file", before, "report_filed", day(filed)))
                entries.sort(key=lambda e: e[3])
                if filed < 15:
                    entries = [e for e in entries if e[0] != "deadline"]
            history(s, cid, *entries)
    period = Period(date(2021, 1, 1), date(2021, 12, 31))
    with db.session(write=False) as s:
        early = compliance(s, period, date(2021, 3, 5), TZ)
        later = compliance(s, period, date(2021, 4, 30), TZ)

    def issuers(r: dict[str, Any]) -> dict[str, tuple[int, int]]:
        return {i["issuer"]: (i["decisions"], i["cases"]) for i in r["by_issuer"]}

    def figures(r: dict[str, Any], section: str, key: str) -> dict[Any, tuple[int, ...]]:
        return {
            row[key]: (
                row["due"],
                row["filed"],
                row["late"],
                row["outstanding"],
                row["not_yet_due"],
            )
            for row in r[section]
        }

    assert issuers(early) == issuers(later) == {"province": (1, 1), "department": (1, 2)}
    assert figures(early, "by_category", "category") == {
        "standing_committee": (0, 0, 0, 0, 1),
        "unit": (0, 0, 0, 0, 2),
    }
    assert figures(later, "by_category", "category") == {
        "standing_committee": (1, 1, 0, 0, 0),
        "unit": (2, 1, 1, 1, 0),
    }
    assert figures(later, "by_unit", "unit") == {"SGD": (1, 1, 1, 0, 0), "SYT": (2, 1, 0, 1, 0)}
    assert later["by_category"][1]["filed_pct"] == 50


# -- obligation_histories ---------------------------------------------------------------


def test_obligations_of_a_period_with_their_history(db: Database) -> None:
    with db.session() as s:
        due = {}
        for key, deadline in [
            ("first", date(2021, 6, 30)),
            ("last", date(2021, 12, 31)),
            ("outside", date(2022, 1, 1)),
            ("before", date(2021, 6, 29)),
            ("unopened", date(2021, 7, 1)),
        ]:
            due[key] = case(
                s,
                workflow="ngo_report",
                state="due",
                decision=None,
                deadline=deadline,
                data={"key": key, "ngo_name": "Plan"},
            )
        history(
            s,
            due["first"],
            ("file", "due", "filed", day(3), {"on": "2021-03-04"}),
            ("open", None, "due", day(0)),
            ("note", None, None, day(3)),
            ("close", "filed", "closed", day(10)),  # after the instant asked for
        )
        history(s, due["last"], ("open", None, "due", day(1)))
        history(s, due["outside"], ("open", None, "due", day(1)))
        history(s, due["unopened"], ("open", None, "due", day(10)))
        trip = case(s, deadline=date(2021, 7, 1))
        history(s, trip, ("create", None, "approved", day(0)))
    with db.session(write=False) as s:
        got = store.obligation_histories(
            s, workflow="ngo_report", start=date(2021, 6, 30), end=date(2021, 12, 31), until=day(10)
        )
        none = store.obligation_histories(
            s, workflow="ngo_report", start=date(2020, 1, 1), end=date(2020, 12, 31), until=day(10)
        )
    by_id = {c.case_id: c for c in got}
    assert set(by_id) == {due["first"], due["last"], due["unopened"]}
    first = by_id[due["first"]]
    assert (first.deadline, first.data) == (date(2021, 6, 30), {"key": "first", "ngo_name": "Plan"})
    assert [(e.event, e.to_state, e.at) for e in first.events] == [
        ("open", "due", day(0)),
        ("file", "filed", day(3)),  # same instant: in the order written
        ("note", None, day(3)),
    ]
    assert first.events[1].from_state == "due" and first.events[1].data == {"on": "2021-03-04"}
    assert by_id[due["unopened"]].events == []
    assert none == []


def test_obligation_histories_in_chunks(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "_ID_CHUNK", 2)
    with db.session() as s:
        ids = [
            case(s, workflow="ngo_report", decision=None, deadline=date(2021, 6, 30), name=f"R{i}")
            for i in range(5)
        ]
        for cid in ids:
            history(s, cid, ("open", None, "due", day(0)), ("file", "due", "filed", day(1)))
    with db.session(write=False) as s:
        got = store.obligation_histories(
            s, workflow="ngo_report", start=date(2021, 1, 1), end=date(2021, 12, 31), until=day(5)
        )
    assert sorted(c.case_id for c in got) == ids
    assert all([e.event for e in c.events] == ["open", "file"] for c in got)


# -- case_list_rows ---------------------------------------------------------------------


def test_the_case_list_the_exports_write(db: Database) -> None:
    with db.session() as s:
        syt = unit(s, "SYT", "Sở Y tế")
        sgd = unit(s, "SGD", "Sở Giáo dục")
        a = case(
            s,
            state="escalated",
            unit_id=syt,
            category="unit",
            purpose="official",
            planned_start=date(2021, 3, 1),
            actual_start=date(2021, 3, 2),
            planned_end=date(2021, 3, 5),
            deadline=date(2021, 3, 20),
            escalation_level=2,
        )
        b = case(
            s,
            state="closed",
            unit_id=sgd,
            planned_end=date(2021, 3, 5),
            actual_end=date(2021, 3, 4),
            report_filed_on=date(2021, 3, 10),
            filed_late=True,
        )
        project = case(s, workflow="ngo_project", state="active", decision=None, unit_id=syt)
        child = case(s, workflow="ngo_report", state="due", decision=None, parent_id=project)
    with db.session(write=False) as s:
        every = store.case_list_rows(s)
        escalated = store.case_list_rows(s, state="escalated")
        of_syt = store.case_list_rows(s, unit_id=syt)
        trips_sgd = store.case_list_rows(s, workflow="trip", unit_id=sgd)
        nothing = store.case_list_rows(s, workflow="trip", state="active")
    assert [r.id for r in every] == [a, b, project, child]
    assert escalated == [
        store.CaseListRow(
            id=a,
            workflow="trip",
            state="escalated",
            unit="SYT",
            name="Nguyễn Văn An",
            decision="1/QĐ-SNgV",
            decision_date=date(2021, 2, 1),
            category="unit",
            purpose="official",
            departure=date(2021, 3, 2),
            return_=date(2021, 3, 5),
            deadline=date(2021, 3, 20),
            report_filed_on=None,
            filed_late=None,
            escalation_level=2,
            parent_id=None,
        )
    ]
    assert [r.id for r in of_syt] == [a, project]
    assert [(r.id, r.return_, r.filed_late) for r in trips_sgd] == [(b, date(2021, 3, 4), True)]
    assert every[3].parent_id == project and every[3].decision is None and every[3].unit is None
    assert nothing == []


def test_obligation_histories_having_an_event(db: Database) -> None:
    """Only the cases with such an entry before the instant (the suspended ones)."""
    with db.session() as s:
        kept, later, never = (
            case(s, workflow="ngo_report", decision=None, deadline=date(2021, 6, 30), name=n)
            for n in ("kept", "later", "never")
        )
        history(s, kept, ("open", None, "due", day(0)), ("suspend", "due", "suspended", day(2)))
        history(s, later, ("open", None, "due", day(0)), ("suspend", "due", "suspended", day(12)))
        history(s, never, ("open", None, "due", day(0)))
    with db.session(write=False) as s:
        suspended = store.case_ids_with_event(s, "suspend", day(10))
        got = store.obligation_histories(
            s,
            workflow="ngo_report",
            start=date(2021, 1, 1),
            end=date(2021, 12, 31),
            until=day(10),
            only=suspended,
        )
    assert suspended == [kept]
    assert [c.case_id for c in got] == [kept]
    assert [e.event for e in got[0].events] == ["open", "suspend"]
