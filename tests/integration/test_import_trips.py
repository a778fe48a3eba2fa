"""Importing trips: backfill into the right states, all-or-nothing, idempotent re-import,
corrections that move deadlines, notices only with --notify."""

from __future__ import annotations

import csv
import json
from datetime import date, datetime
from pathlib import Path

import pytest

import storage.cases
import storage.decisions
import storage.events
import storage.outbox
import storage.timers
import storage.units
from cli.wiring import open_app
from engine.app import App
from engine.imports import ImportOptions, ImportRefused, import_file
from kernel.clock import ManualClock, to_local
from tests.conftest import make_config
from tests.import_support import DATA, dump, invoke, run

# 10 August 2021, 09:00 in Tây Ninh: the last seed trip (back 06/08) has a report due.
AUG_10 = datetime(2021, 8, 10, 2, 0)


def _app(tmp_path: Path, now: datetime) -> App:
    config = make_config(f"sqlite:///{tmp_path / 'theodoi.db'}")
    return open_app(config, ManualClock(now), upgrade=True, worker_id="test")


@pytest.fixture
def app(tmp_path: Path):
    application = _app(tmp_path, AUG_10)
    import_file(application, "units", DATA / "units.csv", ImportOptions())
    yield application
    application.close()


def _cases(app: App) -> dict[str, object]:
    with app.db.session(write=False) as session:
        return {c.name: c for c in storage.cases.find_cases(session, workflow="trip")}


def _history(app: App, case_id: int) -> list[tuple[str, str | None, str]]:
    tz = app.config.organisation.tz
    with app.db.session(write=False) as session:
        return [
            (e.event, e.to_state, to_local(e.at, tz).strftime("%d/%m/%Y %H:%M"))
            for e in storage.events.case_events(session, case_id)
            if e.event != "notice_skipped"
        ]


def test_seed_lands_in_the_states_its_dates_imply(app: App) -> None:
    report = import_file(app, "trips", DATA / "seed_trips.xlsx", ImportOptions())
    assert report.result.count("created") == 20
    assert report.result.decisions_created == 19
    cases = _cases(app)
    assert len(cases) == 20
    # returned 15/02/2020, never reported: due 02/03/2020, escalated twice since
    thanh = cases["Lê Văn Thành"]
    assert (thanh.state, thanh.escalation_level, thanh.deadline) == (
        "escalated", 2, date(2020, 3, 2),
    )
    assert _history(app, thanh.id)[:5] == [
        ("create", "approved", "15/01/2020 00:00"),
        ("depart", "travelling", "10/02/2020 00:00"),
        ("return", "returned", "15/02/2020 00:00"),
        ("open_report", "report_due", "15/02/2020 00:00"),
        ("reminder", "report_due", "24/02/2020 07:30"),
    ]
    # filed 30/01/2020, before the deadline 31/01: on time, then accepted
    hung = cases["Trần Quốc Hưng"]
    assert (hung.state, hung.filed_late, hung.report_filed_on) == (
        "closed", False, date(2020, 1, 28),
    )
    # filed 30/03/2020 after the deadline 10/03: late, and its history says overdue first
    tuan = cases["Phạm Minh Tuấn"]
    assert (tuan.state, tuan.filed_late) == ("report_filed", True)
    events = [e for e, _s, _at in _history(app, tuan.id)]
    assert events.index("deadline_passed") < events.index("file")
    # back 06/08/2021: report due 23/08 (15 days → Saturday 21/08 → Monday)
    tam = cases["Kiều Văn Tâm"]
    assert (tam.state, tam.deadline) == ("report_due", date(2021, 8, 23))
    # no notice for the past
    with app.db.session(write=False) as session:
        assert all(not storage.outbox.outbox_for_case(session, c.id) for c in cases.values())


