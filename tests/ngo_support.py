"""Helpers shared by the NGO project and agreement tests (not a test module)."""

from __future__ import annotations

from datetime import date, datetime, time
from typing import Any

import storage.cases
import storage.events
import storage.outbox
from cli.simulation import simulate
from engine.app import App
from kernel.clock import from_local
from storage.models import Case, Unit
from workflows.agreement import agreement_fields
from workflows.ngo_project import project_fields


def local(app: App, day: date, at: time = time(0, 0)) -> datetime:
    """Local wall time in the organisation's zone as the naive UTC the engine uses."""
    return from_local(day, at, app.config.organisation.tz)


def run_until(app: App, day: date, at: time = time(0, 0)) -> list[str]:
    """Move the manual clock to ``day`` ``at`` (local), firing every timer on the way."""
    return list(simulate(app, local(app, day, at), send=False))


def add_unit(app: App, code: str = "SKHDT") -> Unit:
    with app.db.session() as session:
        unit = Unit(
            code=code,
            name="Sở Kế hoạch và Đầu tư",
            email=f"{code.lower()}@tayninh.gov.vn",
            head_email=f"gd.{code.lower()}@tayninh.gov.vn",
        )
        session.add(unit)
        session.flush()
        return unit


def add_project(
    app: App,
    unit: Unit,
    start: date = date(2020, 3, 1),
    end: date = date(2022, 2, 28),
    **data: Any,
) -> int:
    values = {
        "ngo_name": "World Vision International",
        "receiving_agency": "UBND huyện Tân Biên",
        "managing_agency": "UBND tỉnh Tây Ninh",
        "receiving_agency_email": "ubnd.tanbien@tayninh.gov.vn",
        "contact_email": "contact@wvi.org",
        **data,
    }
    fields = project_fields(
        name="Nước sạch cho trường học huyện Tân Biên",
        project_code="WV-2020-01",
        unit_id=unit.id,
        start=start,
        end=end,
        **values,
    )
    with app.db.session() as session:
        return app.engine.create_case(session, "ngo_project", fields, actor="test").id


def add_agreement(
    app: App, unit: Unit, start: date = date(2018, 12, 17), end: date = date(2021, 12, 17)
) -> int:
    fields = agreement_fields(
        title="Thỏa thuận hợp tác giữa tỉnh Tây Ninh và tỉnh Prey Veng",
        reference="TTQT-2018-PV",
        unit_id=unit.id,
        start=start,
        end=end,
        partner_country="KH",
        partner="Ủy ban hành chính tỉnh Prey Veng",
        signed_on=start.isoformat(),
    )
    with app.db.session() as session:
        return app.engine.create_case(session, "agreement", fields, actor="test").id


def children(app: App, parent_id: int) -> dict[str, Case]:
    """The parent's obligations by their schedule key."""
    with app.db.session(write=False) as session:
        found = storage.cases.find_cases(session, parent_id=parent_id)
    return {c.data["key"]: c for c in found}


def case(app: App, case_id: int) -> Case:
    with app.db.session(write=False) as session:
        found = storage.cases.get_case(session, case_id)
    assert found is not None
    return found


def fire(app: App, case_id: int, event: str, **kwargs: Any) -> Case:
    with app.db.session() as session:
        return app.engine.fire(session, case_id, event, actor="coordinator", **kwargs)


def history(app: App, case_id: int) -> list[Any]:
    with app.db.session(write=False) as session:
        return storage.events.case_events(session, case_id)


def outbox(app: App, case_id: int) -> list[Any]:
    with app.db.session(write=False) as session:
        return storage.outbox.outbox_for_case(session, case_id)
