"""Every route × every role gets exactly the allowed answer, over real HTTP.

One server for the module (real SQLite file, real uvicorn); the clock does not move
here. A unit user must not see or act on another unit's case whatever id it types,
on the pages or through the API; a form without its CSRF token is refused; a name
with <script> is shown as text.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select

import storage.decisions
from cli.wiring import open_app
from engine.app import App
from kernel.clock import ManualClock
from kernel.text import name_key
from storage.models import Attachment, Case, Event, OutboxMessage
from tests.conftest import add_unit, make_config
from web import services, users
from web.security import configure_passwords
from web.testing import LiveServer, csrf_of, login

PASSWORD = "mat-khau-thu-nghiem"
# Hashing cost is configuration; tests hash cheaply (verifying reads the cost from the hash).
CHEAP_PASSWORDS = {"THEODOI_WEB__PASSWORD_TIME_COST": "1", "THEODOI_WEB__PASSWORD_MEMORY_KIB": "1024"}
ROLES = ("anon", "admin", "coordinator", "unit", "leader")
XSS = "<script>alert('xss')</script> Trần Thị Bình"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"


def _trip(app: App, unit: Any, name: str, decision: str) -> int:
    """A trip decided on 20/06/2021, back on 20/07/2021: on 01/08/2021 its report is
    due (deadline 04/08/2021)."""
    with app.db.session() as s:
        dec = storage.decisions.get_or_create_decision(s, decision, date(2021, 6, 20), "department")
        case = app.engine.create_case(
            s, "trip",
            {"decision_id": dec.id, "unit_id": unit.id, "name": name, "name_key": name_key(name),
             "category": "unit", "country_codes": "KH", "purpose": "official",
             "planned_start": date(2021, 7, 1), "planned_end": date(2021, 7, 20)},
            actor="test", at=datetime(2021, 6, 20, 1, 0),
        )
        return case.id


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder: Path = tmp_path_factory.mktemp("web")
    config = make_config(f"sqlite:///{folder / 'theodoi.db'}",
                         **CHEAP_PASSWORDS, THEODOI_NOTIFICATIONS__CATCHER_DIR=str(folder / 'mail'))
    clock = ManualClock(datetime(2021, 8, 1, 1, 0))
    app = open_app(config, clock, upgrade=True, worker_id="web-test")
    configure_passwords(config.web)
    unit_a = add_unit(app, "SYT", name="Sở Y tế")
    unit_b = add_unit(app, "SGD", name="Sở Giáo dục và Đào tạo")
    case_a = _trip(app, unit_a, "Nguyễn Văn An", "36/QĐ-SNgV")
    case_b = _trip(app, unit_b, XSS, "37/QĐ-SNgV")
    case_b2 = _trip(app, unit_b, "Lê Văn Cường", "38/QĐ-SNgV")
    with app.db.session() as s:
        case = s.get(Case, case_b2)
        services.file_report(app, s, case_b2, actor="test", version=case.version,
                             upload=services.Upload("bao-cao.pdf", "application/pdf", PDF))
        file_id = s.exec(select(Attachment.id).where(Attachment.case_id == case_b2)).one()
        notice_id = s.exec(select(OutboxMessage.id).order_by(OutboxMessage.id)).first()
        now = clock.now()
        for email, role, unit in (
            ("admin@snv.vn", "admin", None),
            ("coord@snv.vn", "coordinator", None),
            ("syt@snv.vn", "unit", "SYT"),
            ("leader@snv.vn", "leader", None),
            ("sgd@snv.vn", "unit", "SGD"),
        ):
            users.add_user(s, email, role, now=now, unit_code=unit, password=PASSWORD)
    with LiveServer(app) as server:
        clients: dict[str, httpx.Client] = {}
        for role, email in (
            ("anon", None),
            ("admin", "admin@snv.vn"),
            ("coordinator", "coord@snv.vn"),
            ("unit", "syt@snv.vn"),
            ("leader", "leader@snv.vn"),
        ):
            client = server.client()
            if email:
                assert login(client, email, PASSWORD).status_code == 303
            clients[role] = client
        yield {
            "app": app, "server": server, "clients": clients, "a": case_a, "b": case_b,
            "b2": case_b2, "file": file_id, "notice": notice_id,
        }
        for client in clients.values():
            client.close()
    app.close()


def csrf(client: httpx.Client) -> str:
    for path in ("/unit", "/dashboard", "/login"):
        page = client.get(path)
        if page.status_code == 200 and "csrf_token" in page.text:
            return csrf_of(page.text)
    raise AssertionError("no page with a form")


#               anon admin coord unit leader
READ_ALL = (302, 200, 200, 403, 200)
STAFF_ONLY = (302, 200, 200, 403, 403)
ADMIN_ONLY = (302, 200, 403, 403, 403)
EVERYONE = (200, 200, 200, 200, 200)

GET_MATRIX = [
    ("/dashboard", READ_ALL),
    ("/cases", READ_ALL),
    ("/cases?q=an&sort=deadline", READ_ALL),
    ("/cases/{a}", (302, 200, 200, 200, 200)),
    ("/cases/{b}", (302, 200, 200, 404, 200)),
    ("/cases/999999", (302, 404, 404, 404, 404)),
    ("/cases/{a}/report", (302, 200, 200, 200, 403)),
    ("/cases/{b}/report", (302, 200, 200, 404, 403)),
    ("/cases/{b2}/files/{file}", (302, 200, 200, 404, 200)),
    ("/cases.csv", READ_ALL),
    ("/cases.xlsx", READ_ALL),
    ("/decisions/new", STAFF_ONLY),
    ("/import", STAFF_ONLY),
    ("/notices", READ_ALL),
    ("/notices/tomorrow", READ_ALL),
    ("/notices/{notice}", READ_ALL),
    ("/compliance", READ_ALL),
    ("/compliance.xlsx", READ_ALL),
    ("/escalations", READ_ALL),
    ("/mail", READ_ALL),
    ("/unit", (302, 403, 403, 200, 403)),
    ("/admin/users", ADMIN_ONLY),
    ("/admin/units", ADMIN_ONLY),
    ("/admin/calendar", ADMIN_ONLY),
    ("/admin/doctor", ADMIN_ONLY),
    ("/login", EVERYONE),
    ("/healthz", EVERYONE),
    ("/readyz", EVERYONE),
    ("/api/v1/openapi.json", (401, 200, 200, 200, 200)),  # signed in, or a token
    ("/api/docs", (302, 200, 200, 200, 200)),
    ("/api/docs/assets/swagger-ui-bundle.js", (302, 200, 200, 200, 200)),
    ("/api/docs/assets/..%2F..%2Fpyproject.toml", (404, 404, 404, 404, 404)),
    ("/api/docs/assets/index.html", (302, 404, 404, 404, 404)),  # only the three assets
    ("/cases/99999999999999999999", (404, 404, 404, 404, 404)),  # names nothing, for anyone
    ("/", (302, 302, 302, 302, 302)),
]


@pytest.mark.parametrize(("path", "expected"), GET_MATRIX, ids=[p for p, _ in GET_MATRIX])
def test_get_matrix(site: dict[str, Any], path: str, expected: tuple[int, ...]) -> None:
    url = path.format(**site)
    got = tuple(site["clients"][role].get(url).status_code for role in ROLES)
    assert got == expected, f"{url}: {dict(zip(ROLES, got, strict=True))}"


def test_login_redirect_keeps_the_page(site: dict[str, Any]) -> None:
    answer = site["clients"]["anon"].get("/cases?state=overdue")
    assert answer.status_code == 302
    assert answer.headers["location"] == "/login?next=%2Fcases%3Fstate%3Doverdue"


POST_MATRIX = [
    # path, form, expected (anon admin coord unit leader)
    ("/cases/{a}/note", {"note": "Đã gọi điện nhắc đơn vị."}, (302, 303, 303, 403, 403)),
    ("/cases/{b}/note", {"note": "ghi chú"}, (302, 303, 303, 403, 403)),
    ("/decisions/new", {"more": "1", "rows": "2"}, (302, 200, 200, 403, 403)),
    ("/notices/{notice}/hold", {}, (302, 303, 303, 403, 403)),
    ("/dev/tick", {"days": "0"}, (302, 303, 303, 403, 403)),
    ("/admin/units", {"code": "STP", "name": "Sở Tư pháp"}, (302, 303, 403, 403, 403)),
    ("/admin/calendar", {"day": "bad"}, (302, 400, 403, 403, 403)),
    ("/cases/{b}/report", {}, (302, 400, 400, 404, 403)),
]


@pytest.mark.parametrize(("path", "form", "expected"), POST_MATRIX,
                         ids=[p for p, _, _ in POST_MATRIX])
def test_post_matrix(site: dict[str, Any], path: str, form: dict[str, str],
                     expected: tuple[int, ...]) -> None:
    url = path.format(**site)
    got = []
    for role in ROLES:
        client = site["clients"][role]
        got.append(client.post(url, data={**form, "csrf_token": csrf(client)}).status_code)
    assert tuple(got) == expected, f"{url}: {dict(zip(ROLES, got, strict=True))}"


def test_unit_user_cannot_act_on_another_units_case(site: dict[str, Any]) -> None:
    client = site["clients"]["unit"]
    form = {"csrf_token": csrf(client), "version": "1", "programme": "x" * 50}
    answer = client.post(f"/cases/{site['b']}/report", data=form,
                         files={"file": ("r.pdf", PDF, "application/pdf")})
    assert answer.status_code == 404
    with site["app"].db.session(write=False) as s:
        assert s.get(Case, site["b"]).state == "report_due"
    answer = client.post(f"/cases/{site['b']}/events/extend",
                         data={"csrf_token": csrf(client), "version": "1"})
    assert answer.status_code == 403


def test_csrf_is_required_on_every_form(site: dict[str, Any]) -> None:
    client = site["clients"]["coordinator"]
    before = _notes(site)
    for data in ({"note": "no token"}, {"note": "wrong token", "csrf_token": "forged"}):
        answer = client.post(f"/cases/{site['a']}/note", data=data)
        assert answer.status_code == 403
        assert "Biểu mẫu đã hết hạn" in answer.text
    assert _notes(site) == before
    # the token of another session does not work either
    other = csrf(site["clients"]["admin"])
    assert client.post(f"/cases/{site['a']}/note",
                       data={"note": "x", "csrf_token": other}).status_code == 403
    anon = site["server"].client()
    answer = anon.post("/login", data={"email": "coord@snv.vn", "password": PASSWORD})
    assert answer.status_code == 403
    anon.close()


def _notes(site: dict[str, Any]) -> int:
    with site["app"].db.session(write=False) as s:
        return len(s.exec(select(Event).where(Event.event == "note")).all())


def test_script_in_a_name_is_shown_as_text(site: dict[str, Any]) -> None:
    client = site["clients"]["coordinator"]
    for url in (f"/cases/{site['b']}", "/cases", "/dashboard", "/cases?q=script"):
        page = client.get(url)
        assert page.status_code == 200
        assert "<script>alert(" not in page.text, url
    page = client.get(f"/cases/{site['b']}")
    assert "&lt;script&gt;alert(&#39;xss&#39;)&lt;/script&gt; Trần Thị Bình" in page.text
    compliance = client.get("/compliance")
    assert "<script" not in compliance.text


def test_api_tokens_and_unit_isolation(site: dict[str, Any]) -> None:
    app = site["app"]
    with app.db.session() as s:
        unit_token = users.issue_token(s, "syt@snv.vn", now=app.clock.now())
        leader_token = users.issue_token(s, "leader@snv.vn", now=app.clock.now())
    api = site["server"].client()
    assert api.get("/api/v1/cases").status_code == 401
    bad = {"Authorization": "Bearer td_not-a-token"}
    assert api.get("/api/v1/cases", headers=bad).status_code == 401
    unit = {"Authorization": f"Bearer {unit_token}"}
    listed = api.get("/api/v1/cases", headers=unit).json()
    assert [c["id"] for c in listed["items"]] == [site["a"]]
    assert listed["total"] == 1
    # asking for the other unit by code or by id gives nothing
    assert api.get("/api/v1/cases?unit=SGD", headers=unit).json()["items"] == []
    for url in (f"/api/v1/cases/{site['b']}", f"/api/v1/cases/{site['b']}/events"):
        assert api.get(url, headers=unit).status_code == 404
    assert api.get(f"/api/v1/cases/{site['a']}", headers=unit).json()["name"] == "Nguyễn Văn An"
    events = api.get(f"/api/v1/cases/{site['a']}/events", headers=unit).json()
    names = [e["event"] for e in events]
    assert names[0] == "create" and {"depart", "return", "open_report"} <= set(names)
    period = "from=2021-01-01&to=2021-12-31"
    assert api.get(f"/api/v1/reports/compliance?{period}", headers=unit).status_code == 403
    leader = {"Authorization": f"Bearer {leader_token}"}
    report = api.get(f"/api/v1/reports/compliance?{period}", headers=leader).json()
    assert report["cases"] == 3
    assert len(api.get("/api/v1/cases", headers=leader).json()["items"]) == 3
    detail = api.get(f"/api/v1/cases/{site['b']}", headers=leader).json()
    assert detail["name"] == XSS and detail["unit_code"] == "SGD"
    # a new token replaces the old one
    with app.db.session() as s:
        users.issue_token(s, "syt@snv.vn", now=app.clock.now())
    assert api.get("/api/v1/cases", headers=unit).status_code == 401
    assert api.get("/api/v1/cases?sort=bogus", headers=leader).status_code == 422
    assert api.get("/api/v1/openapi.json").status_code == 401  # the schema is for users
    schema = api.get("/api/v1/openapi.json", headers=leader).json()
    assert "/api/v1/cases/{case_id}/events" in schema["paths"]
    api.close()


def test_english_switch(site: dict[str, Any]) -> None:
    client = site["server"].client()
    assert "Đăng nhập" in client.get("/login").text
    client.get("/lang/en?next=/login")
    page = client.get("/login")
    assert "Log in" in page.text and 'lang="en"' in page.text
    client.close()
