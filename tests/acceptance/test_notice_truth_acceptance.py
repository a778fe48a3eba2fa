"""Acceptance of "notices that are never false and never lost" (issue 12): a real
aiosmtpd server, a manual clock, a real SQLite file, ``theodoi`` as a process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from cli.wiring import open_app
from engine.app import App
from kernel.clock import ManualClock, from_local
from notifications import approval, store
from notifications.outbox import NoticePolicy, new_row
from notifications.smtp import deliver_due
from storage.models import Event, LetterSequence, OutboxMessage
from tests import pg
from tests import smtp_server as smtp_fixture
from tests.conftest import REPO, add_trip, add_unit, make_config
from tests.smtp_server import SmtpServer
from web import users
from web.security import configure_passwords
from web.testing import LiveServer, login

smtp_server = smtp_fixture.smtp_server  # the fixture, used by name

THEODOI = [str(Path(sys.executable).with_name("theodoi"))]
TZ = "Asia/Ho_Chi_Minh"


def local(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    """A local (Tây Ninh) wall time as the naive UTC instant the clock hands out."""
    return from_local(date(y, m, d), time(hh, mm), ZoneInfo(TZ))


CREATED = local(2026, 9, 8, 9)  # Tuesday 08/09/2026, 09:00


def _open(tmp_path: Path, server: SmtpServer, **env: str) -> App:
    config = make_config(f"sqlite:///{tmp_path / 'theodoi.db'}", **server.config_env(), **env)
    return open_app(config, ManualClock(CREATED), upgrade=True, worker_id="acceptance")


def _cli(tmp_path: Path, server: SmtpServer, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {
        **os.environ,
        "THEODOI_STORAGE__URL": f"sqlite:///{tmp_path / 'theodoi.db'}",
        "COLUMNS": "400",
        **server.config_env(),
        **env,
    }
    environ.pop("THEODOI_NOW", None)
    return subprocess.run(
        [*THEODOI, *args], env=environ, cwd=REPO, capture_output=True, text=True, timeout=120
    )


def _trip(app: App) -> int:
    """Back on Monday 05/10/2026: the report is due on Tuesday 20/10/2026."""
    unit = add_unit(app, "SYT", name="Sở Y tế")
    case_id = add_trip(
        app,
        unit,
        decided_on=date(2026, 8, 20),
        planned_start=date(2026, 9, 28),
        planned_end=date(2026, 10, 5),
        email="an@example.vn",
    )
    deliver_due(app.db, app.config, CREATED, "acceptance", calendar=app.engine.calendar)
    return case_id


def _file(app: App, case_id: int, at: datetime, on: str = "2026-10-20") -> None:
    app.clock.set(at)
    with app.db.session() as session:
        app.engine.fire(session, case_id, "file", actor="test", at=at, params={"on": on})


def _rows(app: App, kind: str) -> list[OutboxMessage]:
    with app.db.session(write=False) as session:
        stmt = select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        return list(session.scalars(stmt))


def _numbers_taken(app: App) -> int:
    with app.db.session(write=False) as session:
        return sum(session.scalars(select(LetterSequence.last_number)))


def _withdrawn_in_history(tmp_path: Path, server: SmtpServer, case_id: int) -> None:
    shown = _cli(tmp_path, server, "show", str(case_id))
    assert shown.returncode == 0, shown.stderr
    assert "notice_withdrawn" in shown.stdout
    assert "thông báo không gửi: báo cáo đã nộp ngày 20/10/2026" in shown.stdout


def test_urging_letter_queued_at_midnight_is_withdrawn_when_filed_at_0715(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    app = _open(tmp_path, smtp_server)
    try:
        case_id = _trip(app)
        midnight = local(2026, 10, 21, 0)
        app.clock.set(midnight)
        app.engine.sweep(midnight)
        (urging,) = _rows(app, "urging_letter")
        assert urging.status == "pending" and urging.next_attempt_at == local(2026, 10, 21, 7, 30)
        assert (urging.for_state, urging.for_deadline) == ("overdue", date(2026, 10, 20))
        _file(app, case_id, local(2026, 10, 21, 7, 15))
    finally:
        app.close()
    smtp_server.clear()
    sent = _cli(tmp_path, smtp_server, "--now", "2026-10-21T07:40", "send")
    assert sent.returncode == 0, sent.stderr
    assert smtp_server.received() == []  # no letter reached the server
    app = _open(tmp_path, smtp_server)
    try:
        (urging,) = _rows(app, "urging_letter")
        assert urging.status == "withdrawn" and urging.letter_number is None
        assert urging.last_error == "báo cáo đã nộp ngày 20/10/2026"
        assert _numbers_taken(app) == 0
    finally:
        app.close()
    _withdrawn_in_history(tmp_path, smtp_server, case_id)


def test_a_reminder_queued_before_the_filing_is_withdrawn(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    app = _open(tmp_path, smtp_server)
    try:
        case_id = _trip(app)
        at = local(2026, 10, 13, 7, 30)  # 5 working days before 20/10
        app.clock.set(at)
        app.engine.sweep(at)
        (reminder,) = _rows(app, "reminder")
        assert reminder.status == "pending"
        _file(app, case_id, local(2026, 10, 13, 7, 35))
    finally:
        app.close()
    smtp_server.clear()
    sent = _cli(tmp_path, smtp_server, "--now", "2026-10-13T07:40", "send")
    assert sent.returncode == 0, sent.stderr
    assert smtp_server.by_kind("reminder") == []
    app = _open(tmp_path, smtp_server)
    try:
        assert _rows(app, "reminder")[0].status == "withdrawn"
    finally:
        app.close()
    _withdrawn_in_history(tmp_path, smtp_server, case_id)


def test_a_held_letter_approved_after_the_filing_is_refused(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    held = {"THEODOI_NOTIFICATIONS__APPROVAL": '{"urging_letter": "coordinator"}'}
    app = _open(tmp_path, smtp_server, **held)
    try:
        case_id = _trip(app)
        midnight = local(2026, 10, 21, 0)
        app.clock.set(midnight)
        app.engine.sweep(midnight)
        (urging,) = _rows(app, "urging_letter")
        assert urging.status == "held"
        queue = _cli(
            tmp_path,
            smtp_server,
            "--now",
            "2026-10-21T07:10",
            "outbox",
            "list",
            "--status",
            "held",
            **held,
        )
        assert queue.returncode == 0 and "overdue" in queue.stdout  # the case now, beside it
        _file(app, case_id, local(2026, 10, 21, 7, 15))
        queue = _cli(
            tmp_path,
            smtp_server,
            "--now",
            "2026-10-21T07:20",
            "outbox",
            "list",
            "--status",
            "held",
            "--format",
            "json",
            **held,
        )
        (item,) = json.loads(queue.stdout)
        assert item["case_now"] == "report_filed (nộp 20/10/2026)"
    finally:
        app.close()
    approved = _cli(
        tmp_path,
        smtp_server,
        "--now",
        "2026-10-21T07:30",
        "outbox",
        "approve",
        str(urging.id),
        "--by",
        "lan",
        **held,
    )
    assert approved.returncode != 0
    assert "báo cáo đã nộp ngày 20/10/2026" in approved.stdout + approved.stderr
    sent = _cli(tmp_path, smtp_server, "--now", "2026-10-21T07:40", "send", **held)
    assert sent.returncode == 0, sent.stderr
    assert smtp_server.by_kind("urging_letter") == []
    app = _open(tmp_path, smtp_server, **held)
    try:
        (urging,) = _rows(app, "urging_letter")
        assert urging.status == "withdrawn" and urging.letter_number is None
        assert _numbers_taken(app) == 0
    finally:
        app.close()
    _withdrawn_in_history(tmp_path, smtp_server, case_id)


# -- an outage is not a failure ---------------------------------------------------------------


CHEAP_PASSWORDS = {
    "THEODOI_WEB__PASSWORD_TIME_COST": "1",
    "THEODOI_WEB__PASSWORD_MEMORY_KIB": "1024",
}


@pytest.fixture
def coordinator_site(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[tuple[App, httpx.Client]]:
    app = _open(tmp_path, smtp_server, **CHEAP_PASSWORDS)
    configure_passwords(app.config.web)
    with app.db.session() as s:
        users.add_user(s, "coord@snv.vn", "coordinator", now=CREATED, password="mật khẩu dài 123")
    with LiveServer(app) as server:
        client = server.client()
        assert login(client, "coord@snv.vn", "mật khẩu dài 123").status_code == 303
        yield app, client
    app.close()


OUTAGE = "Máy chủ thư không trả lời"


def _dashboard(client: httpx.Client) -> str:
    """The coordinators' dashboard now (logging in again: sessions follow the clock)."""
    page = client.get("/dashboard")
    if page.status_code != 200:
        assert login(client, "coord@snv.vn", "mật khẩu dài 123").status_code == 303
        page = client.get("/dashboard")
    assert page.status_code == 200
    return page.text


