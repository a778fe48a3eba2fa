"""Headers on every answer, revocable sessions, the signing key outside the database,
ids out of range, API tokens with an expiry and a scope (issue 14).

A real server (uvicorn in a thread) on a real SQLite file; cookies are copied by hand
the way an attacker would copy them.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from cli.wiring import open_app
from kernel.clock import ManualClock
from notifications import links, store
from storage import users as user_store
from tests.conftest import make_config
from web import users
from web.headers import CSP
from web.secret import web_secret
from web.security import SESSION_COOKIE, configure_passwords
from web.testing import LiveServer, csrf_of, login

PASSWORD = "mat-khau-thu-nghiem"
CHEAP = {"THEODOI_WEB__PASSWORD_TIME_COST": "1", "THEODOI_WEB__PASSWORD_MEMORY_KIB": "1024"}


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    config = make_config(f"sqlite:///{tmp_path / 'theodoi.db'}", **CHEAP)
    clock = ManualClock(datetime(2021, 8, 2, 1, 0))
    app = open_app(config, clock, upgrade=True, worker_id="web-test")
    configure_passwords(config.web)
    with app.db.session() as s:
        users.add_user(s, "admin@snv.vn", "admin", now=clock.now(), password=PASSWORD)
        users.add_user(s, "coord@snv.vn", "coordinator", now=clock.now(), password=PASSWORD)
    with LiveServer(app) as server:
        yield {"app": app, "clock": clock, "server": server, "tmp": tmp_path}
    app.close()


def signed_in(site: dict[str, Any], email: str = "coord@snv.vn") -> httpx.Client:
    client = site["server"].client()
    assert login(client, email, PASSWORD).status_code == 303
    return client


def with_cookie(site: dict[str, Any], cookie: str) -> httpx.Client:
    client = site["server"].client()
    client.cookies.set(SESSION_COOKIE, cookie)
    return client


def refused(answer: httpx.Response) -> bool:
    return answer.status_code == 302 and answer.headers["location"].startswith("/login")


# -- headers ------------------------------------------------------------------------------


def assert_security_headers(answer: httpx.Response, *, signed_in: bool = True) -> None:
    h = answer.headers
    assert h["content-security-policy"] == CSP
    assert "frame-ancestors 'none'" in CSP and "script-src 'self'" in CSP
    assert "unsafe-inline" not in CSP.split("script-src")[1].split(";")[0]
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "same-origin"
    assert h["x-frame-options"] == "DENY"
    if signed_in:
        assert h["cache-control"] == "no-store"


def test_login_pages_and_api_answers_carry_the_headers(site: dict[str, Any]) -> None:
    anon = site["server"].client()
    assert_security_headers(anon.get("/login"))
    assert "strict-transport-security" not in anon.get("/login").headers  # [web] hsts off
    assert_security_headers(anon.get("/api/v1/cases"))  # 401
    assert_security_headers(anon.get("/healthz"))
    client = signed_in(site)
    for url in ("/dashboard", "/cases", "/cases.xlsx", "/cases/12345", "/api/docs"):
        assert_security_headers(client.get(url))
    with site["app"].db.session() as s:
        token = users.issue_token(s, "coord@snv.vn", now=site["clock"].now())
    api = client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    assert_security_headers(api)
    static = anon.get("/static/style.css")
    assert static.status_code == 200 and static.headers["x-content-type-options"] == "nosniff"
    # TRACE (any method a path does not take) says which it does
    trace = client.request("TRACE", "/login")
    assert trace.status_code == 405 and "GET" in trace.headers["allow"]


def test_https_settings_add_secure_cookies_and_hsts(tmp_path: Path) -> None:
    config = make_config(
        f"sqlite:///{tmp_path / 'theodoi.db'}",
        **CHEAP,
        THEODOI_WEB__SECURE_COOKIES="true",
        THEODOI_WEB__HSTS="true",
    )
    app = open_app(config, ManualClock(datetime(2021, 8, 2, 1, 0)), upgrade=True)
    try:
        with LiveServer(app) as server, server.client() as client:
            page = client.get("/login")
            assert page.headers["strict-transport-security"].startswith("max-age=")
            assert "; Secure" in page.headers["set-cookie"]
            lang = client.get("/lang/en")
            assert "secure" in lang.headers["set-cookie"].lower()
    finally:
        app.close()


def test_api_docs_come_from_the_package_for_signed_in_users(site: dict[str, Any]) -> None:
    anon = site["server"].client()
    assert refused(anon.get("/api/docs"))
    assert refused(anon.get("/api/docs/assets/swagger-ui-bundle.js"))
    assert anon.get("/api/v1/openapi.json").status_code == 401
    client = signed_in(site)
    page = client.get("/api/docs").text
    assert "<script>" not in page and "cdn" not in page.lower() and "http" not in page
    bundle = client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and len(bundle.content) > 100_000
    assert client.get("/api/v1/openapi.json").json()["info"]["title"] == "theodoi API"


# -- sessions -----------------------------------------------------------------------------


def test_a_cookie_saved_before_logout_is_refused_after_it(site: dict[str, Any]) -> None:
    client = signed_in(site)
    other_device = signed_in(site)
    saved = client.cookies[SESSION_COOKIE]
    assert with_cookie(site, saved).get("/dashboard").status_code == 200
    token = csrf_of(client.get("/dashboard").text)
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert refused(with_cookie(site, saved).get("/dashboard"))
    assert refused(other_device.get("/dashboard"))  # every session of the user ends
    assert signed_in(site).get("/dashboard").status_code == 200  # a new login works


def test_a_password_change_ends_the_sessions(site: dict[str, Any]) -> None:
    saved = signed_in(site).cookies[SESSION_COOKIE]
    admin = signed_in(site, "admin@snv.vn")
    with site["app"].db.session() as s:
        users.set_password(s, "coord@snv.vn", "mat-khau-moi-hoan-toan")
    assert refused(with_cookie(site, saved).get("/dashboard"))
    assert admin.get("/dashboard").status_code == 200  # other users keep theirs


def test_role_change_and_deactivation_end_the_sessions(site: dict[str, Any]) -> None:
    app, clock = site["app"], site["clock"]
    saved = signed_in(site).cookies[SESSION_COOKIE]
    with app.db.session() as s:
        users.add_user(s, "coord@snv.vn", "leader", now=clock.now())
    assert refused(with_cookie(site, saved).get("/dashboard"))
    saved = signed_in(site).cookies[SESSION_COOKIE]
    admin = signed_in(site, "admin@snv.vn")
    with app.db.session(write=False) as s:
        uid = users.find_user(s, "coord@snv.vn").id
    form = {"csrf_token": csrf_of(admin.get("/admin/users").text), "active": "0"}
    assert admin.post(f"/admin/users/{uid}/active", data=form).status_code == 303
    form["active"] = "1"
    assert admin.post(f"/admin/users/{uid}/active", data=form).status_code == 303
    assert refused(with_cookie(site, saved).get("/dashboard"))


# -- the key and the database file ----------------------------------------------------------


def test_the_key_is_in_a_private_file_and_not_in_the_database(site: dict[str, Any]) -> None:
    app, tmp = site["app"], site["tmp"]
    key_file = tmp / "theodoi.db.key"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert key_file.read_text().strip() == web_secret(app)
    assert stat.S_IMODE(os.stat(tmp / "theodoi.db").st_mode) == 0o600
    assert store.stored_secret(app.db, links.SECRET_NAME) is None


def test_a_key_an_older_version_stored_moves_to_the_file(tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'old.db'}")
    app = open_app(config, ManualClock(datetime(2021, 8, 2, 1, 0)), upgrade=True)
    try:
        store.get_or_create_secret(app.db, links.SECRET_NAME, "the-old-key-" * 4, app.clock.now())
        assert links.secret_key(app.db, app.config) == "the-old-key-" * 4
        assert store.stored_secret(app.db, links.SECRET_NAME) is None
        assert (tmp_path / "old.db.key").read_text().strip() == "the-old-key-" * 4
        assert links.secret_key(app.db, app.config) == "the-old-key-" * 4
    finally:
        app.close()


def test_a_key_file_others_can_read_is_refused(tmp_path: Path) -> None:
    config = make_config(f"sqlite:///{tmp_path / 'x.db'}")
    app = open_app(config, ManualClock(datetime(2021, 8, 2, 1, 0)), upgrade=True)
    try:
        key = tmp_path / "x.db.key"
        links.secret_key(app.db, app.config)
        key.chmod(0o644)
        with pytest.raises(Exception, match="chmod 600"):
            links.secret_key(app.db, app.config)
    finally:
        app.close()


# -- ids and tokens ---------------------------------------------------------------------------


def test_ids_out_of_range_are_not_found(site: dict[str, Any]) -> None:
    client = signed_in(site)
    for url in (
        "/cases/99999999999999999999",
        "/cases/99999999999999999999/report",
        "/cases/-99999999999999999999",
    ):
        assert client.get(url).status_code == 404, url
    with site["app"].db.session() as s:
        token = users.issue_token(s, "coord@snv.vn", now=site["clock"].now())
    auth = {"Authorization": f"Bearer {token}"}
    for url in ("/api/v1/cases/99999999999999999999", "/api/v1/cases/99999999999999999999/events"):
        answer = client.get(url, headers=auth)
        assert answer.status_code == 404 and "not found" in answer.json()["detail"], url


def test_api_tokens_expire_and_have_a_scope(site: dict[str, Any]) -> None:
    app, clock = site["app"], site["clock"]
    with app.db.session() as s:
        token = users.issue_token(s, "coord@snv.vn", now=clock.now(), days=1)
        with pytest.raises(Exception, match="scope"):
            users.issue_token(s, "coord@snv.vn", now=clock.now(), scope="admin")
    with app.db.session(write=False) as s:
        user = users.find_user(s, "coord@snv.vn")
        assert user.api_token_scope == "read"
        assert user.api_token_expires_at == clock.now() + timedelta(days=1)
    api = site["server"].client()
    auth = {"Authorization": f"Bearer {token}"}
    assert api.get("/api/v1/cases", headers=auth).status_code == 200
    clock.advance(timedelta(days=1, seconds=1))
    assert api.get("/api/v1/cases", headers=auth).status_code == 401
    with app.db.session() as s:  # a token from before expiries existed is refused
        user = users.find_user(s, "coord@snv.vn")
        user.api_token_expires_at = None
        user_store.save_user(s, user)
    assert api.get("/api/v1/cases", headers=auth).status_code == 401


# -- a locked account is told to the coordinators ------------------------------------------


def test_a_locked_account_is_told_to_the_coordinators(tmp_path: Path) -> None:
    env = {**CHEAP, "THEODOI_WEB__TRUSTED_PROXIES": '["127.0.0.1"]'}
    config = make_config(f"sqlite:///{tmp_path / 'theodoi.db'}", **env)
    clock = ManualClock(datetime(2021, 8, 2, 1, 0))
    app = open_app(config, clock, upgrade=True, worker_id="web-test")
    configure_passwords(config.web)
    secret = "sai-mat-khau-bi-mat"
    with app.db.session() as s:
        users.add_user(s, "coord@snv.vn", "coordinator", now=clock.now(), password=PASSWORD)
    try:
        with LiveServer(app) as server:
            client = server.client()
            token = csrf_of(client.get("/login").text)
            statuses = []
            for i in range(24):  # from rotating addresses: only the account lock stops them
                answer = client.post(
                    "/login",
                    data={"email": "coord@snv.vn", "password": secret, "csrf_token": token},
                    headers={"X-Forwarded-For": f"10.0.{i}.1"},
                )
                statuses.append(answer.status_code)
        assert statuses[:20] == [401] * 20 and statuses[20:] == [429] * 4
        rows = [r for r in store.list_rows(app.db) if r["kind"] == "alert"]
        assert len(rows) == 1  # one lock, one alert (the refused tries after it add none)
        alert = rows[0]
        assert alert["to_addrs"] == list(config.recipients.coordinators)
        assert alert["context"]["alert"]["cause"] == "locked"
        assert alert["context"]["alert"]["account"] == "coord@snv.vn"
        assert alert["context"]["alert"]["address"] == "10.0.19.1"
        assert secret not in json.dumps(alert["context"])
    finally:
        app.close()
