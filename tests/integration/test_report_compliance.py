"""The compliance report reproduces the inspection's figures from the case history."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook

import storage.cases
from cli.wiring import open_app
from engine import export, reports
from engine.imports import ImportOptions, import_file
from engine.reports import Period, compliance, percent
from kernel.clock import ManualClock, from_local
from tests import pg
from tests.conftest import make_config
from tests.import_support import DATA, dump, invoke, run

pg_url = pg.pg_url  # the fixture: a fresh PostgreSQL schema (skips without a server)
PERIOD = ["--from", "2020-01-01", "--to", "2021-08-31"]


@pytest.mark.parametrize("name", ["seed_trips.xlsx", "seed_trips.csv"])
def test_the_inspection_figures(tmp_path: Path, name: str) -> None:
    """The acceptance test: the seed imported and reported by the real CLI."""
    db = tmp_path / "theodoi.db"
    run(db, "import", "units", str(DATA / "units.csv"))
    run(db, "import", "trips", str(DATA / name))
    proc = run(db, "report", "compliance", *PERIOD, "--format", "json")
    report = json.loads(proc.stdout)
    assert report["period"]["from"] == "2020-01-01" and report["period"]["to"] == "2021-08-31"
    assert report["as_of"] == "2021-11-23"  # the clock the CLI was given (THEODOI_NOW)
    assert (report["decisions"], report["cases"]) == (19, 20)
    issuers = {i["issuer"]: (i["decisions"], i["cases"]) for i in report["by_issuer"]}
    assert issuers == {"province": (1, 1), "department": (18, 19)}
    categories = {c["category"]: c for c in report["by_category"]}
    sc, unit = categories["standing_committee"], categories["unit"]
    assert (sc["filed"], sc["due"], sc["filed_pct"]) == (1, 1, 100)
    assert (unit["filed"], unit["due"], unit["filed_pct"]) == (6, 19, 32)
    assert (unit["on_time"], unit["late"], unit["outstanding"]) == (4, 2, 13)
    units = {u["unit"]: u for u in report["by_unit"]}
    assert (units["SVHTTDL"]["cases"], units["SVHTTDL"]["filed"]) == (3, 1)
    countries = {c["country"]: c["cases"] for c in report["by_country"]}
    assert countries["KH"] == 12 and countries["LA"] == 2 and countries["KR"] == 3
    months = {m["month"]: (m["decisions"], m["cases"]) for m in report["by_month"]}
    assert months["2020-01"] == (4, 5)
    assert sum(m["cases"] for m in report["by_month"]) == 20


@pytest.fixture(scope="module")
def seeded(tmp_path_factory) -> Path:
    """The seed imported in this process, for the many smaller checks."""
    db = tmp_path_factory.mktemp("report") / "theodoi.db"
    config = make_config(f"sqlite:///{db}")
    app = open_app(config, ManualClock(datetime(2021, 11, 23, 2, 0)), upgrade=True)
    try:
        import_file(app, "units", DATA / "units.csv", ImportOptions())
        import_file(app, "trips", DATA / "seed_trips.csv", ImportOptions())
    finally:
        app.close()
    return db


def test_a_past_day_and_a_stable_past(seeded: Path) -> None:
    # On 15/02/2020 only the January decisions, 09/QĐ and 12/QĐ existed; two reports
    # were in, two travellers had just come back (reports not yet due).
    early = json.loads(
        invoke(seeded, "report", "compliance", *PERIOD, "--as-of", "2020-02-15",
               "--format", "json").stdout
    )
    assert (early["decisions"], early["cases"]) == (6, 7)
    totals = early["totals"]
    assert (totals["filed"], totals["outstanding"], totals["not_yet_due"]) == (2, 0, 2)
    # the report for that day is the same whenever it is run, even after new events
    later = json.loads(
        invoke(seeded, "report", "compliance", *PERIOD, "--as-of", "2020-02-15",
               "--format", "json", now="2023-01-01T09:00").stdout
    )
    assert later == early


def test_period_by_return_date(seeded: Path) -> None:
    report = json.loads(
        invoke(seeded, "report", "compliance", "--from", "2021-01-01", "--to", "2021-12-31",
               "--by", "return", "--format", "json").stdout
    )
    assert report["period"]["by"] == "return"
    assert report["cases"] == 7  # the seven trips back in 2021


def test_csv_table_and_xlsx_formats(seeded: Path, tmp_path: Path) -> None:
    text = invoke(seeded, "report", "compliance", *PERIOD, "--format", "csv").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    unit = next(r for r in rows if r["section"] == "by_category" and r["key"] == "unit")
    assert (unit["filed"], unit["due"], unit["filed_pct"]) == ("6", "19", "32")

    table = invoke(seeded, "report", "compliance", *PERIOD).stdout
    assert "20 cases" in table and "32%" in table and "100%" in table

    out = tmp_path / "bao-cao.xlsx"
    invoke(seeded, "report", "compliance", *PERIOD, "--format", "xlsx", "--output", str(out))
    book = load_workbook(out)
    assert book.sheetnames == [
        "Tổng hợp", "Theo đơn vị", "Theo nước đến", "Theo tháng", "Danh sách trường hợp",
    ]
    summary = [c for row in book["Tổng hợp"].iter_rows(values_only=True) for c in row if c]
    assert "- Sở Ngoại vụ ban hành 18 quyết định với 19 trường hợp." in summary
    assert "- Ủy ban nhân dân tỉnh ban hành 01 quyết định với 01 trường hợp." in summary
    assert "- Diện Ban Thường vụ Tỉnh ủy quản lý: 01/01 trường hợp (đạt 100%)." in summary
    assert "- Diện địa phương, đơn vị quản lý: 06/19 trường hợp (đạt 32%)." in summary
    pct = [c.value for c in book["Tổng hợp"]["J"] if c.number_format == "0%"]
    assert pct == [1, 0.32, 0.35]  # shown as 100%, 32%, 35%
    cases = list(book["Danh sách trường hợp"].iter_rows(min_row=4, values_only=True))
    assert len(cases) == 20
    thanh = next(r for r in cases if r[4] == "Lê Văn Thành")
    assert thanh[11] == datetime(2020, 2, 15) and thanh[14] == "Đã kiến nghị xử lý"


def test_export_cases(seeded: Path, tmp_path: Path) -> None:
    text = invoke(seeded, "export", "cases", "--format", "csv", "--state", "escalated").stdout
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == 13 and {r["state"] for r in rows} == {"escalated"}
    out = tmp_path / "cases.xlsx"
    before = dump(seeded)
    invoke(seeded, "export", "cases", "--format", "xlsx", "--unit", "SYT", "--output", str(out))
    sheet = load_workbook(out).active
    assert sheet["B3"].value == "Mã hồ sơ"
    data = list(sheet.iter_rows(min_row=4, values_only=True))
    assert len(data) == 3 and all(r[6] == "SYT" for r in data)
    assert dump(seeded) == before  # exporting writes nothing
    bad = invoke(seeded, "export", "cases", "--format", "pdf", code=2)
    assert "format" in bad.stderr


# -- in-process: rounding, reports sent back, NGO hook -----------------------------------


@pytest.mark.parametrize(
    ("part", "whole", "expected"),
    [(6, 19, 32), (1, 1, 100), (1, 8, 13), (1, 3, 33), (2, 3, 67), (0, 5, 0), (0, 0, None)],
)
def test_percent_rounds_half_up(part: int, whole: int, expected: int | None) -> None:
    assert percent(part, whole) == expected


def test_a_report_sent_back_no_longer_counts_as_filed(tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'r.db'}")
    clock = ManualClock(datetime(2021, 11, 23, 2, 0))
    app = open_app(config, clock, upgrade=True, worker_id="test")
    try:
        import_file(app, "units", DATA / "units.csv", ImportOptions())
        import_file(app, "trips", DATA / "seed_trips.csv", ImportOptions())
        tz = config.organisation.tz
        period = Period(date(2020, 1, 1), date(2021, 8, 31))
        with app.db.session() as session:
            tuan = next(c for c in storage.cases.find_cases(session) if c.name == "Phạm Minh Tuấn")
            app.engine.fire(session, tuan.id, "reject", actor="test",
                            reason="Báo cáo sơ sài, chưa đạt yêu cầu")
        with app.db.session(write=False) as session:
            today = compliance(session, period, date(2021, 11, 23), tz)
            before = compliance(session, period, date(2021, 11, 22), tz)
        unit_now = next(c for c in today["by_category"] if c["category"] == "unit")
        unit_before = next(c for c in before["by_category"] if c["category"] == "unit")
        assert (unit_before["filed"], unit_before["late"]) == (6, 2)
        assert (unit_now["filed"], unit_now["late"], unit_now["not_yet_due"]) == (5, 1, 1)
        assert unit_now["filed_pct"] == 28  # 5/18: the sent-back report is due again

        # filing again after the new deadline is late; as of yesterday nothing moves
        clock.set(from_local(date(2021, 12, 10), datetime.min.time(), tz))
        app.engine.sweep()
        with app.db.session() as session:
            app.engine.fire(session, tuan.id, "file", actor="test")
        with app.db.session(write=False) as session:
            again = compliance(session, period, date(2021, 12, 10), tz)
            same = compliance(session, period, date(2021, 11, 22), tz)
        unit_again = next(c for c in again["by_category"] if c["category"] == "unit")
        assert (unit_again["filed"], unit_again["late"]) == (6, 2)  # Tuấn, Lan Anh
        assert same == before
    finally:
        app.close()


def test_extra_sections_are_added(tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'r.db'}")
    app = open_app(config, ManualClock(datetime(2021, 11, 23, 2, 0)), upgrade=True)
    try:
        reports.register_section(
            "by_test", lambda s, p, until: [{"thing": str(until), "due": 4, "filed_pct": 75}]
        )
        with app.db.session(write=False) as session:
            out = compliance(session, Period(date(2021, 1, 1), date(2021, 1, 31)),
                             date(2021, 2, 1), config.organisation.tz)
        assert out["by_test"] == [{"thing": "2021-02-01 17:00:00", "due": 4, "filed_pct": 75}]
        assert out["cases"] == 0 and out["by_category"][1]["filed_pct"] is None
        export.compliance_xlsx(out, tmp_path / "r.xlsx")
        sheet = load_workbook(tmp_path / "r.xlsx")["by_test"]
        assert [c.value for c in sheet[4]] == [1, "2021-02-01 17:00:00", 4, 0.75]
    finally:
        reports.EXTRA_SECTIONS.pop("by_test", None)
        app.close()


@pytest.mark.postgres
def test_import_and_report_on_postgresql(pg_url: str) -> None:
    """The same import (bulk path, re-import) and figures on PostgreSQL."""
    config = make_config(pg_url)
    app = open_app(config, ManualClock(datetime(2021, 11, 23, 2, 0)), upgrade=True)
    try:
        import_file(app, "units", DATA / "units.csv", ImportOptions())
        import_file(app, "trips", DATA / "seed_trips.xlsx", ImportOptions())
        again = import_file(app, "trips", DATA / "seed_trips.csv", ImportOptions())
        assert again.result.count("unchanged") == 20
        with app.db.session(write=False) as session:
            report = compliance(session, Period(date(2020, 1, 1), date(2021, 8, 31)),
                                date(2021, 11, 23), config.organisation.tz)
            early = compliance(session, Period(date(2020, 1, 1), date(2021, 8, 31)),
                               date(2020, 2, 15), config.organisation.tz)
    finally:
        app.close()
    assert (report["decisions"], report["cases"]) == (19, 20)
    unit = next(c for c in report["by_category"] if c["category"] == "unit")
    assert (unit["filed"], unit["due"], unit["filed_pct"]) == (6, 19, 32)
    assert (early["decisions"], early["cases"], early["totals"]["filed"]) == (6, 7, 2)