def test_five_days_down_200_notices_each_true_one_arrives_once(
    coordinator_site: tuple[App, httpx.Client], smtp_server: SmtpServer
) -> None:
    app, client = coordinator_site
    start = local(2026, 10, 12, 8)  # Monday; the server is down until Saturday
    cases = []
    for i in range(10):  # their first reminder falls due on 13/10 07:30
        unit = add_unit(app, f"U{i}", name=f"Đơn vị {i}")
        cases.append(
            add_trip(
                app,
                unit,
                name=f"Người {i}",
                name_key=f"nguoi {i}",
                decided_on=date(2026, 8, 20),
                planned_start=date(2026, 9, 28),
                planned_end=date(2026, 10, 5),
            )
        )
    deliver_due(app.db, app.config, CREATED, "acceptance", calendar=app.engine.calendar)
    smtp_server.clear()
    store.insert_rows(  # and 190 more notices falling due over the five days
        app.db,
        [
            new_row(
                key=f"outage:{i}",
                kind="reminder",
                case_id=None,
                level=1,
                language="vi",
                to=[f"u{i}@example.vn"],
                cc=[],
                context={"name": f"Người {i}", "deadline": "2026-10-20"},
                now=start + timedelta(hours=i * 120 / 190),
                domain="songoaivu.local",
                policy=NoticePolicy(),
            )
            for i in range(190)
        ],
    )
    smtp_server.stop()
    seen_down, filed, at = False, [], start
    while at < start + timedelta(days=5):
        app.clock.set(at)
        app.engine.sweep(at)
        if at >= local(2026, 10, 13, 12) and not filed:  # three report meanwhile
            filed = cases[:3]
            for case_id in filed:
                _file(app, case_id, at, on="2026-10-13")
        report = deliver_due(app.db, app.config, at, "acceptance", calendar=app.engine.calendar)
        assert report.sent == 0 and report.failed == 0 and report.parked == 0
        if report.circuit_open and not seen_down:
            seen_down = OUTAGE in _dashboard(client)
        at += timedelta(hours=4)
    assert seen_down, "the dashboard showed the outage"
    with app.db.session(write=False) as session:
        stmt = select(OutboxMessage).where(OutboxMessage.status == "pending")
        waiting = list(session.scalars(stmt))
    assert len(waiting) == 200  # all wait (judged when they can leave); no attempt burnt
    assert all(m.attempts == 0 for m in waiting)

    smtp_server.start()  # back on Monday 19/10 07:30: the second reminders fall due too
    back = local(2026, 10, 19, 7, 30)
    app.clock.set(back)
    app.engine.sweep(back)
    for minutes in (0, 10, 20):
        deliver_due(
            app.db,
            app.config,
            back + timedelta(minutes=minutes),
            "acceptance",
            calendar=app.engine.calendar,
        )
    counts = smtp_server.message_ids()
    assert set(counts.values()) == {1}, "each exactly once"
    with app.db.session(write=False) as session:
        outbox = list(session.scalars(select(OutboxMessage)))
        withdrawn = set(
            session.scalars(select(Event.case_id).where(Event.event == "notice_withdrawn"))
        )
    sent = [m for m in outbox if m.status == "sent" and m.sent_at >= back]
    assert len(counts) == len(sent) == 190 + 7
    assert {m.message_id for m in sent} == set(counts)
    assert not {m.status for m in outbox} & {"failed", "parked", "pending", "sending"}
    assert set(filed) <= withdrawn
    # catch-up: one reminder per case that fits it now, the older one superseded
    for case_id in cases[3:]:
        mine = [
            (m.level, m.status) for m in outbox if m.case_id == case_id and m.kind == "reminder"
        ]
        assert mine == [(1, "superseded"), (2, "sent")]
    assert OUTAGE not in _dashboard(client)


