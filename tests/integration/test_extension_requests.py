"""Extension requests: the unit asks from its reminder's signed link (or its page),
the coordinator grants or refuses on the case page, the unit is told either way; the
clock runs meanwhile."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import date, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import httpx
import pytest

import storage.cases
import storage.decisions
import storage.events
import storage.outbox
from cli.wiring import open_app
from engine.app import App
from kernel.clock import ManualClock
from kernel.errors import TransitionNotAllowed
from kernel.text import name_key
from notifications.message import MessageBuilder
from storage.models import Case
from tests.conftest import add_unit, make_config
from web import users
from web.routes.coordinator import run_due
from web.secret import web_secret
from web.security import configure_passwords
from web.testing import LiveServer, csrf_of, login

PASSWORD = "mat-khau-thu-nghiem"
CHEAP = {"THEODOI_WEB__PASSWORD_TIME_COST": "1", "THEODOI_WEB__PASSWORD_MEMORY_KIB": "1024"}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    mail = tmp_path / "mail"
    config = make_config(
        f"sqlite:///{tmp_path / 'theodoi.db'}",
        **CHEAP,
        THEODOI_NOTIFICATIONS__CATCHER_DIR=str(mail),
    )
    clock = ManualClock(datetime(2021, 8, 1, 1, 0))  # Sunday 01/08/2021, 08:00 local
    app = open_app(config, clock, upgrade=True, worker_id="web-test")
    configure_passwords(config.web)
    unit = add_unit(app, "SYT", name="Sở Y tế")
    with app.db.session() as s:
        users.add_user(s, "coord@snv.vn", "coordinator", now=clock.now(), password=PASSWORD)
    with LiveServer(app) as server:
        yield {"app": app, "clock": clock, "server": server, "unit": unit, "mail": mail}
    app.close()


def trip(app: App, unit: Any, name: str, decision: str) -> int:
    """Back on 20/07/2021: the report is due Wed 04/08/2021 (15 days)."""
    with app.db.session() as s:
        dec = storage.decisions.get_or_create_decision(s, decision, date(2021, 6, 20), "department")
        case = app.engine.create_case(
            s,
            "trip",
            {
                "decision_id": dec.id,
                "unit_id": unit.id,
                "name": name,
                "name_key": name_key(name),
                "category": "unit",
                "country_codes": "KH",
                "purpose": "official",
                "planned_start": date(2021, 7, 1),
                "planned_end": date(2021, 7, 20),
            },
            actor="test",
            at=datetime(2021, 6, 20, 1, 0),
        )
        return case.id


def row(app: App, case_id: int) -> Case:
    with app.db.session(write=False) as s:
        return s.get(Case, case_id)


def outbox(app: App, case_id: int, kind: str) -> list[Any]:
    with app.db.session(write=False) as s:
        return [m for m in storage.outbox.outbox_for_case(s, case_id) if m.kind == kind]


def reminder_link(app: App, case_id: int) -> str:
    """The signed link in the reminder the unit receives, as the sender builds it."""
    [reminder] = outbox(app, case_id, "reminder")[-1:]
    builder = MessageBuilder(app.config, app.engine.calendar, secret=web_secret(app))
    built = builder.build(reminder.model_dump(), app.clock.now())
    msg = BytesParser(policy=policy.default).parsebytes(built.as_bytes())
    assert "syt@example.vn" in str(msg["To"])
    body = msg.get_body(("plain",)).get_content()
    return re.search(r"https?://\S+(/r/[\w.\-]+)", body).group(1)


def coordinator(site: dict[str, Any]) -> httpx.Client:
    client = site["server"].client()
    assert login(client, "coord@snv.vn", PASSWORD).status_code == 303
    return client


def act(client: httpx.Client, app: App, case_id: int, event: str, **fields: str):
    page = client.get(f"/cases/{case_id}").text
    data = {"csrf_token": csrf_of(page), "version": str(row(app, case_id).version), **fields}
    return client.post(f"/cases/{case_id}/events/{event}", data=data)


def ask(site: dict[str, Any], case_id: int, name: str, until: str, reason: str) -> httpx.Response:
    link = reminder_link(site["app"], case_id)
    visitor = site["server"].client()
    page = visitor.get(link)
    assert page.status_code == 200 and 'id="extension-form"' in page.text
    form = {"csrf_token": csrf_of(page.text), "until": until, "reason": reason}
    return visitor.post(f"{link}/extension", data=form)


def test_acceptance_request_through_the_reminder_link_then_grant(site: dict[str, Any]) -> None:
    app, clock = site["app"], site["clock"]
    case_id = trip(app, site["unit"], "Nguyễn Văn An", "36/QĐ-SNgV")
    clock.set(datetime(2021, 8, 3, 1, 0))  # Tue 03/08 08:00: the reminder of the day before
    run_due(app)
    answer = ask(site, case_id, "Nguyễn Văn An", "2021-08-20", "Đoàn chưa tổng hợp xong số liệu")
    assert answer.status_code == 303
    case = row(app, case_id)
    # the clock runs on: same state, same deadline, the request waiting
    assert (case.state, case.deadline) == ("report_due", date(2021, 8, 4))
    assert case.data["extension_request"]["until"] == "2021-08-20"
    assert outbox(app, case_id, "extension_requested")  # the coordinators are told
    client = coordinator(site)
    board = client.get("/dashboard").text
    listed = board[board.index('id="extension-requests"') :]
    assert "Nguyễn Văn An" in listed[: listed.index("</section>")]
    assert act(client, app, case_id, "grant_extension", reason="Đồng ý").status_code == 303
    case = row(app, case_id)
    assert (case.state, case.deadline) == ("report_due", date(2021, 8, 20))
    assert "extension_request" not in case.data
    assert case.data["extension_requests"][-1]["outcome"] == "granted"
    [told] = outbox(app, case_id, "extension_granted")
    assert "syt@example.vn" in told.to_addrs
    with app.db.session(write=False) as s:
        events = {e.event: e for e in storage.events.case_events(s, case_id)}
    assert events["request_extension"].reason == "Đoàn chưa tổng hợp xong số liệu"
    assert events["request_extension"].actor.startswith("link:")
    assert events["grant_extension"].reason == "Đồng ý"
    board = client.get("/dashboard").text
    listed = board[board.index('id="extension-requests"') :]
    assert "Nguyễn Văn An" not in listed[: listed.index("</section>")]


def test_a_refused_request_leaves_the_deadline(site: dict[str, Any]) -> None:
    app, clock = site["app"], site["clock"]
    case_id = trip(app, site["unit"], "Trần Văn Bình", "37/QĐ-SNgV")
    clock.set(datetime(2021, 8, 3, 1, 0))
    run_due(app)
    assert ask(site, case_id, "Trần Văn Bình", "2021-08-31", "Bận").status_code == 303
    client = coordinator(site)
    refused = act(client, app, case_id, "refuse_extension", reason="Lý do chưa thuyết phục")
    assert refused.status_code == 303
    case = row(app, case_id)
    assert (case.state, case.deadline) == ("report_due", date(2021, 8, 4))
    [told] = outbox(app, case_id, "extension_refused")
    assert "syt@example.vn" in told.to_addrs
    # and the clock ran on: the next day it is overdue
    clock.set(datetime(2021, 8, 4, 17, 0))
    app.engine.sweep()
    assert row(app, case_id).state == "overdue"


def test_requests_are_checked(site: dict[str, Any]) -> None:
    app, clock = site["app"], site["clock"]
    case_id = trip(app, site["unit"], "Lê Văn Cường", "38/QĐ-SNgV")
    clock.set(datetime(2021, 8, 3, 1, 0))
    run_due(app)
    # a proposed date not after the deadline: refused with the reason, nothing written
    answer = ask(site, case_id, "Lê Văn Cường", "2021-08-02", "Bận")
    assert answer.status_code == 400 and "04/08/2021" in answer.text
    assert "extension_request" not in row(app, case_id).data
    # no request open: nothing to grant
    with app.db.session() as s, pytest.raises(TransitionNotAllowed, match="no extension request"):
        app.engine.fire(s, case_id, "grant_extension", actor="user:c", reason="x")
    assert ask(site, case_id, "Lê Văn Cường", "2021-08-10", "Bận").status_code == 303
    # one open request at a time
    with app.db.session() as s, pytest.raises(TransitionNotAllowed, match="already open"):
        app.engine.fire(
            s,
            case_id,
            "request_extension",
            actor="user:u",
            reason="y",
            params={"until": date(2021, 8, 12)},
        )


def test_the_decision_form_records_the_passport_type(site: dict[str, Any]) -> None:
    """(Several obligations per trip) the web decision form's passport field."""
    app = site["app"]
    client = coordinator(site)
    page = client.get("/decisions/new").text
    assert 'name="t0_passport"' in page
    form = {
        "csrf_token": csrf_of(page),
        "rows": "1",
        "number": "53/QĐ-SNgV",
        "decided_on": "2021-08-01",
        "issuer": "department",
        "t0_name": "Phạm Thị Dung",
        "t0_unit": "SYT",
        "t0_category": "unit",
        "t0_purpose": "official",
        "t0_destinations": "KR",
        "t0_departure": "2021-08-10",
        "t0_return": "2021-08-15",
        "t0_passport": "diplomatic",
    }
    assert client.post("/decisions/new", data={**form, "t0_passport": "blue"}).status_code == 400
    assert client.post("/decisions/new", data=form).status_code == 303
    with app.db.session(write=False) as s:
        [case] = storage.cases.find_cases(s, workflow="trip")
    assert case.data["passport"] == "diplomatic"
