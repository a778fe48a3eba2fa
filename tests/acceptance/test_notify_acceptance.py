"""Acceptance: a trip's whole life through ``simulate`` to a real SMTP server, a service
down for 30 days, a sender killed mid-batch, and the mail catcher through the CLI."""

from __future__ import annotations

import email.utils
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import date, datetime
from datetime import time as dtime
from pathlib import Path

import pytest
from docx import Document
from icalendar import Calendar
from sqlalchemy import select

from cli.simulation import simulate
from cli.wiring import open_app
from engine.app import App
from kernel.clock import ManualClock
from kernel.errors import NotFound
from kernel.settings import SmtpSettings
from notifications import store
from notifications.catcher import Catcher, MailStore
from notifications.outbox import NoticePolicy, new_row
from notifications.smtp import deliver_due
from storage.models import Event, OutboxMessage
from tests import smtp_server as smtp_fixture
from tests.conftest import REPO, add_trip, add_unit, make_config
from tests.smtp_server import SmtpServer, free_port

smtp_server = smtp_fixture.smtp_server  # the fixture, used by name

# The console script, as an operator runs it.
THEODOI = [str(Path(sys.executable).with_name("theodoi"))]
CREATED = datetime(2021, 8, 2, 2, 0)  # Monday 09:00 in Tây Ninh
LEADERSHIP = ("bangiamdoc@songoaivu.local",)
PROVINCE = ("ubnd@tayninh.local", "thanhtra@tayninh.local")