def test_decision_numbers_restart_every_year(app: App) -> None:
    import_file(app, "trips", DATA / "seed_trips.csv", ImportOptions())
    cases = _cases(app)
    with app.db.session(write=False) as session:
        decisions = storage.decisions.decisions_by_id(session, {c.decision_id for c in cases.values()})
    nines = sorted(
        (d.year, d.decided_on) for d in decisions.values() if d.number == "09/QĐ-SNgV"
    )
    assert nines == [(2020, date(2020, 2, 3)), (2021, date(2021, 3, 8))]
    assert cases["Đặng Văn Lợi"].decision_id != cases["Phan Văn Hải"].decision_id


def test_reimport_is_idempotent(app: App, tmp_path: Path) -> None:
    import_file(app, "trips", DATA / "seed_trips.xlsx", ImportOptions())
    before = dump(tmp_path / "theodoi.db")
    again = import_file(app, "trips", DATA / "seed_trips.csv", ImportOptions())
    assert (again.result.count("created"), again.result.count("updated")) == (0, 0)
    assert again.result.count("unchanged") == 20
    assert again.result.decisions_created == again.result.decisions_updated == 0
    assert dump(tmp_path / "theodoi.db") == before


def _rewrite(source: Path, target: Path, name: str, column: str, value: str) -> Path:
    with source.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    for row in rows:
        if row["full_name"] == name:
            row[column] = value
    with target.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return target


def test_changed_return_date_moves_deadline_and_timers(app: App, tmp_path: Path) -> None:
    import_file(app, "trips", DATA / "seed_trips.csv", ImportOptions())
    tam = _cases(app)["Kiều Văn Tâm"]
    with app.db.session(write=False) as session:
        timers_before = [(t.kind, t.level, t.fire_at) for t in storage.timers.pending_timers(session, tam.id)]
    assert ("deadline", 1, datetime(2021, 8, 23, 17, 0)) in timers_before  # 24:00 local 23/08

    changed = _rewrite(DATA / "seed_trips.csv", tmp_path / "changed.csv", "Kiều Văn Tâm",
                       "return_date", "09/08/2021")
    report = import_file(app, "trips", changed, ImportOptions())
    assert report.result.count("updated") == 1 and report.result.count("unchanged") == 19
    [row] = [r for r in report.result.rows if r.action == "updated"]
    assert row.changes["actual_end"] == ["2021-08-06", "2021-08-09"]

    tam = _cases(app)["Kiều Văn Tâm"]
    assert (tam.actual_end, tam.deadline, tam.state) == (
        date(2021, 8, 9), date(2021, 8, 24), "report_due",
    )
    with app.db.session(write=False) as session:
        timers = [(t.kind, t.level, t.fire_at) for t in storage.timers.pending_timers(session, tam.id)]
        update = [e for e in storage.events.case_events(session, tam.id) if e.event == "update"]
    assert ("deadline", 1, datetime(2021, 8, 24, 17, 0)) in timers
    assert not set(timers) & {t for t in timers_before if t[0] == "deadline"}
    assert len(update) == 1
    assert update[0].data["changes"]["actual_end"] == ["2021-08-06", "2021-08-09"]
    assert update[0].data["changes"]["deadline"] == ["2021-08-23", "2021-08-24"]
    assert "changed.csv" in update[0].reason

    # and importing the corrected file once more changes nothing
    assert import_file(app, "trips", changed, ImportOptions()).result.count("updated") == 0


def test_a_report_date_added_later_files_the_report(app: App, tmp_path: Path) -> None:
    import_file(app, "trips", DATA / "seed_trips.csv", ImportOptions())
    changed = _rewrite(DATA / "seed_trips.csv", tmp_path / "filed.csv", "Lê Văn Thành",
                       "report_filed_date", "05/08/2021")
    import_file(app, "trips", changed, ImportOptions())
    thanh = _cases(app)["Lê Văn Thành"]
    assert (thanh.state, thanh.report_filed_on, thanh.filed_late) == (
        "report_filed", date(2021, 8, 5), True,
    )