def test_a_550_parks_only_that_notice_shown_on_the_dashboard(
    coordinator_site: tuple[App, httpx.Client], smtp_server: SmtpServer
) -> None:
    app, client = coordinator_site
    for i in range(3):
        unit = add_unit(app, f"U{i}", name=f"Đơn vị {i}")
        add_trip(
            app,
            unit,
            name=f"Người {i}",
            name_key=f"nguoi {i}",
            decided_on=date(2026, 8, 20),
            planned_start=date(2026, 9, 28),
            planned_end=date(2026, 10, 5),
        )
    smtp_server.refuse("u1@example.vn", "550 5.1.1 <u1@example.vn>: Recipient address rejected")
    report = deliver_due(app.db, app.config, CREATED, "acceptance", calendar=app.engine.calendar)
    assert report.parked == 1 and report.failed == 0
    notices = _rows(app, "approval_notice")
    assert sorted(m.status for m in notices) == ["parked", "sent", "sent"]
    (parked,) = [m for m in notices if m.status == "parked"]
    assert (
        parked.to_addrs == ["u1@example.vn"] and "Recipient address rejected" in parked.last_error
    )
    assert {m.rcpt_tos[0] for m in smtp_server.by_kind("approval_notice")} == {
        "u0@example.vn",
        "u2@example.vn",
    }
    page = _dashboard(client)
    assert f'href="/notices/{parked.id}"' in page and "Recipient address rejected" in page
    listed = _cli(
        app_path(app), smtp_server, "outbox", "list", "--status", "parked", "--format", "json"
    )
    assert [r["id"] for r in json.loads(listed.stdout)] == [parked.id]


