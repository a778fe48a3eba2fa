"""Several obligations per trip: a traveller on an official or diplomatic passport
hands it back within 5 working days of re-entry — its own child case, with its own
reminders, escalation and filing, counted apart in the compliance report."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest

import storage.cases
import storage.outbox
import storage.timers
from cli.wiring import open_app
from engine import creation
from engine.app import App
from engine.creation import Traveller
from engine.imports import ImportOptions, import_file
from engine.reports import Period, follow_ups
from kernel.clock import ManualClock
from kernel.errors import InvalidInput
from tests.acceptance.test_cli import run
from tests.conftest import add_unit, make_config
from tests.import_support import DATA


def local(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour - 7)


def open_trip(
    app: App,
    passport: str | None,
    name: str = "Trần Thị Bình",
    code: str = "SYT",
    back: date = date(2026, 10, 5),
) -> int:
    unit = add_unit(app, code=code)
    traveller = Traveller(
        name=name,
        unit_id=unit.id,
        category="unit",
        country_codes="KH",
        purpose="official",
        departure=back - timedelta(days=7),
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


def children(app: App, trip_id: int) -> list:
    with app.db.session(write=False) as session:
        return [
            c
            for c in storage.cases.find_cases(session, workflow="trip_passport")
            if c.parent_id == trip_id
        ]


@pytest.mark.parametrize("passport", ["official", "diplomatic"])
def test_an_official_passport_is_due_back_5_working_days_after_re_entry(
    app: App, clock: ManualClock, passport: str
) -> None:
    clock.set(local(date(2026, 10, 6)))
    trip_id = open_trip(app, passport)
    [child] = children(app, trip_id)
    # re-entry Mon 05/10/2026 (not counted): Tue 6, Wed 7, Thu 8, Fri 9, Mon 12 → 12/10
    assert (child.state, child.deadline) == ("due", date(2026, 10, 12))
    assert child.data["due"] == "5 working days" and "49/2019/QH14" in child.data["legal_basis"]
    assert child.data["passport"] == passport and child.unit_id is not None
    with app.db.session(write=False) as session:
        trip = storage.cases.get_case(session, trip_id)
    # the trip's own report runs on as before
    assert (trip.state, trip.deadline) == ("report_due", date(2026, 10, 20))


def test_a_passport_across_a_holiday(app: App, clock: ManualClock) -> None:
    # re-entry Tue 28/04/2026: 29/04 is a working day, 30/04 and 01/05 public holidays,
    # 02–03/05 the weekend: Wed 29/04, Mon 04, Tue 05, Wed 06, Thu 07/05/2026
    clock.set(local(date(2026, 4, 29)))
    trip_id = open_trip(app, "official", back=date(2026, 4, 28))
    [child] = children(app, trip_id)
    assert child.deadline == date(2026, 5, 7)


def test_an_ordinary_passport_or_none_owes_nothing(app: App, clock: ManualClock) -> None:
    clock.set(local(date(2026, 10, 6)))
    assert children(app, open_trip(app, "ordinary")) == []
    assert children(app, open_trip(app, None, name="Lê Văn Cường", code="SGD")) == []


def test_an_unknown_passport_type_is_refused(app: App) -> None:
    with pytest.raises(InvalidInput, match="passport"):
        open_trip(app, "blue")


def test_its_own_reminders_escalation_and_filing(app: App, clock: ManualClock) -> None:
    clock.set(local(date(2026, 10, 6)))
    trip_id = open_trip(app, "official")
    [child] = children(app, trip_id)
    with app.db.session(write=False) as session:
        timers = {t.kind: t for t in storage.timers.pending_timers(session, child.id)}
    assert {"reminder", "deadline"} <= set(timers)
    clock.set(datetime(2026, 10, 12, 17, 0))  # 13/10 00:00 local: the deadline passed
    app.engine.sweep()
    with app.db.session(write=False) as session:
        child = storage.cases.get_case(session, child.id)
        kinds = [m.kind for m in storage.outbox.outbox_for_case(session, child.id)]
    assert child.state == "overdue" and "passport_urging" in kinds
    clock.set(datetime(2026, 10, 19, 17, 0))  # 5 working days later: level 1
    app.engine.sweep()
    with app.db.session() as session:
        assert storage.cases.get_case(session, child.id).state == "escalated"
        app.engine.fire(
            session, child.id, "file", actor="user:c", params={"on": date(2026, 10, 20)}
        )
    with app.db.session(write=False) as session:
        child = storage.cases.get_case(session, child.id)
        trip = storage.cases.get_case(session, trip_id)
    assert child.state == "filed" and child.filed_late is True
    assert trip.state == "report_due"  # the report is another obligation: untouched
    # counted apart in the compliance report
    until = datetime(2026, 10, 31, 17, 0)
    with app.db.session(write=False) as session:
        [row] = follow_ups(session, Period(date(2026, 10, 1), date(2026, 10, 31)), until)
    assert row["workflow"] == "trip_passport"
    assert (row["obligations"], row["filed"], row["late"]) == (1, 1, 1)


def test_switched_off_in_the_configuration(tmp_path: Path) -> None:
    config = make_config(
        f"sqlite:///{tmp_path / 'off.db'}", THEODOI_WORKFLOWS__TRIP_PASSPORT__ENABLED="false"
    )
    app = open_app(config, ManualClock(local(date(2026, 10, 6))), upgrade=True, worker_id="t")
    try:
        assert children(app, open_trip(app, "official")) == []
    finally:
        app.close()


def test_the_import_reads_the_passport_column(tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'imp.db'}")
    app = open_app(config, ManualClock(datetime(2021, 8, 10, 2, 0)), upgrade=True, worker_id="t")
    try:
        import_file(app, "units", DATA / "units.csv", ImportOptions())
        with (DATA / "seed_trips.csv").open(encoding="utf-8-sig", newline="") as fh:
            rows = list(csv.DictReader(fh))
        for row in rows:
            row["Loại hộ chiếu"] = "Hộ chiếu công vụ" if row is rows[-1] else ""
        path = tmp_path / "trips.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        import_file(app, "trips", path, ImportOptions())
        with app.db.session(write=False) as session:
            trips = {c.name: c for c in storage.cases.find_cases(session, workflow="trip")}
            passports = storage.cases.find_cases(session, workflow="trip_passport")
        last = trips[rows[-1]["full_name"]]
        assert last.data["passport"] == "official"
        assert [c.parent_id for c in passports] == [last.id]
        assert sum(1 for c in trips.values() if (c.data or {}).get("passport")) == 1
    finally:
        app.close()


def test_cli_trip_add_passport_then_suspend_and_show(tmp_path: Path) -> None:
    """``trip add --passport``, ``event … suspend --reason``, ``show --format json``."""
    db = tmp_path / "cli.db"
    now = ("--now", "2026-10-08 10:00")
    run(db, "init")
    run(db, "unit", "add", "SYT", "--name", "Sở Y tế", "--email", "syt@example.vn")
    bad = run(db, *now, *TRIP_2026, "--passport", "blue", ok=False)
    assert bad.returncode == 2 and "passport" in bad.stderr
    trip_id = run(db, *now, *TRIP_2026, "--passport", "diplomatic").stdout.strip()
    run(db, *now, "event", trip_id, "suspend", "--reason", "Người đi đang điều trị")
    shown = json.loads(run(db, "--now", "2026-10-15 10:00", "show", trip_id, "-f", "json").stdout)
    assert shown["state"] == "suspended" and shown["data"]["passport"] == "diplomatic"
    assert shown["suspension"]["days"] == 7
    assert shown["suspension"]["suspensions"][0]["reason"] == "Người đi đang điều trị"
    listed = json.loads(run(db, *now, "cases", "--workflow", "trip_passport", "-f", "json").stdout)
    assert [row["deadline"] for row in listed] == ["2026-10-12"]


TRIP_2026 = [
    "trip",
    "add",
    "--decision",
    "12/QĐ-SNgV",
    "--decision-date",
    "2026-09-01",
    "--issuer",
    "department",
    "--name",
    "Trần Thị Bình",
    "--unit",
    "SYT",
    "--category",
    "unit",
    "--destination",
    "KH",
    "--depart",
    "2026-09-28",
    "--return",
    "2026-10-05",
]