def test_bad_rows_are_all_refused_and_nothing_is_written(app: App, tmp_path: Path) -> None:
    import_file(app, "trips", DATA / "seed_trips.csv", ImportOptions())
    before = dump(tmp_path / "theodoi.db")
    with pytest.raises(ImportRefused) as refused:
        import_file(app, "trips", DATA / "bad_trips.csv", ImportOptions())
    assert [(p.row, p.column) for p in refused.value.problems] == [
        (7, "departure_date"), (9, "unit"), (12, "full_name"),
    ]
    assert dump(tmp_path / "theodoi.db") == before


def test_dry_run_writes_nothing(app: App, tmp_path: Path) -> None:
    before = dump(tmp_path / "theodoi.db")
    report = import_file(app, "trips", DATA / "seed_trips.xlsx", ImportOptions(dry_run=True))
    assert report.dry_run and report.result.count("created") == 20
    assert dump(tmp_path / "theodoi.db") == before


def test_notify_sends_only_the_notice_that_fits_now(app: App) -> None:
    import_file(app, "trips", DATA / "seed_trips.csv", ImportOptions(notify=True))
    cases = _cases(app)
    with app.db.session(write=False) as session:
        sent = {name: [(m.kind, m.level) for m in storage.outbox.outbox_for_case(session, c.id)]
                for name, c in cases.items()}
    # escalated twice: the level-2 escalation letter, nothing older
    assert sent["Lê Văn Thành"] == [("escalation", 2)]
    # filed: nothing fits
    assert sent["Trần Quốc Hưng"] == [] and sent["Phạm Minh Tuấn"] == []
    # report due, deadline 23/08, first reminder 16/08: no reminder yet, and the
    # approval of a trip that is over does not fit either
    assert sent["Kiều Văn Tâm"] == []
    assert sum(len(v) for v in sent.values()) == sum(
        1 for c in cases.values() if c.state == "escalated"
    )


def test_notify_a_future_trip_gets_its_approval(app: App, tmp_path: Path) -> None:
    path = tmp_path / "future.csv"
    path.write_text(
        "decision_number,decision_date,issuer,full_name,unit,category,destination,"
        "departure_date,return_date\n"
        "40/QĐ-SNgV,09/08/2021,department,Nguyễn Văn Tương Lai,SYT,unit,Campuchia,"
        "20/08/2021,25/08/2021\n",
        encoding="utf-8",
    )
    import_file(app, "trips", path, ImportOptions(notify=True))
    case = _cases(app)["Nguyễn Văn Tương Lai"]
    assert case.state == "approved"
    with app.db.session(write=False) as session:
        assert [m.kind for m in storage.outbox.outbox_for_case(session, case.id)] == [
            "approval_notice"
        ]


