"""The web UI in a real headless Chromium (Debian's ``chromium``, driven by Playwright).

One server for the module: a real SQLite file, uvicorn in a thread, a ManualClock the
coordinator moves from the page, and a real aiosmtpd server that catches the
reminder whose signed link the unit then follows. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

import storage.decisions
from cli.wiring import open_app
from kernel.clock import ManualClock
from kernel.text import name_key
from storage.models import Case
from tests.conftest import REPO, add_unit, make_config
from tests.smtp_server import SmtpServer
from web import users
from web.routes.coordinator import run_due
from web.security import configure_passwords
from web.testing import LiveServer, free_port

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    message = (
        "BROWSER TESTS SKIPPED: /usr/bin/chromium is missing; install Debian's package "
        "'chromium' (apt-get install chromium) to run them"
    )
    print(f"\n*** {message} ***", file=sys.stderr)
    pytest.skip(message, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

pytestmark = pytest.mark.browser

ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
ARTIFACTS = REPO / "test-artifacts"
PASSWORD = "mat-khau-thu-nghiem"
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
SECTIONS = {
    "programme": "Dự Hội nghị hợp tác y tế biên giới Việt Nam – Campuchia tại Siem Reap.",
    "results": "Ký biên bản ghi nhớ về phối hợp phòng chống dịch bệnh truyền nhiễm qua biên giới.",
    "commitments": "Cam kết trao đổi thông tin dịch tễ hằng tháng với Sở Y tế tỉnh Siem Reap.",
    "recommendations": "Đề nghị UBND tỉnh giao Sở Y tế chủ trì xây dựng kế hoạch thực hiện.",
    "cost": "Tổng kinh phí 38.500.000 đồng, nguồn ngân sách sự nghiệp y tế năm 2021.",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    folder = tmp_path_factory.mktemp("browser")
    smtp = SmtpServer().start()
    port = free_port()
    config = make_config(
        f"sqlite:///{folder / 'theodoi.db'}",
        THEODOI_ORGANISATION__BASE_URL=f"http://127.0.0.1:{port}",
        THEODOI_NOTIFICATIONS__CATCHER_DIR=str(folder / "mail"),
        THEODOI_WEB__PASSWORD_TIME_COST="1",
        THEODOI_WEB__PASSWORD_MEMORY_KIB="1024",
        **smtp.config_env(),
    )
    clock = ManualClock(datetime(2021, 8, 2, 1, 0))  # Monday 02/08/2021, 08:00 in Tây Ninh
    app = open_app(config, clock, upgrade=True, worker_id="browser")
    configure_passwords(config.web)
    unit = add_unit(app, "SYT", name="Sở Y tế", email="syt@tayninh.gov.vn")
    add_unit(app, "SGD", name="Sở Giáo dục và Đào tạo", email="sgd@tayninh.gov.vn")
    with app.db.session() as s:
        for email, role, code in (("coord@snv.vn", "coordinator", None),
                                  ("syt@snv.vn", "unit", "SYT"),
                                  ("leader@snv.vn", "leader", None)):
            users.add_user(s, email, role, now=clock.now(), unit_code=code, password=PASSWORD)
    ARTIFACTS.mkdir(exist_ok=True)
    with LiveServer(app, port) as server, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield {"app": app, "clock": clock, "server": server, "browser": browser,
                   "smtp": smtp, "unit": unit}
        finally:
            browser.close()
            smtp.stop()
            app.close()


def new_page(browser: Browser, phone: bool = False) -> Page:
    size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
    context = browser.new_context(viewport=size, locale="vi-VN")
    context.set_default_timeout(15_000)
    return context.new_page()


def log_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_coordinator_decision_overdue_report_timeline(site: dict[str, Any]) -> None:
    base, app = site["server"].base_url, site["app"]
    page = new_page(site["browser"])
    log_in(page, base, "coord@snv.vn")
    expect(page.locator("h1")).to_contain_text("Tổng quan")
    shot(page, "01-dashboard-empty")

    page.click("text=Quyết định mới")
    page.fill("#number", "45/QĐ-SNgV")
    page.fill("#decided_on", "2021-08-02")
    travellers = (
        ("Nguyễn Văn An", "Phó Giám đốc", "KH", "2021-08-03", "2021-08-05"),
        ("Trần Thị Bình", "Trưởng phòng", "TH, LA", "2021-08-03", "2021-09-30"),
    )
    for i, (name, position, dest, leave, back) in enumerate(travellers):
        page.fill(f"#t{i}_name", name)
        page.fill(f"#t{i}_position", position)
        page.select_option(f"#t{i}_unit", "SYT")
        page.fill(f"#t{i}_destinations", dest)
        page.fill(f"#t{i}_departure", leave)
        page.fill(f"#t{i}_return", back)
    shot(page, "02-new-decision")
    page.click("text=Lưu quyết định")
    expect(page.locator(".flash")).to_contain_text("Đã tạo 2 hồ sơ")
    expect(page.locator("table")).to_contain_text("Trần Thị Bình")

    # 20 days later: An is back since 05/08, his report was due 20/08; Bình still abroad
    page.goto(f"{base}/dashboard")
    page.fill(".clockbar input[name=days]", "20")
    page.click(".clockbar button")
    overdue = page.locator("#overdue")
    expect(overdue).to_contain_text("Nguyễn Văn An")
    expect(overdue).not_to_contain_text("Trần Thị Bình")
    expect(overdue.locator("h2")).to_contain_text("(1)")
    shot(page, "03-dashboard-overdue")

    overdue.locator("a", has_text="Nguyễn Văn An").first.click()
    expect(page.locator("h1")).to_contain_text("Quá hạn")
    form = page.locator("#action-file")
    form.locator("input[name=file]").set_input_files(
        {"name": "bao-cao-nguyen-van-an.pdf", "mimeType": "application/pdf", "buffer": PDF})
    form.locator("button[type=submit]").click()
    expect(page.locator(".flash")).to_contain_text("Ghi nhận đã nộp báo cáo")
    timeline = page.locator("#timeline")
    expect(timeline).to_contain_text("Quá hạn nộp báo cáo")
    expect(timeline).to_contain_text("Ghi nhận đã nộp báo cáo")
    expect(page.locator("body")).to_contain_text("bao-cao-nguyen-van-an.pdf")
    shot(page, "04-case-timeline")
    with app.db.session(write=False) as s:
        case = s.exec(select(Case).where(Case.name == "Nguyễn Văn An")).one()
    assert case.state == "report_filed" and case.filed_late is True
    page.context.close()


def test_unit_follows_the_reminder_link_and_files(site: dict[str, Any]) -> None:
    app, clock, smtp = site["app"], site["clock"], site["smtp"]
    today = clock.now().date()
    with app.db.session() as s:
        dec = storage.decisions.get_or_create_decision(s, "51/QĐ-SNgV", today - timedelta(days=20),
                                           "department")
        case = app.engine.create_case(
            s, "trip",
            {"decision_id": dec.id, "unit_id": site["unit"].id, "name": "Lê Hoàng Cường",
             "name_key": name_key("Lê Hoàng Cường"), "category": "unit",
             "country_codes": "KH", "purpose": "official",
             "planned_start": today - timedelta(days=10),
             "planned_end": today - timedelta(days=1),
             "email": "cuong@syt.tayninh.gov.vn"},
            actor="test", at=clock.now() - timedelta(days=20),
        )
    # move a day at a time until the first reminder has gone out over SMTP
    reminders: list[Any] = []
    for _ in range(20):
        clock.advance(timedelta(days=1))
        run_due(app)
        reminders = [m for m in smtp.received() if m.kind == "reminder"
                     and "Lê Hoàng Cường" in m.text()]
        if reminders:
            break
    assert reminders, "no reminder reached the SMTP server"
    link = re.search(r"https?://\S+/r/[\w.\-]+", reminders[0].text()).group(0)

    page = new_page(site["browser"], phone=True)
    page.goto(link)
    expect(page.locator("#case-name")).to_contain_text("Lê Hoàng Cường")
    for key, text in SECTIONS.items():
        page.fill(f"#s-{key}", text)
    page.locator("#file").set_input_files(
        {"name": "bao-cao-le-hoang-cuong.pdf", "mimeType": "application/pdf", "buffer": PDF})
    shot(page, "05-unit-report-form-phone")
    page.click("#report-form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Đã nộp báo cáo")
    shot(page, "06-unit-report-filed-phone")
    with app.db.session(write=False) as s:
        assert s.get(Case, case.id).state == "report_filed"
    # the same link, tampered, is refused
    page.goto(link[:-3] + "xyz")
    expect(page.locator("h1")).to_contain_text("Liên kết không hợp lệ")
    page.context.close()


def test_leader_sees_the_compliance_chart(site: dict[str, Any]) -> None:
    base = site["server"].base_url
    page = new_page(site["browser"])
    log_in(page, base, "leader@snv.vn")
    page.goto(f"{base}/compliance?from=2021-01-01&to=2021-12-31")
    expect(page.locator("h1")).to_contain_text("Báo cáo tình hình thực hiện chế độ báo cáo")
    chart = page.locator("#chart-category svg")
    expect(chart).to_be_visible()
    assert chart.bounding_box()["height"] > 100
    expect(page.locator("#chart-unit")).to_contain_text("Sở Y tế")
    expect(page.locator("#by-category")).to_contain_text("Diện địa phương, đơn vị quản lý")
    shot(page, "07-compliance")
    # leaders read, they do not act: no action forms on a case page
    page.goto(f"{base}/cases")
    page.locator("table a").first.click()
    expect(page.locator("#timeline")).to_be_visible()
    assert page.locator("form[id^=action-]").count() == 0
    # the English switch
    page.click("text=English")
    expect(page.locator("nav.menu")).to_contain_text("Dashboard")
    page.context.close()
    phone = new_page(site["browser"], phone=True)
    log_in(phone, base, "leader@snv.vn")
    expect(phone.locator("#overdue")).to_be_visible()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the dashboard is {width}px wide on a 390px phone"
    shot(phone, "08-dashboard-phone")
    phone.context.close()
