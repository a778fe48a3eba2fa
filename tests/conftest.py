"""Shared fixtures: a real SQLite file per test, a manual clock, and a small trip factory.

Feature-specific fixtures live in their own modules (tests/smtp_server.py,
tests/pg.py, …) and are imported by the tests that need them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

import storage.decisions
from cli.wiring import open_app
from engine.app import App
from kernel.clock import ManualClock
from kernel.settings import Config, load_config
from storage.models import Unit

REPO = Path(__file__).resolve().parent.parent


def make_config(db_url: str, **env: str) -> Config:
    return load_config(None, {"THEODOI_STORAGE__URL": db_url, **env})


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'theodoi.db'}"


@pytest.fixture
def config(db_url: str) -> Config:
    return make_config(db_url)


@pytest.fixture
def clock() -> ManualClock:
    # 1 August 2021, 08:00 in Tây Ninh.
    return ManualClock(datetime(2021, 8, 1, 1, 0))


@pytest.fixture
def app(config: Config, clock: ManualClock) -> Iterator[App]:
    application = open_app(config, clock, upgrade=True, worker_id="test")
    yield application
    application.close()


def add_unit(app: App, code: str = "SYT", **fields: Any) -> Unit:
    values = {
        "name": "Sở Y tế",
        "email": f"{code.lower()}@example.vn",
        "head_email": f"head.{code.lower()}@example.vn",
    }
    values.update(fields)
    with app.db.session() as session:
        unit = Unit(code=code, **values)
        session.add(unit)
        session.flush()
        return unit


def add_trip(app: App, unit: Unit | None = None, **fields: Any) -> int:
    """A trip case through the engine (decision 36/QĐ-SNgV unless told otherwise)."""
    unit = unit or add_unit(app)
    decision = fields.pop("decision", "36/QĐ-SNgV")
    decided_on = fields.pop("decided_on", date(2021, 8, 1))
    issuer = fields.pop("issuer", "department")
    values = {
        "unit_id": unit.id,
        "name": "Nguyễn Văn An",
        "name_key": "nguyen van an",
        "category": "unit",
        "country_codes": "KH",
        "purpose": "official",
        "planned_start": date(2021, 8, 30),
        "planned_end": date(2021, 9, 6),
    }
    values.update(fields)
    with app.db.session() as session:
        dec = storage.decisions.get_or_create_decision(session, decision, decided_on, issuer)
        case = app.engine.create_case(session, "trip", {"decision_id": dec.id, **values}, actor="test")
        return case.id
