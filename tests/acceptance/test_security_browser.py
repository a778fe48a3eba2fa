"""The Content-Security-Policy in a real headless Chromium: the pages, the compliance
charts, an e-mail preview and the API documentation run without one CSP violation
(issue 14). Skips, like tests/acceptance/test_browser_web.py, without /usr/bin/chromium."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from cli.wiring import open_app
from kernel.clock import ManualClock
from tests.conftest import add_trip, make_config
from web import users
from web.security import configure_passwords
from web.testing import LiveServer

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    message = "BROWSER TESTS SKIPPED: /usr/bin/chromium is missing (apt-get install chromium)"
    print(f"\n*** {message} ***", file=sys.stderr)
    pytest.skip(message, allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402

pytestmark = pytest.mark.browser
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PASSWORD = "mat-khau-thu-nghiem"


@pytest.fixture
def site(tmp_path: Path) -> Iterator[dict[str, Any]]:
    config = make_config(f"sqlite:///{tmp_path / 'theodoi.db'}",
                         THEODOI_WEB__PASSWORD_TIME_COST="1",
                         THEODOI_WEB__PASSWORD_MEMORY_KIB="1024")
    clock = ManualClock(datetime(2021, 10, 2, 1, 0))
    app = open_app(config, clock, upgrade=True, worker_id="browser")
    configure_passwords(config.web)
    add_trip(app)
    with app.db.session() as s:
        users.add_user(s, "coord@snv.vn", "coordinator", now=clock.now(), password=PASSWORD)
    with LiveServer(app) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield {"server": server, "browser": browser}
        finally:
            browser.close()
    app.close()


def test_pages_and_api_docs_run_without_csp_violations(site: dict[str, Any]) -> None:
    base = site["server"].base_url
    page = site["browser"].new_context().new_page()
    page.set_default_timeout(15_000)
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text)
            if "Content Security Policy" in m.text or "Content-Security-Policy" in m.text
            else None)
    page.goto(f"{base}/login")
    page.fill("#email", "coord@snv.vn")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/dashboard")
    for path in ("/dashboard", "/cases", "/cases/1", "/compliance?from=2021-01-01",
                 "/notices", "/decisions/new"):
        page.goto(base + path)
        page.wait_for_load_state("load")
    page.goto(f"{base}/api/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("theodoi API")
    expect(page.locator(".opblock-summary-path").first).to_be_visible()
    assert violations == []
