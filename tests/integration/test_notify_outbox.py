"""Outbox rows: routing, languages, the send window, approval, routing gaps, the digest."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from cli.wiring import open_app
from engine.app import App
from kernel.clock import ManualClock
from kernel.settings import load_config
from notifications import approval, store
from notifications.digest import DigestStates, digest_key, run_digest
from notifications.outbox import NoticePolicy, NoticeRequest, Router, SendWindow, build_rows
from notifications.smtp import deliver_due
from notifications.store import OutboxStateError
from storage.models import Event, OutboxMessage, Unit
from tests import smtp_server as smtp_fixture
from tests.conftest import add_trip, add_unit, make_config
from tests.smtp_server import SmtpServer

smtp_server = smtp_fixture.smtp_server  # the fixture, used by name

TUESDAY_0800 = datetime(2021, 9, 14, 1, 0)
CREATED = datetime(2021, 8, 2, 1, 0)  # trips are recorded before they depart


@dataclass
class FakeUnit:
    email: str | None
    head_email: str | None
    language: str = "vi"


def request(kind="reminder", to=("unit",), cc=("person",), level=1, **ctx) -> NoticeRequest:
    return NoticeRequest(
        kind=kind,
        workflow="trip",
        case_id=9,
        at=TUESDAY_0800,
        to=to,
        cc=cc,
        attach=("ics",),
        level=level,
        deadline=date(2021, 9, 21),
        context={"name": "Nguyễn Văn An", "email": "an@example.vn", **ctx},
        unit_id=1,
    )


@pytest.fixture(scope="module")
def config():
    return load_config(None, {})


def test_roles_resolve_to_addresses(config) -> None:
    router = Router({1: FakeUnit("tb@example.vn", "head.tb@example.vn")}, config.recipients)
    (row,) = build_rows([request()], router, TUESDAY_0800, "songoaivu.local")
    assert row["to_addrs"] == ["tb@example.vn"] and row["cc_addrs"] == ["an@example.vn"]
    assert row["status"] == "pending" and row["key"] == "trip:9:reminder:2021-09-21:1"
    assert row["message_id"].endswith("@songoaivu.local>")
    assert row["context"]["_route"]["attach"] == ["ics"]
    ladder1 = build_rows(
        [request("escalation", ("ladder",), ("coordinators",), 1)], router, TUESDAY_0800, "d"
    )[0]
    ladder2 = build_rows(
        [request("escalation", ("ladder",), ("coordinators",), 2)], router, TUESDAY_0800, "d"
    )[0]
    assert ladder1["to_addrs"] == list(config.recipients.leadership)
    assert ladder2["to_addrs"] == list(config.recipients.provincial_leadership)
    assert ladder1["cc_addrs"] == list(config.recipients.coordinators)


def test_language_follows_the_recipient_unit(config) -> None:
    router = Router({1: FakeUnit("kr@example.kr", None, "en")}, config.recipients)
    policy = NoticePolicy.from_config(config, config.business_calendar())
    (to_unit,) = build_rows([request()], router, TUESDAY_0800, "d", policy=policy)
    (to_leaders,) = build_rows(
        [request("escalation", ("ladder",), (), 1)], router, TUESDAY_0800, "d", policy=policy
    )
    assert to_unit["language"] == "en" and to_leaders["language"] == "vi"


def test_unroutable_notice_is_parked_with_an_alert(config) -> None:
    router = Router({1: FakeUnit(None, None)}, config.recipients)
    parked, alert = build_rows([request()], router, TUESDAY_0800, "d")
    assert parked["status"] == "parked" and parked["last_error"] == "no address for unit"
    assert alert["kind"] == "alert" and alert["status"] == "pending"
    assert alert["to_addrs"] == list(config.recipients.coordinators)
    assert alert["key"] == f"alert:unroutable:{parked['key']}"
    assert alert["context"]["alert"]["missing"] == ["unit"]


def test_send_window_opens_on_the_next_working_morning(config) -> None:
    window = NoticePolicy.from_config(config, config.business_calendar()).window
    assert isinstance(window, SendWindow)
    assert window.next_opening(TUESDAY_0800) == TUESDAY_0800
    # Friday 30/04/2021 at 18:00: 30/4, 1/5 (Sat), 2/5 (Sun), 3/5 (compensation) are off.
    assert window.next_opening(datetime(2021, 4, 30, 11, 0)) == datetime(2021, 5, 4, 0, 30)
    # Before office hours on a working day: the same morning.
    assert window.next_opening(datetime(2021, 9, 13, 23, 0)) == datetime(2021, 9, 14, 0, 30)
    # 17:00 sharp is closed.
    assert window.next_opening(datetime(2021, 9, 14, 10, 0)) == datetime(2021, 9, 15, 0, 30)
    assert window.start == time(7, 30)


def test_rows_enqueued_at_night_wait_for_the_window(config) -> None:
    router = Router({1: FakeUnit("tb@example.vn", None)}, config.recipients)
    midnight = datetime(2021, 9, 21, 17, 0)  # 24:00 local, when a deadline passes
    (row,) = build_rows(
        [request()],
        router,
        midnight,
        "d",
        policy=NoticePolicy.from_config(config, config.business_calendar()),
    )
    assert row["next_attempt_at"] == datetime(2021, 9, 22, 0, 30)


# -- with a database ------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[App]:
    config = make_config(
        f"sqlite:///{tmp_path / 'theodoi.db'}",
        **smtp_server.config_env(),
        THEODOI_NOTIFICATIONS__APPROVAL='{"urging_letter": "coordinator"}',
    )
    application = open_app(config, ManualClock(CREATED), upgrade=True, worker_id="t")
    yield application
    application.close()


def _rows(app: App, kind: str | None = None) -> list[OutboxMessage]:
    with app.db.session(write=False) as session:
        stmt = select(OutboxMessage).order_by(OutboxMessage.id)
        if kind:
            stmt = stmt.where(OutboxMessage.kind == kind)
        return list(session.scalars(stmt))


def _deliver(app: App, now: datetime):
    return deliver_due(
        app.db, app.config, now, "t", calendar=app.engine.calendar, rng=random.Random(1)
    )


def test_letters_wait_for_approval(app: App, smtp_server: SmtpServer) -> None:
    case_id = add_trip(app)
    app.engine.sweep(datetime(2021, 9, 22, 17, 1))  # past the deadline: overdue
    (letter,) = _rows(app, "urging_letter")
    assert letter.status == "held"
    morning = datetime(2021, 9, 23, 1, 0)
    _deliver(app, morning)
    assert smtp_server.by_kind("urging_letter") == []
    with pytest.raises(OutboxStateError):
        approval.resend(
            app.db, app.config, letter.id, "cli:lan", morning, calendar=app.engine.calendar
        )
    approved = approval.approve(
        app.db, app.config, letter.id, "cli:lan", morning, calendar=app.engine.calendar
    )
    assert approved["status"] == "pending"
    _deliver(app, morning)
    (mail,) = smtp_server.by_kind("urging_letter")
    assert mail.rcpt_tos == ("head.syt@example.vn", "syt@example.vn")
    with app.db.session(write=False) as session:
        names = [e.event for e in session.scalars(select(Event).where(Event.case_id == case_id))]
    assert "notice_approved" in names and "notice_sent" in names


def test_hold_and_resend(app: App, smtp_server: SmtpServer) -> None:
    add_trip(app)  # enqueues the approval notice
    (notice,) = _rows(app, "approval_notice")
    held = approval.hold(app.db, notice.id, "cli:lan", TUESDAY_0800)
    assert held["status"] == "held"
    assert _deliver(app, TUESDAY_0800).sent == 0
    approval.approve(
        app.db, app.config, notice.id, "cli:lan", TUESDAY_0800, calendar=app.engine.calendar
    )
    smtp_server.refuse("syt@example.vn", "550 5.1.1 unknown")
    _deliver(app, TUESDAY_0800)
    assert _rows(app, "approval_notice")[0].status == "parked"
    smtp_server.refusals.clear()
    again = approval.resend(
        app.db, app.config, notice.id, "cli:lan", TUESDAY_0800, calendar=app.engine.calendar
    )
    assert again["status"] == "pending" and again["attempts"] == 0
    _deliver(app, TUESDAY_0800)
    assert _rows(app, "approval_notice")[0].status == "sent"
    assert len(smtp_server.by_kind("approval_notice")) == 1
    assert len(smtp_server.by_kind("alert")) == 1  # about the 550, once


def test_unit_without_address_alerts_then_resend_after_fixing(
    app: App, smtp_server: SmtpServer
) -> None:
    unit = add_unit(app, "NOMAIL", name="Ban Dân tộc", email=None, head_email=None)
    add_trip(app, unit, email=None)
    (notice,) = _rows(app, "approval_notice")
    assert notice.status == "parked" and "no address for unit" in notice.last_error
    _deliver(app, TUESDAY_0800)
    (alert,) = smtp_server.by_kind("alert")
    assert alert.rcpt_tos == ("lshtqt@songoaivu.local",)
    assert "Ban Dân tộc" in alert.text() and f"theodoi outbox resend {notice.id}" in alert.text()
    with pytest.raises(OutboxStateError, match="still no address for unit"):
        approval.resend(
            app.db, app.config, notice.id, "cli:lan", TUESDAY_0800, calendar=app.engine.calendar
        )
    with app.db.session() as session:
        session.get(Unit, unit.id).email = "bdt@example.vn"
    approval.resend(
        app.db, app.config, notice.id, "cli:lan", TUESDAY_0800, calendar=app.engine.calendar
    )
    _deliver(app, TUESDAY_0800)
    (mail,) = smtp_server.by_kind("approval_notice")
    assert mail.rcpt_tos == ("bdt@example.vn",)


def test_weekly_digest_once_per_iso_week(app: App, smtp_server: SmtpServer) -> None:
    unit = add_unit(app)
    due = add_trip(app, unit, planned_start=date(2021, 9, 1), planned_end=date(2021, 9, 6))
    late = add_trip(
        app,
        unit,
        name="Trần Thị Bình",
        name_key="tran thi binh",
        planned_start=date(2021, 8, 3),
        planned_end=date(2021, 8, 10),
    )
    app.engine.sweep(datetime(2021, 9, 19, 0, 0))
    monday = datetime(2021, 9, 20, 0, 30)  # Monday 07:30
    tags = {
        "calendar": app.engine.calendar,
        "states": DigestStates.of(app.registry["trip"].workflow),
    }
    assert digest_key(date(2021, 9, 20)) == "digest:2021-W38"
    assert run_digest(app.db, app.config, monday, "w1", **tags) is True
    assert run_digest(app.db, app.config, monday + timedelta(minutes=1), "w2", **tags) is False
    (row,) = _rows(app, "digest")
    data = row.context["digest"]
    assert [c["case_id"] for c in data["due"]] == [due]
    assert [c["case_id"] for c in data["overdue"]] == [late]
    assert data["rate"]["due"] == 1 and data["rate"]["filed"] == 0 and data["rate"]["pct"] == 0
    assert row.to_addrs == ["lshtqt@songoaivu.local", "bangiamdoc@songoaivu.local"]
    _deliver(app, monday)
    (mail,) = smtp_server.by_kind("digest")
    assert mail.subject == "Tổng hợp tuần 38/2021: 1 hồ sơ đến hạn, 1 hồ sơ quá hạn"
    assert "Trần Thị Bình" in mail.text()
    assert run_digest(app.db, app.config, monday + timedelta(days=7), "w1", **tags) is True


def test_link_secret_is_generated_once_per_database(app: App) -> None:
    from notifications.links import SECRET_NAME, app_secret

    first = app_secret(app)
    assert len(first) > 40 and app_secret(app) == first
    assert store.stored_secret(app.db, SECRET_NAME) is None  # a key file, not the database
