"""The sender against a real aiosmtpd server: delivery, retries, refusals, leases, TLS."""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from cli import wiring
from engine.app import App
from kernel.clock import ManualClock
from notifications import store
from notifications.outbox import NoticePolicy, new_row
from notifications.smtp import backoff_delay, classify, deliver_due
from storage.models import Event, OutboxMessage
from tests import pg
from tests import smtp_server as smtp_fixture
from tests.conftest import make_config
from tests.smtp_server import SmtpServer

smtp_server = smtp_fixture.smtp_server  # the fixtures, used by name
pg_url = pg.pg_url

NOW = datetime(2021, 9, 14, 1, 0)  # Tuesday 08:00 in Tây Ninh, inside the send window
COORDINATOR = "lshtqt@songoaivu.local"
_SEQ = itertools.count(1)


def open_app(tmp_path: Path, server: SmtpServer, **env: str) -> App:
    config = make_config(f"sqlite:///{tmp_path / 'theodoi.db'}", **server.config_env(), **env)
    return wiring.open_app(config, ManualClock(NOW), upgrade=True, worker_id="test")


@pytest.fixture
def app(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[App]:
    application = open_app(tmp_path, smtp_server, THEODOI_SMTP__CONNECTIONS="2")
    yield application
    application.close()


def enqueue(
    app: App, n: int = 1, kind: str = "reminder", to: list[str] | None = None, **context: Any
) -> list[str]:
    """n pending rows (no case: the pure sender path); their keys."""
    keys = []
    rows = []
    for i in range(n):
        key = f"test:{kind}:{next(_SEQ)}"
        snap = {
            "name": f"Người thứ {i}",
            "unit_name": "Sở Y tế",
            "deadline": "2021-09-21",
            "workflow": "trip",
            **context,
        }
        rows.append(
            new_row(
                key=key,
                kind=kind,
                case_id=None,
                level=1,
                language="vi",
                to=to or [f"unit{i}@example.vn"],
                cc=[],
                context=snap,
                now=NOW,
                domain="songoaivu.local",
                policy=NoticePolicy(),
            )
        )
        keys.append(key)
    store.insert_rows(app.db, rows)
    return keys


def rows(app: App) -> list[OutboxMessage]:
    with app.db.session(write=False) as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def deliver(app: App, now: datetime = NOW, **kw: Any):
    return deliver_due(
        app.db,
        app.config,
        now,
        worker_id="test",
        calendar=app.engine.calendar,
        rng=random.Random(7),
        **kw,
    )


# -- the happy path ------------------------------------------------------------------------


def test_each_due_row_is_delivered_once(app: App, smtp_server: SmtpServer) -> None:
    enqueue(app, 5)
    report = deliver(app)
    assert report.sent == 5 and report.claimed == 5
    got = smtp_server.wait_for(5)
    assert len(got) == 5 and all(n == 1 for n in smtp_server.message_ids().values())
    assert {r.status for r in rows(app)} == {"sent"}
    assert all(r.sent_at == NOW and r.attempts == 1 for r in rows(app))
    assert {m.message_id for m in got} == {r.message_id for r in rows(app)}
    again = deliver(app, NOW + timedelta(minutes=5))
    assert again.claimed == 0 and len(smtp_server.received()) == 5


def test_not_yet_due_rows_wait(app: App, smtp_server: SmtpServer) -> None:
    enqueue(app, 1)
    with app.db.session() as session:
        session.execute(
            OutboxMessage.__table__.update().values(next_attempt_at=NOW + timedelta(hours=1))
        )
    assert deliver(app).claimed == 0
    assert deliver(app, NOW + timedelta(hours=1)).sent == 1


# -- temporary failures ------------------------------------------------------------------------


def test_server_down_nothing_lost_then_each_arrives_once(
    app: App,
    smtp_server: SmtpServer,
) -> None:
    enqueue(app, 6)
    smtp_server.stop()
    report = deliver(app)
    assert report.sent == 0 and report.circuit_open
    assert 1 <= report.deferred <= app.config.smtp.connections  # the breaker stopped the pass
    assert report.retried == 0 and report.released == 6 - report.deferred
    # an outage burns no attempt and keeps each row in its place in the queue
    assert {r.status for r in rows(app)} == {"pending"}
    assert all(r.attempts == 0 and r.next_attempt_at == NOW for r in rows(app))
    state = store.server_state(app.db)
    assert state is not None and state["down_since"] == NOW and "Connect" in state["last_error"]
    # before the next probe nothing is attempted
    quiet = deliver(app, NOW + timedelta(seconds=10))
    assert quiet.circuit_open and quiet.claimed == 0 and quiet.deferred == 0

    smtp_server.start()
    later = NOW + timedelta(hours=7)  # past any backoff, still inside office hours
    report = deliver(app, later)
    assert report.sent == 6
    counts = smtp_server.message_ids()
    assert len(counts) == 6 and set(counts.values()) == {1}
    assert {r.status for r in rows(app)} == {"sent"}


def test_4xx_retries_later_with_backoff(app: App, smtp_server: SmtpServer) -> None:
    enqueue(app, 2)
    smtp_server.fail_data("451 4.3.0 Try again later")
    report = deliver(app)
    assert report.retried == 2 and not report.circuit_open  # the server answered: no breaker
    for r in rows(app):
        assert r.status == "pending" and r.attempts == 1 and "451" in r.last_error
        assert NOW + timedelta(seconds=30) <= r.next_attempt_at <= NOW + timedelta(seconds=60)
    smtp_server.fail_data(None)
    assert deliver(app, NOW + timedelta(seconds=59)).claimed <= 2
    deliver(app, NOW + timedelta(minutes=2))
    assert {r.status for r in rows(app)} == {"sent"} and len(smtp_server.received()) == 2


def test_421_opens_the_circuit(app: App, smtp_server: SmtpServer) -> None:
    enqueue(app, 8)
    smtp_server.fail_mail("421 4.7.0 Service shutting down")
    report = deliver(app)
    assert report.circuit_open and report.sent == 0
    assert report.deferred <= app.config.smtp.connections and report.released >= 6
    assert sum(r.attempts for r in rows(app)) == 0 and report.retried == 0


def test_a_4xx_never_fails_the_row_and_alerts_once_after_max_attempts(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    app = open_app(tmp_path, smtp_server, THEODOI_SMTP__MAX_ATTEMPTS="2")
    try:
        enqueue(app, 1)
        smtp_server.fail_data("452 4.3.1 Insufficient system storage")
        deliver(app)
        deliver(app, NOW + timedelta(hours=1))
        deliver(app, NOW + timedelta(hours=2))
        (row, alert) = rows(app)
        assert row.status == "pending" and "452" in row.last_error  # waits, not failed
        assert alert.kind == "alert" and alert.to_addrs == [COORDINATOR]
        assert alert.status == "pending"  # the alert goes by the same mail: it waits too
        smtp_server.fail_data(None)
        deliver(app, NOW + timedelta(hours=8))
        assert sorted(m.kind for m in smtp_server.received()) == ["alert", "reminder"]
    finally:
        app.close()


def test_backoff_grows_and_is_jittered() -> None:
    rng = random.Random(3)
    delays = [backoff_delay(n, 60, 3600, rng) for n in range(1, 9)]
    assert 30 <= delays[0] <= 60 and 60 <= delays[1] <= 120 and 120 <= delays[2] <= 240
    assert all(1800 <= d <= 3600 for d in delays[6:])
    assert len({round(d, 3) for d in delays}) == len(delays)


# -- permanent failures ------------------------------------------------------------------------


def test_550_parks_that_row_alerts_once_and_others_go(
    app: App,
    smtp_server: SmtpServer,
) -> None:
    enqueue(app, 3)
    smtp_server.refuse("unit1@example.vn", "550 5.1.1 No such user")
    report = deliver(app)
    assert report.parked == 1 and report.failed == 0 and report.alerts == 1
    by_key = {r.to_addrs[0]: r for r in rows(app) if r.kind == "reminder"}
    assert by_key["unit1@example.vn"].status == "parked"
    assert "550 5.1.1 No such user" in by_key["unit1@example.vn"].last_error
    assert by_key["unit0@example.vn"].status == by_key["unit2@example.vn"].status == "sent"
    alerts = [r for r in rows(app) if r.kind == "alert"]
    assert len(alerts) == 1 and alerts[0].status == "sent"
    kinds = sorted(m.kind for m in smtp_server.received())
    assert kinds == ["alert", "reminder", "reminder"]
    alert_mail = smtp_server.by_kind("alert")[0]
    assert alert_mail.rcpt_tos == (COORDINATOR,)
    assert "unit1@example.vn" in alert_mail.text() and "550" in alert_mail.text()
    deliver(app, NOW + timedelta(hours=1))  # nothing more: one alert, no retry of a 5xx
    assert len(smtp_server.received()) == 3


def test_partial_refusal_is_recorded_per_recipient(
    app: App,
    smtp_server: SmtpServer,
) -> None:
    enqueue(app, 1, to=["ok@example.vn", "gone@example.vn"])
    smtp_server.refuse("gone@example.vn", "550 5.1.1 Gone")
    report = deliver(app)
    assert report.sent == 2 and report.refused == 1  # the message and the alert
    row = next(r for r in rows(app) if r.kind == "reminder")
    assert row.status == "sent" and row.refused == {"gone@example.vn": "550 5.1.1 Gone"}
    reminder = smtp_server.by_kind("reminder")[0]
    assert reminder.rcpt_tos == ("ok@example.vn",)
    assert len(smtp_server.by_kind("alert")) == 1


def test_render_error_parks_the_row_and_the_rest_go(
    app: App,
    smtp_server: SmtpServer,
) -> None:
    enqueue(app, 1, kind="no_such_kind")
    enqueue(app, 2)
    report = deliver(app)
    assert report.parked == 1 and report.sent == 3  # two reminders and the alert
    parked = next(r for r in rows(app) if r.kind == "no_such_kind")
    assert parked.status == "parked" and "no template" in parked.last_error
    assert "no_such_kind" in smtp_server.by_kind("alert")[0].text()


def test_an_address_the_email_package_refuses_parks_only_its_row(
    app: App,
    smtp_server: SmtpServer,
) -> None:
    enqueue(app, 1, to=["a..b@example.vn"])  # passes a loose check, not the email package
    enqueue(app, 2)
    report = deliver(app)
    assert report.parked == 1 and len(smtp_server.by_kind("reminder")) == 2
    parked = next(r for r in rows(app) if r.to_addrs == ["a..b@example.vn"])
    assert parked.status == "parked" and parked.last_error


def test_classify() -> None:
    import aiosmtplib

    assert classify(aiosmtplib.SMTPDataError(554, "no")).kind == "permanent"
    assert classify(aiosmtplib.SMTPDataError(451, "later")).kind == "temporary"
    assert classify(aiosmtplib.SMTPSenderRefused(421, "bye", "a@b.c")).connection
    assert classify(ConnectionRefusedError()).connection
    refused = aiosmtplib.SMTPRecipientsRefused(
        [aiosmtplib.SMTPRecipientRefused(550, "no", "a@b.c")]
    )
    assert classify(refused).kind == "permanent"


# -- the send window and leases -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "opening"),
    [
        (datetime(2021, 9, 14, 11, 0), datetime(2021, 9, 15, 0, 30)),  # Tue 18:00 → Wed 07:30
        (datetime(2021, 9, 17, 23, 0), datetime(2021, 9, 20, 0, 30)),  # Sat 06:00 → Mon 07:30
        (datetime(2021, 9, 2, 3, 0), datetime(2021, 9, 6, 0, 30)),  # 2–3/9 holidays → Mon 6/9
    ],
)
def test_outside_the_window_nothing_goes_and_rows_wait(
    app: App,
    smtp_server: SmtpServer,
    now: datetime,
    opening: datetime,
) -> None:
    enqueue(app, 2)
    with app.db.session() as session:  # due an hour ago
        session.execute(
            OutboxMessage.__table__.update().values(next_attempt_at=now - timedelta(hours=1))
        )
    report = deliver(app, now)
    assert report.window_closed and report.claimed == 0 and not report
    assert smtp_server.received() == []
    assert {r.next_attempt_at for r in rows(app)} == {opening}


def test_an_expired_lease_returns_the_row(app: App, smtp_server: SmtpServer) -> None:
    enqueue(app, 2)
    lease = app.config.worker.lease_s
    claimed = store.claim(app.db, NOW, "dead-worker/1", NOW + timedelta(seconds=lease), 1)
    assert len(claimed) == 1  # a sender claimed one row, then died
    report = deliver(app)
    assert report.sent == 1  # the other row; the claimed one is still leased
    report = deliver(app, NOW + timedelta(seconds=lease + 1))
    assert report.sent == 1
    assert {r.status for r in rows(app)} == {"sent"}
    assert [r.attempts for r in rows(app)] == [2, 1]


# -- letters ----------------------------------------------------------------------------------


def test_letter_numbers_are_a_per_year_sequence_kept_across_retries(
    app: App,
    smtp_server: SmtpServer,
) -> None:
    ctx = {"name": "Trần Thị Bình", "unit_name": "Sở Y tế", "deadline": "2021-09-21"}
    enqueue(app, 2, kind="urging_letter", **ctx)
    smtp_server.fail_data("451 4.3.0 later")
    deliver(app)
    numbers = [r.letter_number for r in rows(app)]
    assert numbers == ["01/SNgV-LSHTQT", "02/SNgV-LSHTQT"]
    smtp_server.fail_data(None)
    deliver(app, NOW + timedelta(hours=2))
    assert [r.letter_number for r in rows(app)] == numbers  # assigned once
    letters = sorted(m.message["X-Theodoi-Letter"] for m in smtp_server.received())
    assert letters == numbers
    new_year = datetime(2022, 1, 4, 2, 0)
    enqueue(app, 1, kind="urging_letter", **{**ctx, "name": "Lê Văn Cường"})
    deliver(app, new_year)
    assert rows(app)[-1].letter_number == "01/SNgV-LSHTQT"


# -- TLS and authentication -----------------------------------------------------------------------


def test_starttls_with_login_password_from_the_environment(tmp_path: Path) -> None:
    server = SmtpServer(tls=True, users={"theodoi": "s3cret"}, cert_dir=tmp_path).start()
    try:
        app = open_app(
            tmp_path, server, THEODOI_SMTP__USERNAME="theodoi", THEODOI_SMTP__PASSWORD="s3cret"
        )
        enqueue(app, 2)
        assert deliver(app).sent == 2
        assert {m.authenticated_as for m in server.wait_for(2)} == {"theodoi"}
        app.close()
        wrong = open_app(
            tmp_path, server, THEODOI_SMTP__USERNAME="theodoi", THEODOI_SMTP__PASSWORD="nope"
        )
        enqueue(wrong, 1, kind="reminder", name="Khác")
        report = deliver(wrong)
        assert report.sent == 0 and report.circuit_open  # a login failure stops the pass
        wrong.close()
    finally:
        server.stop()


def test_implicit_tls(tmp_path: Path) -> None:
    server = SmtpServer(implicit_tls=True, cert_dir=tmp_path).start()
    try:
        app = open_app(tmp_path, server)
        enqueue(app, 1)
        assert deliver(app).sent == 1
        assert len(server.wait_for(1)) == 1
        app.close()
    finally:
        server.stop()


def test_history_records_the_sent_notice(app: App, smtp_server: SmtpServer) -> None:
    from tests.conftest import add_trip

    case_id = add_trip(app)  # its approval notice is enqueued with the case
    deliver(app)
    with app.db.session(write=False) as session:
        events = list(session.scalars(select(Event).where(Event.case_id == case_id)))
    sent = [e for e in events if e.event == "notice_sent"]
    assert len(sent) == 1 and sent[0].data["notice"] == "approval_notice"
    assert smtp_server.received()[0].message_id == sent[0].data["message_id"]


# -- PostgreSQL ---------------------------------------------------------------------------------


@pytest.mark.postgres
def test_postgres_two_senders_share_the_outbox(pg_url: str, smtp_server: SmtpServer) -> None:
    import threading

    config = make_config(pg_url, **smtp_server.config_env())
    app = wiring.open_app(config, ManualClock(NOW), upgrade=True, worker_id="pg")
    try:
        enqueue(app, 30)
        enqueue(app, 4, kind="urging_letter")
        reports = []

        def run(worker: str) -> None:
            reports.append(
                deliver_due(
                    app.db,
                    app.config,
                    NOW,
                    worker,
                    calendar=app.engine.calendar,
                    rng=random.Random(1),
                )
            )

        threads = [threading.Thread(target=run, args=(f"w{i}",)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert sum(r.sent for r in reports) == 34
        counts = smtp_server.message_ids()
        assert len(counts) == 34 and set(counts.values()) == {1}
        numbers = sorted(r.letter_number for r in rows(app) if r.kind == "urging_letter")
        assert numbers == [f"0{i}/SNgV-LSHTQT" for i in range(1, 5)]
        assert store.get_or_create_secret(app.db, "k", "a", NOW) == "a"
        assert store.get_or_create_secret(app.db, "k", "b", NOW) == "a"
    finally:
        app.close()