def test_units_import_and_update(app: App, tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    path.write_text(
        "Mã đơn vị;Tên đơn vị;Email;Email thủ trưởng;Ghi chú\n"
        "SYT;Sở Y tế tỉnh Tây Ninh;syt@tayninh.local;gd.syt@tayninh.local;x\n"
        "STP;Sở Tư pháp;stp@tayninh.local;;\n",
        encoding="utf-8",
    )
    report = import_file(app, "units", path, ImportOptions())
    assert report.warnings == ["column 'Ghi chú' is not part of the units template: ignored"]
    assert [(r.action, r.label) for r in report.result.rows] == [
        ("updated", "unit SYT: Sở Y tế tỉnh Tây Ninh"),
        ("created", "unit STP: Sở Tư pháp"),
    ]
    with app.db.session(write=False) as session:
        unit = storage.units.unit_by_code(session, "SYT")
        assert (unit.name, unit.head_email) == ("Sở Y tế tỉnh Tây Ninh", "gd.syt@tayninh.local")


def test_unit_by_exact_name(app: App, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    path.write_text(
        "số quyết định,ngày quyết định,cơ quan quyết định,họ và tên,đơn vị,diện quản lý,"
        "nước đến,ngày đi,ngày về\n"
        "41/QĐ-SNgV,02/08/2021,Sở Ngoại vụ,Trần Văn Tên,Sở Y tế,đơn vị,Lào,03/08/2021,"
        "05/08/2021\n",
        encoding="utf-8",
    )
    import_file(app, "trips", path, ImportOptions())
    with app.db.session(write=False) as session:
        unit = storage.units.unit_by_code(session, "SYT")
    assert _cases(app)["Trần Văn Tên"].unit_id == unit.id


# -- the real CLI ---------------------------------------------------------------------------


def test_cli_refuses_a_bad_file_listing_every_problem(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    invoke(db, "import", "units", str(DATA / "units.csv"))
    invoke(db, "import", "trips", str(DATA / "seed_trips.csv"))
    before = dump(db)
    proc = run(db, "import", "trips", str(DATA / "bad_trips.csv"), ok=False)
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    for row, column, value in (("7", "departure_date", "31/02/2020"), ("9", "unit", "SXYZ"),
                               ("12", "full_name", "")):
        assert any(
            f"│ {row} " in line and column in line and value in line for line in lines
        ), proc.stderr
    assert "3 problems: nothing was written." in proc.stderr
    assert dump(db) == before


def test_cli_dry_run_and_import(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    invoke(db, "import", "units", str(DATA / "units.xlsx"))
    before = dump(db)
    dry = invoke(db, "import", "trips", str(DATA / "seed_trips_vi.csv"), "--dry-run")
    assert "row 2: create" in dry.stdout and "Trần Quốc Hưng" in dry.stdout
    assert "20 created" in dry.stdout and "dry run" in dry.stdout
    assert dump(db) == before
    done = invoke(db, "import", "trips", str(DATA / "seed_trips_vi.csv"))
    assert "20 created, 0 updated, 0 unchanged" in done.stdout
    assert "escalated 13" in done.stdout
    listed = json.loads(invoke(db, "cases", "--format", "json").stdout)
    assert len(listed) == 20


def test_a_corrected_filing_date_rejudges_lateness(app: App, tmp_path: Path) -> None:
    import_file(app, "trips", DATA / "seed_trips.csv", ImportOptions())
    assert _cases(app)["Phạm Minh Tuấn"].filed_late is True  # filed 30/03, due 10/03/2020
    changed = _rewrite(DATA / "seed_trips.csv", tmp_path / "fix.csv", "Phạm Minh Tuấn",
                       "report_filed_date", "09/03/2020")
    report = import_file(app, "trips", changed, ImportOptions())
    [row] = [r for r in report.result.rows if r.action == "updated"]
    assert row.changes == {
        "report_filed_on": ["2020-03-30", "2020-03-09"], "filed_late": [True, False],
    }
    tuan = _cases(app)["Phạm Minh Tuấn"]
    assert (tuan.report_filed_on, tuan.filed_late) == (date(2020, 3, 9), False)


def test_a_return_date_moved_weeks_back_makes_the_report_overdue(app: App, tmp_path: Path) -> None:
    """The corrected deadline (20/07) has passed on 10/08: the case does not wait for a
    timer that will never come, it goes overdue and escalates as of its own dates."""
    import_file(app, "trips", DATA / "seed_trips.csv", ImportOptions())
    changed = _rewrite(DATA / "seed_trips.csv", tmp_path / "a.csv", "Kiều Văn Tâm",
                       "return_date", "05/07/2021")
    changed = _rewrite(changed, tmp_path / "b.csv", "Kiều Văn Tâm", "departure_date",
                       "02/07/2021")
    import_file(app, "trips", changed, ImportOptions())
    tam = _cases(app)["Kiều Văn Tâm"]
    assert (tam.state, tam.deadline, tam.escalation_level) == (
        "escalated", date(2021, 7, 20), 1,
    )
    history = _history(app, tam.id)
    assert ("deadline_passed", "overdue", "21/07/2021 00:00") in history
    assert ("escalate", "escalated", "28/07/2021 00:00") in history
    with app.db.session(write=False) as session:
        timers = [(t.kind, t.level) for t in storage.timers.pending_timers(session, tam.id)]
        assert not storage.outbox.outbox_for_case(session, tam.id)  # no notice without --notify
    assert timers == [("escalate_next", 1)]