@pytest.fixture
def app(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[App]:
    config = make_config(f"sqlite:///{tmp_path / 'theodoi.db'}", **smtp_server.config_env())
    application = open_app(config, ManualClock(CREATED), upgrade=True, worker_id="acceptance")
    yield application
    application.close()


def _sent_at(message) -> datetime:
    return email.utils.parsedate_to_datetime(str(message.message["Date"]))


def test_a_trip_from_approval_past_escalation_level_2(app: App, smtp_server: SmtpServer) -> None:
    unit = add_unit(app, "SYT", name="Sở Y tế")
    add_trip(app, unit, email="an@example.vn")  # returns Monday 06/09/2021
    end = datetime(2021, 10, 31, 0, 0)
    lines = list(simulate(app, end, send=True))
    assert any("simulation reached" in line for line in lines)

    got = smtp_server.received()
    assert [m.kind for m in got] == [
        "approval_notice",
        "reminder",
        "reminder",
        "urging_letter",
        "escalation",
        "escalation",
    ]
    assert len(set(smtp_server.message_ids())) == len(got)  # each once
    calendar = app.engine.calendar
    stamps = [_sent_at(m) for m in got]
    assert stamps == sorted(stamps)
    for stamp in stamps:  # on working days, inside 07:30–17:00 local
        assert calendar.is_working_day(stamp.date())
        assert dtime(7, 30) <= stamp.time() < dtime(17, 0)
    assert [s.date() for s in stamps[1:]] == [
        date(2021, 9, 14),
        date(2021, 9, 20),
        date(2021, 9, 22),
        date(2021, 9, 29),
        date(2021, 10, 13),
    ]

    approval, first, second, urging, level1, level2 = got
    assert approval.rcpt_tos == ("syt@example.vn", "an@example.vn")
    for reminder in (first, second):
        assert reminder.rcpt_tos == ("syt@example.vn", "an@example.vn")
        assert reminder.subject == (
            "Nhắc hạn nộp báo cáo kết quả chuyến đi nước ngoài: Nguyễn Văn An (hạn 21/09/2021)"
        )
        ((ctype, data),) = reminder.attachments().values()
        assert ctype == "text/calendar"
        (event,) = Calendar.from_ical(data).walk("VEVENT")
        assert event.decoded("dtstart") == date(2021, 9, 21)
    assert "còn 5 ngày làm việc" in first.text() and "còn 1 ngày làm việc" in second.text()

    assert urging.rcpt_tos == ("head.syt@example.vn", "syt@example.vn")
    assert urging.subject == (
        "Công văn số 01/SNgV-LSHTQT về việc đôn đốc nộp báo cáo kết quả chuyến đi nước ngoài: "
        "Nguyễn Văn An"
    )
    ((name, (ctype, data)),) = urging.attachments().items()
    assert name == "cong-van-don-doc-01-SNgV-LSHTQT.docx"
    text = _docx_text(data)
    for needle in (
        "Số: 01/SNgV-LSHTQT",
        "Kính gửi",
        "Nguyễn Văn An",
        "21/09/2021",
        "Tây Ninh, ngày 22 tháng 9 năm 2021",
    ):
        assert needle in text, needle

    assert level1.rcpt_tos == (*LEADERSHIP, "lshtqt@songoaivu.local")
    assert level1.subject == (
        "Đề xuất xử lý việc chậm nộp báo cáo kết quả chuyến đi nước ngoài: Nguyễn Văn An, Sở Y tế"
    )
    assert "Số: 02/SNgV-LSHTQT" in _docx_text(next(iter(level1.attachments().values()))[1])
    assert level2.rcpt_tos == (*PROVINCE, "lshtqt@songoaivu.local")
    assert level2.subject == (
        "Báo cáo UBND tỉnh việc chậm nộp báo cáo kết quả chuyến đi nước ngoài: "
        "Nguyễn Văn An, Sở Y tế"
    )
    letter = _docx_text(next(iter(level2.attachments().values()))[1])
    assert "Số: 03/SNgV-LSHTQT" in letter and "Công văn số 01/SNgV-LSHTQT" in letter
    assert "Ủy ban nhân dân tỉnh Tây Ninh" in letter


def test_thirty_days_down_sends_only_the_current_notice(app: App, smtp_server: SmtpServer) -> None:
    case_id = add_trip(app)
    deliver_due(
        app.db, app.config, CREATED, "acceptance", calendar=app.engine.calendar
    )  # the approval notice, before
    # Down from 10/09 to 21/10/2021: both reminders, the urging letter and both
    # escalations fell due meanwhile.
    back = datetime(2021, 10, 21, 2, 0)
    app.clock.set(back)
    app.engine.sweep(back)
    deliver_due(app.db, app.config, back, "acceptance", calendar=app.engine.calendar)
    kinds = [m.kind for m in smtp_server.received()]
    assert kinds == ["approval_notice", "escalation"]
    (latest,) = smtp_server.by_kind("escalation")
    assert latest.rcpt_tos[:2] == PROVINCE  # level 2: the state the case is in now
    with app.db.session(write=False) as session:
        skipped = [
            (e.data["notice"], e.data["level"])
            for e in session.scalars(
                select(Event).where(Event.case_id == case_id, Event.event == "notice_skipped")
            )
        ]
    assert sorted(skipped) == [
        ("escalation", 1),
        ("reminder", 1),
        ("reminder", 2),
        ("urging_letter", 0),
    ]


def _docx_text(data: bytes) -> str:
    doc = Document(io.BytesIO(data))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for cell in table._cells:
            parts.extend(p.text for p in cell.paragraphs)
    return "\n".join(parts)


# -- real processes ----------------------------------------------------------------------------


def _env(db: Path, server: SmtpServer | None = None, **extra: str) -> dict[str, str]:
    env = {**os.environ, "THEODOI_STORAGE__URL": f"sqlite:///{db}", **extra}
    env.pop("THEODOI_NOW", None)
    if server is not None:
        env.update(server.config_env())
    return env


@pytest.mark.slow
def test_sigkill_mid_batch_then_restart_delivers_all(tmp_path: Path) -> None:
    server = SmtpServer().start()
    server.delay = 0.03  # slow enough to be caught mid-batch
    db = tmp_path / "theodoi.db"
    env = _env(db, server, THEODOI_SMTP__CONNECTIONS="2")
    try:
        app = open_app(make_config(f"sqlite:///{db}"), ManualClock(CREATED), upgrade=True)
        n = 80
        rows = [
            new_row(
                key=f"kill:{i}",
                kind="reminder",
                case_id=None,
                level=1,
                language="vi",
                to=[f"u{i}@example.vn"],
                cc=[],
                context={"name": f"Người {i}", "deadline": "2021-09-21"},
                now=CREATED,
                domain="songoaivu.local",
                policy=NoticePolicy(),
            )
            for i in range(n)
        ]
        store.insert_rows(app.db, rows)
        first = subprocess.Popen(
            [*THEODOI, "--now", "2021-09-14T08:00", "send"],
            env=env,
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Killed well past one batch of outcomes ([smtp] record_every), so a sender that
        # never wrote them would send far more than the bound twice.
        deadline = time.monotonic() + 30
        while len(server.received()) < 40 and time.monotonic() < deadline:
            time.sleep(0.01)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        before = len(server.received())
        assert 40 <= before < n, "the sender must die mid-batch"
        with app.db.session(write=False) as session:
            statuses = list(session.scalars(select(OutboxMessage.status)))
        assert statuses.count("sent") < n and "sent" in statuses

        # Restarted five minutes later: the dead sender's leases have expired.
        done = subprocess.run(
            [*THEODOI, "--now", "2021-09-14T08:05", "send"],
            env=env,
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        counts = server.message_ids()
        assert len(counts) == n  # every message arrived
        duplicates = sum(c - 1 for c in counts.values())
        # Only what was accepted since the last batch of outcomes was written (fewer
        # than [smtp] record_every) and what was in flight on the 2 connections.
        assert duplicates <= SmtpSettings().record_every - 1 + 2
        with app.db.session(write=False) as session:
            assert set(session.scalars(select(OutboxMessage.status))) == {"sent"}
        app.close()
    finally:
        server.stop()


def test_catcher_keeps_mail_and_the_cli_shows_it(tmp_path: Path) -> None:
    port = free_port()
    folder = tmp_path / "mail"
    catcher = Catcher(folder, port).start()
    db = tmp_path / "theodoi.db"
    env = _env(db, THEODOI_SMTP__PORT=str(port), THEODOI_NOTIFICATIONS__CATCHER_DIR=str(folder))
    try:
        config = make_config(f"sqlite:///{db}", THEODOI_SMTP__PORT=str(port))
        app = open_app(config, ManualClock(CREATED), upgrade=True)
        add_trip(app, name='Nguyễn "Văn" <An>')
        report = deliver_due(
            app.db, app.config, CREATED, "acceptance", calendar=app.engine.calendar
        )
        app.close()
        assert report.sent == 1
    finally:
        catcher.stop()
    (summary,) = MailStore(folder).list()
    assert summary.id == "000001" and summary.envelope_to == ["syt@example.vn"]
    assert summary.subject.startswith("Thông báo nghĩa vụ báo cáo kết quả chuyến đi nước ngoài")

    listed = subprocess.run(
        [*THEODOI, "mail", "list", "--format", "json"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stderr
    assert (
        '"subject": "Thông báo nghĩa vụ báo cáo kết quả chuyến đi nước ngoài: '
        'Nguyễn \\"Văn\\" <An>"' in listed.stdout
    )
    shown = subprocess.run(
        [*THEODOI, "mail", "show", "1"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    assert "To: syt@example.vn" in shown.stdout and "Kính gửi: Sở Y tế" in shown.stdout
    with pytest.raises(NotFound, match="no caught message"):
        MailStore(folder).show("42")
