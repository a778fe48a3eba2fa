"""The vocabularies and the kernel's parsers as their callers use them: the CLI, the
web form and the import accept and refuse the same inputs, and show the same labels."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from cli.wiring import open_app
from engine import export, reports
from engine.imports.columns import TRIP_COLUMNS
from engine.imports.reading import read_table
from engine.imports.trips import UnitIndex, parse_trips
from kernel.clock import ManualClock
from kernel.errors import InvalidInput
from tests.conftest import add_unit, make_config
from web import i18n, services, users
from web.security import configure_passwords
from web.testing import LiveServer, csrf_of, login
from workflows.decision import ISSUER
from workflows.trip import CATEGORY, PURPOSE

ROOT = Path(__file__).resolve().parents[2]
THEODOI = [sys.executable, "-m", "cli"]
PASSWORD = "mat-khau-thu-nghiem"
CHEAP = {"THEODOI_WEB__PASSWORD_TIME_COST": "1", "THEODOI_WEB__PASSWORD_MEMORY_KIB": "1024"}


# -- the CLI -----------------------------------------------------------------------------


def run(db: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "THEODOI_STORAGE__URL": f"sqlite:///{db}"}
    env.pop("THEODOI_NOW", None)
    proc = subprocess.run(
        [*THEODOI, *args], capture_output=True, text=True, env=env, timeout=120, cwd=ROOT
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def trip_add(**options: str) -> list[str]:
    values = {
        "decision": "36/QĐ-SNgV", "decision-date": "20/08/2021", "issuer": "department",
        "name": "Nguyễn Văn A", "unit": "SYT", "category": "unit",
        "destination": "Lào,Nhật Bản", "depart": "30/08/2021", "return": "2021-09-06",
        **options,
    }  # fmt: skip
    return ["trip", "add", *[part for k, v in values.items() for part in (f"--{k}", v)]]


def test_cli_trip_add_reads_names_and_labels_and_refuses_as_the_import(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    run(db, "init")
    run(db, "unit", "add", "SYT", "--name", "Sở Y tế", "--email", "syt@example.vn")
    # Vietnamese country names, vocabulary labels and aliases, dd/mm/yyyy and ISO dates
    created = run(db, "--now", "2021-08-20 09:00", *trip_add(
        issuer="Sở Ngoại vụ", category="đơn vị", purpose="công vụ"))  # fmt: skip
    case_id = created.stdout.strip()
    shown = json.loads(run(db, "show", case_id, "--format", "json").stdout)
    assert (shown["country_codes"], shown["category"], shown["purpose"]) == (
        "LA,JP", "unit", "official")  # fmt: skip
    assert (shown["planned_start"], shown["planned_end"]) == ("2021-08-30", "2021-09-06")
    assert "destinations: Lào, Nhật Bản" in run(db, "show", case_id).stdout  # keep name
    listed = json.loads(run(db, "cases", "--format", "json").stdout)
    assert listed[0]["decision_date"] == "2021-08-20"
    # refused, naming the field, nothing written: the issuer list has no "other"
    for options, field, words in (
        ({"issuer": "other"}, "issuer", "unknown issuer 'other'"),
        ({"destination": "Lào, Narnia"}, "destination", "không rõ quốc gia 'Narnia'"),
        ({"return": "31/02/2021"}, "return", "không có ngày 31/02/2021"),
    ):
        refused = run(db, *trip_add(name="Trần Thị B", **options), ok=False)
        assert refused.returncode == 2
        assert refused.stderr.startswith(f"error: {field}: ") and words in refused.stderr
    assert len(json.loads(run(db, "cases", "--format", "json").stdout)) == 1


def test_cli_help_lists_the_vocabularies() -> None:
    proc = subprocess.run(
        [*THEODOI, "trip", "add", "--help"], capture_output=True, text=True, cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"}, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for vocabulary in (ISSUER, CATEGORY, PURPOSE):
        for value in vocabulary.values:
            assert value in proc.stdout
    assert "other" not in proc.stdout
    assert "Nhật Bản" in proc.stdout


# -- the web form and the import ---------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("vocab")
    config = make_config(
        f"sqlite:///{folder / 'theodoi.db'}", **CHEAP,
        THEODOI_NOTIFICATIONS__CATCHER_DIR=str(folder / "mail"),
    )  # fmt: skip
    clock = ManualClock(datetime(2021, 8, 1, 1, 0))
    app = open_app(config, clock, upgrade=True, worker_id="web-test")
    configure_passwords(config.web)
    add_unit(app, "SYT", name="Sở Y tế")
    with app.db.session() as s:
        users.add_user(s, "coord@snv.vn", "coordinator", now=clock.now(), password=PASSWORD)
    with LiveServer(app) as server:
        yield {"app": app, "server": server, "folder": folder}
    app.close()


# (country_codes, departure, accepted) — each typed on the web form and in an import row
INPUTS = [
    ("Lào, Nhật Bản", "10/08/2021", True),
    ("nhat ban; KH", "2021-08-10", True),
    ("Japan", "1/8/2021", True),
    ("KH LA", "10/08/2021", True),
    ("Lào, Narnia", "10/08/2021", False),
    ("XX", "10/08/2021", False),
    ("Lào", "31/02/2021", False),
    ("Lào", "hôm qua", False),
]


def _web_accepts(site: dict[str, Any], n: int, country_codes: str, departure: str) -> bool:
    app = site["app"]
    traveller = {
        "name": f"Người thứ {n}", "unit": "SYT", "destinations": country_codes,  # keep name
        "departure": departure, "return": "15/08/2021",
    }  # fmt: skip
    try:
        with app.db.session() as s:
            services.create_decision(
                app, s, number=f"{n}/QĐ-SNgV", decided_on=date(2021, 7, 20),
                issuer="department", travellers=[traveller], actor="test",
            )  # fmt: skip
    except InvalidInput:
        return False
    return True


def _import_accepts(folder: Path, n: int, country_codes: str, departure: str) -> bool:
    path = folder / f"row{n}.csv"
    path.write_text(
        "decision_number,decision_date,issuer,full_name,unit,category,destination,"
        "departure_date,return_date\n"
        f'{n}/QĐ,20/07/2021,department,An,SYT,unit,"{country_codes}",{departure},15/08/2021\n',
        encoding="utf-8",
    )
    rows, problems = parse_trips(
        read_table(path, TRIP_COLUMNS), UnitIndex([(1, "SYT", "Sở Y tế")]), date(2021, 8, 1)
    )
    return bool(rows) and not problems


def test_the_web_form_accepts_and_refuses_what_the_import_does(site: dict[str, Any]) -> None:
    for n, (country_codes, departure, accepted) in enumerate(INPUTS, start=1):
        web = _web_accepts(site, n, country_codes, departure)
        imported = _import_accepts(site["folder"], n, country_codes, departure)
        assert (web, imported) == (accepted, accepted), (country_codes, departure)


def test_the_decision_form_takes_names_and_offers_the_vocabulary(site: dict[str, Any]) -> None:
    client = site["server"].client()
    assert login(client, "coord@snv.vn", PASSWORD).status_code == 303
    page = client.get("/decisions/new").text
    assert 'value="province"' in page and 'value="department"' in page
    assert 'value="other"' not in page  # one issuer list: province or department
    assert ISSUER.label("province") in page and CATEGORY.label("standing_committee") in page
    form = {
        "csrf_token": csrf_of(page), "rows": "1", "number": "90/QĐ-SNgV",
        "decided_on": "20/07/2021", "issuer": "department", "t0_name": "Lê Văn Cường",
        "t0_unit": "SYT", "t0_category": "unit", "t0_purpose": "official",
        "t0_destinations": "Lào, Nhật Bản", "t0_departure": "10/08/2021",
        "t0_return": "15/08/2021",
    }  # fmt: skip
    for bad, shown in (
        ({"issuer": "other"}, "issuer: unknown issuer"),
        ({"t0_destinations": "Narnia"}, "không rõ quốc gia"),
        ({"t0_return": "31/02/2021"}, "traveller 1: return: không có ngày 31/02/2021"),
    ):
        refused = client.post("/decisions/new", data={**form, **bad})
        assert refused.status_code == 400 and shown in refused.text, bad
    answer = client.post("/decisions/new", data=form)
    assert answer.status_code == 303
    listed = client.get(answer.headers["location"])
    case_id = listed.text.split('href="/cases/')[1].split('"')[0]
    assert "Lào, Nhật Bản" in client.get(f"/cases/{case_id}").text


# -- labels come from the vocabularies ---------------------------------------------------


def test_labels_everywhere_are_the_vocabularies() -> None:
    for lang in ("vi", "en"):
        for name, vocabulary in (("issuer", ISSUER), ("category", CATEGORY), ("purpose", PURPOSE)):
            for value in vocabulary.values:
                assert i18n.label(name, value, lang) == vocabulary.label(value, lang)
    assert i18n.label("issuer", "other") == "other"  # not a value: shown as it is
    assert not [key for key in i18n.MESSAGES if key.split(".")[0] in i18n.VOCABULARIES]
    period = reports.Period(date(2021, 1, 1), date(2021, 12, 31))
    summary = reports.summarise([], period, date(2022, 1, 1))
    assert [(i["issuer"], i["label"]) for i in summary["by_issuer"]] == [
        (v, ISSUER.label(v)) for v in ISSUER.values
    ]
    assert [c["category"] for c in summary["by_category"]] == list(CATEGORY.values)


def test_the_case_list_workbook_labels_by_the_vocabularies(tmp_path: Path) -> None:
    row = {"category": "standing_committee", "purpose": "private", "state": "approved"}
    path = tmp_path / "cases.xlsx"
    export.cases_xlsx([row], path, title="Danh sách")
    sheet = load_workbook(path).active
    values = [cell.value for cell in sheet[4]]
    assert CATEGORY.label("standing_committee") in values and PURPOSE.label("private") in values