def app_path(app: App) -> Path:
    return Path(app.config.storage.url.removeprefix("sqlite:///")).parent


def test_letter_numbers_have_no_gap_after_withdrawals_and_approvals(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    held = {"THEODOI_NOTIFICATIONS__APPROVAL": '{"urging_letter": "coordinator"}'}
    app = _open(tmp_path, smtp_server, **held)
    try:
        cases = []
        for i in range(6):
            unit = add_unit(app, f"U{i}", name=f"Đơn vị {i}")
            cases.append(
                add_trip(
                    app,
                    unit,
                    name=f"Người {i}",
                    name_key=f"nguoi {i}",
                    decided_on=date(2026, 8, 20),
                    planned_start=date(2026, 9, 28),
                    planned_end=date(2026, 10, 5),
                )
            )
        midnight = local(2026, 10, 21, 0)
        app.clock.set(midnight)
        app.engine.sweep(midnight)
        letters = _rows(app, "urging_letter")
        assert [m.status for m in letters] == ["held"] * 6 and _numbers_taken(app) == 0
        morning = local(2026, 10, 21, 7, 15)
        _file(app, cases[1], morning)  # filed before the approval: refused, withdrawn
        for m in letters:
            if m.case_id == cases[1]:
                with pytest.raises(approval.NoLongerTrue, match="đã nộp"):
                    approval.approve(
                        app.db, app.config, m.id, "lan", morning, calendar=app.engine.calendar
                    )
            else:
                approval.approve(
                    app.db, app.config, m.id, "lan", morning, calendar=app.engine.calendar
                )
        _file(app, cases[4], local(2026, 10, 21, 7, 20))  # after its approval: withdrawn on the way
        assert _numbers_taken(app) == 0  # approval takes no number: going does
        send_at = local(2026, 10, 21, 7, 40)
        deliver_due(app.db, app.config, send_at, "acceptance", calendar=app.engine.calendar)
        letters = _rows(app, "urging_letter")
        assert [m.status for m in letters] == [
            "sent",
            "withdrawn",
            "sent",
            "sent",
            "withdrawn",
            "sent",
        ]
        got = sorted(m.letter_number for m in letters if m.status == "sent")
        assert got == ["01/SNgV-LSHTQT", "02/SNgV-LSHTQT", "03/SNgV-LSHTQT", "04/SNgV-LSHTQT"]
        assert _numbers_taken(app) == 4
        subjects = sorted(m.subject for m in smtp_server.by_kind("urging_letter"))
        assert [s.split()[3] for s in subjects] == got  # "Công văn số 01/SNgV-LSHTQT …"
    finally:
        app.close()


pg_url = pg.pg_url


def test_on_postgresql_a_withdrawn_letter_takes_no_number(
    pg_url: str, smtp_server: SmtpServer
) -> None:
    config = make_config(pg_url, **smtp_server.config_env())
    app = open_app(config, ManualClock(CREATED), upgrade=True, worker_id="acceptance")
    try:
        cases = []
        for i in range(3):
            unit = add_unit(app, f"U{i}", name=f"Đơn vị {i}")
            cases.append(
                add_trip(
                    app,
                    unit,
                    name=f"Người {i}",
                    name_key=f"nguoi {i}",
                    decided_on=date(2026, 8, 20),
                    planned_start=date(2026, 9, 28),
                    planned_end=date(2026, 10, 5),
                )
            )
        midnight = local(2026, 10, 21, 0)
        app.clock.set(midnight)
        app.engine.sweep(midnight)
        _file(app, cases[0], local(2026, 10, 21, 7, 15))
        send_at = local(2026, 10, 21, 7, 40)
        report = deliver_due(
            app.db, app.config, send_at, "acceptance", calendar=app.engine.calendar
        )
        assert report.withdrawn >= 1
        letters = _rows(app, "urging_letter")
        assert [m.status for m in letters] == ["withdrawn", "sent", "sent"]
        assert [m.letter_number for m in letters] == [None, "01/SNgV-LSHTQT", "02/SNgV-LSHTQT"]
        assert len(smtp_server.by_kind("urging_letter")) == 2
    finally:
        app.close()
