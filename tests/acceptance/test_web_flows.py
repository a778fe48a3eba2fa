"""Web flows where time moves or cases change: login limits, session expiry, signed
links, report submission, optimistic lock, decisions, the calendar, the user CLI.

Each test gets its own database and live server (the ManualClock is shared with it).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select
from typer.testing import CliRunner

import storage.decisions
import storage.units
from cli.wiring import open_app
from engine.app import App
from kernel.clock import ManualClock
from kernel.text import name_key
from notifications import links
from storage.models import Attachment, Case, Event, User
from tests.conftest import add_unit, make_config
from web import users
from web.secret import web_secret
from web.security import configure_passwords, verify_password
from web.testing import LiveServer, csrf_of, login

PASSWORD = "mat-khau-thu-nghiem"
# Hashing cost is configuration; tests hash cheaply (verifying reads the cost from the hash).
CHEAP_PASSWORDS = {"THEODOI_WEB__PASSWORD_TIME_COST": "1", "THEODOI_WEB__PASSWORD_MEMORY_KIB": "1024"}
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
SECTIONS = {
    "programme": "Làm việc với Sở Y tế tỉnh Siem Reap về hợp tác phòng chống dịch bệnh.",
    "results": "Hai bên thống nhất kế hoạch trao đổi chuyên gia y tế trong năm 2022.",
    "commitments": "Cam kết cử 05 bác sĩ tham gia tập huấn tại Siem Reap vào quý II/2022.",
    "recommendations": "Đề nghị UBND tỉnh bố trí kinh phí cho đoàn chuyên gia sang tập huấn.",
    "cost": "Kinh phí 45.000.000 đồng từ ngân sách sự nghiệp y tế năm 2021 của đơn vị.",
}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    config = make_config(f"sqlite:///{tmp_path / 'theodoi.db'}",
                         **CHEAP_PASSWORDS, THEODOI_NOTIFICATIONS__CATCHER_DIR=str(tmp_path / "mail"))
    clock = ManualClock(datetime(2021, 8, 1, 1, 0))  # Sunday 01/08/2021, 08:00 local
    app = open_app(config, clock, upgrade=True, worker_id="web-test")
    configure_passwords(config.web)
    unit = add_unit(app, "SYT", name="Sở Y tế")
    other = add_unit(app, "SGD", name="Sở Giáo dục và Đào tạo")
    with app.db.session() as s:
        for email, role, code in (("admin@snv.vn", "admin", None),
                                  ("coord@snv.vn", "coordinator", None),
                                  ("syt@snv.vn", "unit", "SYT")):
            users.add_user(s, email, role, now=clock.now(), unit_code=code, password=PASSWORD)
    with LiveServer(app) as server:
        yield {"app": app, "clock": clock, "server": server, "unit": unit, "other": other}
    app.close()


def trip(app: App, unit: Any, name: str = "Nguyễn Văn An", decision: str = "36/QĐ-SNgV",
         back: date = date(2021, 7, 20)) -> int:
    """A trip decided on 20/06/2021 and back on ``back`` (default: report due 04/08)."""
    with app.db.session() as s:
        dec = storage.decisions.get_or_create_decision(s, decision, date(2021, 6, 20), "department")
        case = app.engine.create_case(
            s, "trip",
            {"decision_id": dec.id, "unit_id": unit.id, "name": name, "name_key": name_key(name),
             "category": "unit", "country_codes": "KH", "purpose": "official",
             "planned_start": date(2021, 7, 1), "planned_end": back},
            actor="test", at=datetime(2021, 6, 20, 1, 0),
        )
        return case.id


def case_row(app: App, case_id: int) -> Case:
    with app.db.session(write=False) as s:
        return s.get(Case, case_id)


def client_for(site: dict[str, Any], email: str | None = None) -> httpx.Client:
    client = site["server"].client()
    if email:
        assert login(client, email, PASSWORD).status_code == 303
    return client


def page_csrf(client: httpx.Client, url: str) -> str:
    return csrf_of(client.get(url).text)


def test_login_rate_limit_follows_the_clock(site: dict[str, Any]) -> None:
    client = client_for(site)
    for _ in range(5):
        assert login(client, "coord@snv.vn", "wrong password").status_code == 401
    limited = login(client, "coord@snv.vn", PASSWORD)
    assert limited.status_code == 429
    assert "Đăng nhập sai quá nhiều lần" in limited.text
    # another e-mail from the same address is not blocked
    assert login(client_for(site), "admin@snv.vn", PASSWORD).status_code == 303
    site["clock"].advance(timedelta(minutes=16))
    assert login(client, "coord@snv.vn", PASSWORD).status_code == 303


def test_session_expires_and_logout_ends_it(site: dict[str, Any]) -> None:
    client = client_for(site, "coord@snv.vn")
    assert client.get("/dashboard").status_code == 200
    site["clock"].advance(timedelta(hours=11))
    assert client.get("/dashboard").status_code == 200
    site["clock"].advance(timedelta(hours=2))  # 13 h > [web] session_hours = 12
    answer = client.get("/dashboard")
    assert answer.status_code == 302 and answer.headers["location"].startswith("/login")
    assert "Phiên làm việc đã hết hạn" in client.get("/login").text
    client = client_for(site, "coord@snv.vn")
    client.post("/logout", data={"csrf_token": page_csrf(client, "/dashboard")})
    assert client.get("/dashboard").status_code == 302


def test_signed_link_opens_one_case_and_files_the_report(site: dict[str, Any]) -> None:
    app, clock = site["app"], site["clock"]
    case_id = trip(app, site["unit"])
    other_id = trip(app, site["unit"], name="Trần Văn Bình", decision="37/QĐ-SNgV")
    secret = web_secret(app)
    token = links.sign_case_link(secret, case_id, clock.now())
    visitor = client_for(site)
    page = visitor.get(f"/r/{token}")
    assert page.status_code == 200 and "Nguyễn Văn An" in page.text
    assert "Trần Văn Bình" not in page.text
    # the link logs nobody in
    assert visitor.get(f"/cases/{other_id}").status_code == 302
    assert visitor.get("/unit").status_code == 302
    # tampered: refused with a clear page
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    refused = visitor.get(f"/r/{tampered}")
    assert refused.status_code == 403 and "Liên kết nộp báo cáo này không hợp lệ" in refused.text
    forged = links.sign_case_link("another secret", case_id, clock.now())
    assert visitor.get(f"/r/{forged}").status_code == 403
    # file through the link
    form = {"csrf_token": csrf_of(page.text), "version": str(case_row(app, case_id).version),
            **SECTIONS}
    answer = visitor.post(f"/r/{token}", data=form,
                          files={"file": ("báo cáo.pdf", PDF, "application/pdf")})
    assert answer.status_code == 303
    case = case_row(app, case_id)
    assert case.state == "report_filed" and case.report_filed_on == date(2021, 8, 1)
    assert case_row(app, other_id).state == "report_due"
    with app.db.session(write=False) as s:
        stored = s.exec(select(Attachment).where(Attachment.case_id == case_id)).one()
        filed = s.exec(select(Event).where(Event.case_id == case_id, Event.event == "file")).one()
    assert stored.content == PDF and stored.event_id == filed.id
    assert filed.data["sections"]["commitments"] == SECTIONS["commitments"]
    assert filed.actor.startswith("link:")
    # the coordinator sees the sections side by side
    coordinator = client_for(site, "coord@snv.vn")
    case_page = coordinator.get(f"/cases/{case_id}")
    assert SECTIONS["recommendations"] in case_page.text
    assert 'id="action-accept"' in case_page.text and 'id="action-reject"' in case_page.text
    # expired: 30 days later the same link is refused
    clock.advance(timedelta(days=31))
    expired = visitor.get(f"/r/{token}")
    assert expired.status_code == 403 and "hết hạn" in expired.text


def test_report_form_checks_sections_and_file(site: dict[str, Any]) -> None:
    app = site["app"]
    case_id = trip(app, site["unit"])
    client = client_for(site, "syt@snv.vn")
    url = f"/cases/{case_id}/report"
    base = {"csrf_token": page_csrf(client, url), "version": str(case_row(app, case_id).version)}
    short = {**SECTIONS, "results": "Tốt."}
    answer = client.post(url, data={**base, **short},
                         files={"file": ("r.pdf", PDF, "application/pdf")})
    assert answer.status_code == 400 and "Kết quả đạt được" in answer.text
    assert "quá ngắn" in answer.text
    exe = b"MZ\x90\x00" + b"\x00" * 100
    answer = client.post(url, data={**base, **SECTIONS},
                         files={"file": ("report.pdf", exe, "application/pdf")})
    assert answer.status_code == 400 and "Tệp phải là PDF, DOCX, DOC hoặc ODT" in answer.text
    answer = client.post(url, data={**base, **SECTIONS})
    assert answer.status_code == 400 and "Chưa đính kèm tệp" in answer.text
    assert case_row(app, case_id).state == "report_due"
    docx = b"PK\x03\x04" + b"\x00" * 200
    answer = client.post(url, data={**base, **SECTIONS},
                         files={"file": ("bao-cao.docx", docx, "application/octet-stream")})
    assert answer.status_code == 303
    assert case_row(app, case_id).state == "report_filed"
    # the unit sees its case page, without the coordinator's buttons
    page = client.get(f"/cases/{case_id}")
    assert page.status_code == 200 and 'id="action-accept"' not in page.text


def test_stale_form_is_refused_with_a_clear_message(site: dict[str, Any]) -> None:
    app = site["app"]
    case_id = trip(app, site["unit"])
    client = client_for(site, "coord@snv.vn")
    page = client.get(f"/cases/{case_id}")
    token = csrf_of(page.text)
    version = re.search(r'name="version" value="(\d+)"', page.text).group(1)
    extend = {"csrf_token": token, "version": version, "until": "2021-08-20",
              "reason": "Đơn vị xin gia hạn vì cán bộ đi công tác."}
    assert client.post(f"/cases/{case_id}/events/extend", data=extend).status_code == 303
    assert case_row(app, case_id).deadline == date(2021, 8, 20)
    # the same (now stale) form again
    again = client.post(f"/cases/{case_id}/events/extend", data={**extend, "until": "2021-09-01"})
    assert again.status_code == 409
    assert "Hồ sơ vừa được người khác thay đổi" in again.text
    assert case_row(app, case_id).deadline == date(2021, 8, 20)
    timeline = client.get(f"/cases/{case_id}").text
    assert "Đơn vị xin gia hạn vì cán bộ đi công tác." in timeline


def test_coordinator_records_report_then_rejects_and_accepts(site: dict[str, Any]) -> None:
    app = site["app"]
    case_id = trip(app, site["unit"])
    client = client_for(site, "coord@snv.vn")

    def act(event: str, files: Any = None, **fields: str) -> httpx.Response:
        page = client.get(f"/cases/{case_id}").text
        version = re.search(r'name="version" value="(\d+)"', page).group(1)
        data = {"csrf_token": csrf_of(page), "version": version, **fields}
        return client.post(f"/cases/{case_id}/events/{event}", data=data, files=files)

    # a state that does not allow it
    assert act("accept").status_code == 400
    filed = act("file", files={"file": ("bc.pdf", PDF, "application/pdf")}, on="2021-08-01")
    assert filed.status_code == 303
    assert case_row(app, case_id).state == "report_filed"
    assert act("reject").status_code in (400, 409)  # a reason is required
    assert act("reject", reason="Báo cáo thiếu phần kinh phí.").status_code == 303
    case = case_row(app, case_id)
    assert case.state == "report_due" and case.deadline > date(2021, 8, 4)
    act("file", files={"file": ("bc2.pdf", PDF, "application/pdf")}, on="2021-08-01")
    assert act("accept").status_code == 303
    assert case_row(app, case_id).state == "closed"
    page = client.get(f"/cases/{case_id}").text
    for words in ("Trả lại báo cáo chưa đạt", "Báo cáo thiếu phần kinh phí.", "Chấp nhận báo cáo",
                  "bc2.pdf"):
        assert words in page
    assert client.get(f"/cases/{case_id}/files/999").status_code == 404


def test_new_decision_with_two_travellers(site: dict[str, Any]) -> None:
    app = site["app"]
    client = client_for(site, "coord@snv.vn")
    form = {"csrf_token": page_csrf(client, "/decisions/new"), "rows": "2",
            "number": "52/QĐ-SNgV", "decided_on": "2021-08-01", "issuer": "department"}
    people = (("Phạm Thị Dung", "SYT", "KR"), ("Võ Văn Em", "SGD", "JP, kr"))
    for i, (name, unit, dest) in enumerate(people):
        form.update({f"t{i}_name": name, f"t{i}_unit": unit, f"t{i}_category": "unit",
                     f"t{i}_purpose": "official", f"t{i}_destinations": dest,
                     f"t{i}_departure": "2021-08-10", f"t{i}_return": "2021-08-15"})
    bad = client.post("/decisions/new", data={**form, "t1_destinations": "XX"})
    assert bad.status_code == 400 and "XX" in bad.text
    answer = client.post("/decisions/new", data=form)
    assert answer.status_code == 303
    with app.db.session(write=False) as s:
        cases = s.exec(select(Case).order_by(Case.id)).all()
    assert [(c.name, c.country_codes, c.state) for c in cases] == [
        ("Phạm Thị Dung", "KR", "approved"), ("Võ Văn Em", "JP,KR", "approved")]
    listed = client.get(answer.headers["location"]).text
    assert "Phạm Thị Dung" in listed and "Võ Văn Em" in listed
    # the same traveller twice in one decision is refused
    assert client.post("/decisions/new", data=form).status_code == 400


def test_closure_moves_open_deadlines(site: dict[str, Any]) -> None:
    app = site["app"]
    case_id = trip(app, site["unit"])  # back 20/07 → deadline Wednesday 04/08/2021
    later = trip(app, site["unit"], name="Trần Văn Bình", decision="37/QĐ-SNgV",
                 back=date(2021, 7, 26))  # deadline Tuesday 10/08/2021
    assert case_row(app, case_id).deadline == date(2021, 8, 4)
    admin = client_for(site, "admin@snv.vn")
    form = {"csrf_token": page_csrf(admin, "/admin/calendar"), "day": "2021-08-04",
            "kind": "closure", "source": "Thông báo nghỉ do dịch COVID-19"}
    page = admin.post("/admin/calendar", data=form)
    assert page.status_code == 200
    assert case_row(app, case_id).deadline == date(2021, 8, 5)
    assert case_row(app, later).deadline == date(2021, 8, 10)
    assert "04/08/2021" in page.text and "05/08/2021" in page.text
    assert "Nguyễn Văn An" in page.text and "Trần Văn Bình" not in page.text
    with app.db.session(write=False) as s:
        update = s.exec(select(Event).where(Event.case_id == case_id,
                                            Event.event == "update")).one()
    assert update.data["changes"]["deadline"] == ["2021-08-04", "2021-08-05"]
    # removing the closure moves it back
    form["remove"] = "1"
    admin.post("/admin/calendar", data=form)
    assert case_row(app, case_id).deadline == date(2021, 8, 4)


def test_user_cli(site: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.commands import full_app

    cli = full_app()

    app = site["app"]
    monkeypatch.setenv("THEODOI_STORAGE__URL", app.config.storage.url)
    for key, value in CHEAP_PASSWORDS.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    added = runner.invoke(cli, ["user", "add", "Leader@SNV.vn", "--role", "leader",
                                "--password-stdin"], input="mot-mat-khau-dai\n")
    assert added.exit_code == 0, added.output
    no_unit = runner.invoke(cli, ["user", "add", "x@snv.vn", "--role", "unit"], input="\n")
    assert no_unit.exit_code == 2 and "unit" in no_unit.output
    short = runner.invoke(cli, ["user", "password", "leader@snv.vn"], input="ngan\n")
    assert short.exit_code == 2
    changed = runner.invoke(cli, ["user", "password", "leader@snv.vn"],
                            input="mat-khau-moi-dai-hon\n")
    assert changed.exit_code == 0, changed.output
    token = runner.invoke(cli, ["user", "token", "leader@snv.vn"])
    assert token.exit_code == 0 and token.output.startswith("td_")
    with app.db.session(write=False) as s:
        user = s.exec(select(User).where(User.email == "leader@snv.vn")).one()
    assert verify_password(user.password_hash, "mat-khau-moi-dai-hon")
    assert token.output.strip() not in (user.api_token_hash or "")
    api = site["server"].client()
    headers = {"Authorization": f"Bearer {token.output.strip()}"}
    assert api.get("/api/v1/cases", headers=headers).status_code == 200
    assert login(client_for(site), "leader@snv.vn", "mat-khau-moi-dai-hon").status_code == 303


def follow_import(client: httpx.Client, answer: httpx.Response) -> httpx.Response:
    """The import job's page, polled until the job no longer runs (the page stops
    reloading itself) or it redirects."""
    assert answer.status_code == 303 and answer.headers["location"].startswith("/import/")
    deadline = time.monotonic() + 60
    while True:
        page = client.get(answer.headers["location"])
        if page.status_code != 200 or 'http-equiv="refresh"' not in page.text:
            return page
        assert time.monotonic() < deadline, "the import job never ended"
        time.sleep(0.1)


def test_import_page_checks_then_confirms(site: dict[str, Any]) -> None:
    data = Path(__file__).resolve().parents[1] / "data"
    client = client_for(site, "coord@snv.vn")
    token = page_csrf(client, "/import")
    bad = client.post("/import", data={"csrf_token": token, "kind": "trips"},
                      files={"file": ("bad_trips.csv", (data / "bad_trips.csv").read_bytes(),
                                      "text/csv")})
    bad = follow_import(client, bad)
    assert bad.status_code == 200 and 'id="problems"' in bad.text
    units = (data / "units.csv").read_bytes()
    checked = client.post("/import", data={"csrf_token": token, "kind": "units"},
                          files={"file": ("units.csv", units, "text/csv")})
    job_page = checked.headers["location"]
    checked = follow_import(client, checked)
    assert checked.status_code == 200 and "Sở Công Thương" in checked.text
    with site["app"].db.session(write=False) as s:
        assert storage.units.unit_by_code(s, "SCT") is None  # checking writes nothing
    import_token = re.search(r'name="token" value="([^"]+)"', checked.text).group(1)
    # another session can neither see nor confirm this upload
    admin = client_for(site, "admin@snv.vn")
    assert admin.get(job_page).status_code == 404
    stolen = admin.post("/import", data={"csrf_token": page_csrf(admin, "/import"),
                                         "kind": "units", "token": import_token, "confirm": "1"})
    assert stolen.status_code == 400
    done = client.post("/import", data={"csrf_token": token, "kind": "units",
                                        "token": import_token, "confirm": "1"})
    done = follow_import(client, done)
    assert done.status_code == 303 and done.headers["location"] == "/cases"
    with site["app"].db.session(write=False) as s:
        assert storage.units.unit_by_code(s, "SCT").name == "Sở Công Thương"
    assert client.get(job_page).status_code == 404  # the upload is gone


def test_demo_accounts(site: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from cli.commands import full_app

    monkeypatch.setenv("THEODOI_STORAGE__URL", site["app"].config.storage.url)
    for key, value in CHEAP_PASSWORDS.items():
        monkeypatch.setenv(key, value)
    shown = CliRunner().invoke(full_app(), ["user", "demo"])
    assert shown.exit_code == 0, shown.output
    lines = {part[0]: part[2] for part in (line.split() for line in shown.output.splitlines())}
    assert set(lines) == {"admin", "coordinator", "unit", "leader"}
    client = client_for(site)
    assert login(client, "unit@demo.theodoi", lines["unit"]).headers["location"] == "/unit"
