"""Length limits before the database, on SQLite and PostgreSQL alike (issue 14): a
10,000-character traveller name is refused with a message naming the field — a form
error on the web, exit 2 on the CLI, a refused import — and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from cli.wiring import open_app
from engine import creation, limits
from engine.app import App
from engine.creation import Traveller
from kernel.clock import ManualClock
from kernel.errors import InvalidInput
from storage.models import Case
from tests.conftest import add_unit, make_config
from tests.import_support import invoke
from tests.pg import pg_schema, require_pg
from web import users
from web.security import configure_passwords
from web.testing import LiveServer, csrf_of, login

PASSWORD = "mat-khau-thu-nghiem"
CHEAP = {"THEODOI_WEB__PASSWORD_TIME_COST": "1", "THEODOI_WEB__PASSWORD_MEMORY_KIB": "1024"}
LONG = ("Nguyễn " * 1429)[:9998] + "An"  # 10,000 characters
assert len(LONG) == 10_000


@pytest.fixture(params=["sqlite", "postgresql"])
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[App]:
    clock = ManualClock(datetime(2021, 8, 2, 1, 0))
    if request.param == "sqlite":
        application = open_app(make_config(f"sqlite:///{tmp_path / 'l.db'}", **CHEAP), clock,
                               upgrade=True)
        yield application
        application.close()
        return
    with pg_schema(require_pg()) as (_schema, url):
        application = open_app(make_config(url, **CHEAP), clock, upgrade=True)
        yield application
        application.close()


def traveller(unit_id: int, **fields: Any) -> Traveller:
    values = {"name": "Trần Văn Bình", "unit_id": unit_id, "category": "unit",
              "country_codes": "KH", "purpose": "official", "departure": date(2021, 7, 1),
              "return_": date(2021, 7, 5)}
    values.update(fields)
    return Traveller(**values)


def cases(app: App) -> list[Case]:
    with app.db.session(write=False) as s:
        return list(s.exec(select(Case)).all())


def test_the_engine_refuses_too_long_text_on_both_backends(app: App) -> None:
    unit = add_unit(app)
    for fields, named in (({"name": LONG}, "Họ và tên"), ({"position": "x" * 256}, "Chức vụ"),
                          ({"email": "a" * 300 + "@x.vn"}, "E-mail")):
        with pytest.raises(InvalidInput, match=named), app.db.session() as s:
            creation.open_trips(app.engine, s, number="36/QĐ", decided_on=date(2021, 6, 1),
                                issuer="department", travellers=[traveller(unit.id, **fields)],
                                actor="test")
    with pytest.raises(InvalidInput, match="Số quyết định"), app.db.session() as s:
        creation.open_trips(app.engine, s, number="9" * 65, decided_on=date(2021, 6, 1),
                            issuer="department", travellers=[traveller(unit.id)], actor="test")
    with pytest.raises(InvalidInput, match="name"), app.db.session() as s:  # any other path
        app.engine.create_case(s, "trip", {"unit_id": unit.id, "name": LONG}, actor="test")
    assert cases(app) == []
    with app.db.session() as s:  # the limit itself is accepted
        creation.open_trips(app.engine, s, number="36/QĐ", decided_on=date(2021, 6, 1),
                            issuer="department", travellers=[traveller(unit.id, name="A" * 255)],
                            actor="test")
    assert len(cases(app)) == 1
    assert limits.max_lengths(Case)["name"] == 255


def test_the_web_form_names_the_field(tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'w.db'}", **CHEAP)
    clock = ManualClock(datetime(2021, 8, 2, 1, 0))
    app = open_app(config, clock, upgrade=True)
    configure_passwords(config.web)
    add_unit(app)
    with app.db.session() as s:
        users.add_user(s, "coord@snv.vn", "coordinator", now=clock.now(), password=PASSWORD)
    try:
        with LiveServer(app) as server, server.client() as client:
            assert login(client, "coord@snv.vn", PASSWORD).status_code == 303
            form = {"csrf_token": csrf_of(client.get("/decisions/new").text), "rows": "1",
                    "number": "52/QĐ-SNgV", "decided_on": "2021-08-01", "issuer": "department",
                    "t0_name": LONG, "t0_unit": "SYT", "t0_category": "unit",
                    "t0_purpose": "official", "t0_destinations": "KH",
                    "t0_departure": "2021-08-10", "t0_return": "2021-08-15"}
            answer = client.post("/decisions/new", data=form)
            assert answer.status_code == 400
            assert "«Họ và tên / tên hồ sơ» dài 10000 ký tự, tối đa 255 ký tự" in answer.text
    finally:
        app.close()
    assert cases(app) == []


def test_the_cli_exits_2_naming_the_field(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    invoke(db, "init")
    invoke(db, "unit", "add", "SYT", "--name", "Sở Y tế")
    result = invoke(db, "trip", "add", "--decision", "36/QĐ", "--decision-date", "2021-06-01",
                    "--issuer", "department", "--name", LONG, "--unit", "SYT",
                    "--category", "unit", "--destination", "KH", "--depart", "2021-07-01",
                    "--return", "2021-07-05", code=2)
    assert "name" in result.output and "tối đa 255" in result.output
    result = invoke(db, "unit", "add", "X" * 65, "--name", "Sở", code=2)
    assert "Mã đơn vị" in result.output
