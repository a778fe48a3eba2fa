"""The sender's database work: claims walk the due index, outcomes go in batches."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, insert, select, update

from cli.wiring import open_app
from engine.app import App
from kernel.clock import ManualClock
from notifications import smtp, store
from notifications.outbox import NoticePolicy, new_row
from storage import outbox as outbox_rows
from storage.models import Event, OutboxMessage
from tests import pg
from tests import smtp_server as smtp_fixture
from tests.conftest import make_config
from tests.smtp_server import SmtpServer

smtp_server = smtp_fixture.smtp_server  # the fixtures, used by name
pg_url = pg.pg_url

NOW = datetime(2021, 9, 14, 1, 0)  # Tuesday 08:00 in Tây Ninh, inside the send window


def _row(i: int, due: datetime, **over: Any) -> dict[str, Any]:
    values = new_row(
        key=f"db:{i}",
        kind="reminder",
        case_id=None,
        level=1,
        language="vi",
        to=[f"u{i}@example.vn"],
        cc=[],
        context={"name": f"Người {i}", "deadline": "2021-09-21"},
        now=NOW - timedelta(days=1),
        domain="songoaivu.local",
        policy=NoticePolicy(),
    )
    values.update(next_attempt_at=due, claimed_by=None, claimed_until=None)  # same keys for all
    values.update(over)
    return values


def _fill(app: App, n: int) -> None:
    """n rows: one in four pending (due at spread-out instants), the rest sent."""
    rows = [
        _row(i, NOW - timedelta(minutes=i % 500), status="pending" if i % 4 == 0 else "sent")
        for i in range(n)
    ]
    with app.db.session() as session:
        session.execute(insert(outbox_rows.OUTBOX), rows)


def _plan(app: App, stmt: Any, explain: str) -> str:
    with app.db.engine.connect() as conn:
        compiled = stmt.compile(dialect=conn.dialect)
        params: Any = compiled.construct_params()
        if compiled.positiontup is not None:
            params = tuple(params[name] for name in compiled.positiontup)
        rows = conn.exec_driver_sql(f"{explain} {compiled}", params).all()
    return "\n".join(" ".join(str(v) for v in r) for r in rows)


@pytest.fixture
def sqlite_app(tmp_path: Path) -> Iterator[App]:
    app = open_app(make_config(f"sqlite:///{tmp_path / 'o.db'}"), ManualClock(NOW), upgrade=True)
    yield app
    app.close()


def test_sqlite_claims_walk_the_partial_due_index(sqlite_app: App) -> None:
    _fill(sqlite_app, 400)
    due = _plan(sqlite_app, outbox_rows.due_ids("sqlite", NOW, 32), "EXPLAIN QUERY PLAN")
    assert "USING INDEX ix_outbox_due" in due and "TEMP B-TREE" not in due, due
    expired = _plan(sqlite_app, outbox_rows.expired_ids("sqlite", NOW, 32), "EXPLAIN QUERY PLAN")
    assert "USING INDEX ix_outbox_status" in expired, expired


@pytest.mark.postgres
def test_postgres_claims_walk_the_partial_due_index(pg_url: str) -> None:
    app = open_app(make_config(pg_url), ManualClock(NOW), upgrade=True)
    try:
        _fill(app, 8000)
        with app.db.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE outbox")
        due = _plan(app, outbox_rows.due_ids("postgresql", NOW, 32), "EXPLAIN")
        assert "Index Scan using ix_outbox_due" in due and "Sort" not in due, due
        expired = _plan(app, outbox_rows.expired_ids("postgresql", NOW, 32), "EXPLAIN")
        assert "ix_outbox_status" in expired and "Seq Scan" not in expired, expired
    finally:
        app.close()


def test_claim_takes_expired_leases_then_due_rows_oldest_first(sqlite_app: App) -> None:
    rows = [
        _row(0, NOW - timedelta(minutes=5)),  # due
        _row(1, NOW - timedelta(minutes=50)),  # due, older
        _row(2, NOW + timedelta(minutes=5)),  # not yet due
        _row(3, NOW - timedelta(hours=2), status="sending", claimed_by="dead/1"),
        _row(4, NOW - timedelta(hours=3), status="sending", claimed_by="alive/1"),
        _row(5, NOW - timedelta(minutes=1), status="sent"),
    ]
    rows[3]["claimed_until"] = NOW - timedelta(seconds=1)  # its sender died
    rows[4]["claimed_until"] = NOW + timedelta(seconds=30)  # still held
    store.insert_rows(sqlite_app.db, rows)
    lease = NOW + timedelta(seconds=60)
    first = store.claim(sqlite_app.db, NOW, "me/1", lease, 2)
    assert {r["key"] for r in first} == {"db:3", "db:1"}
    assert all(r["status"] == "sending" and r["claimed_by"] == "me/1" for r in first)
    second = store.claim(sqlite_app.db, NOW, "me/2", lease, 10)
    assert [r["key"] for r in second] == ["db:0"]
    assert store.claim(sqlite_app.db, NOW, "me/3", lease, 10) == []


def test_outcomes_of_many_messages_share_a_few_transactions(
    tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smtp, "RECORD_AFTER_S", 3600.0)  # only full batches and claims write
    config = make_config(
        f"sqlite:///{tmp_path / 'o.db'}", **smtp_server.config_env(), THEODOI_SMTP__CONNECTIONS="2"
    )
    app = open_app(config, ManualClock(NOW), upgrade=True, worker_id="test")
    try:
        n = 48
        store.insert_rows(app.db, [_row(i, NOW - timedelta(minutes=1)) for i in range(n)])
        with app.db.session() as session:  # one row cannot be rendered: parked, with an alert
            session.execute(
                update(outbox_rows.OUTBOX)
                .where(outbox_rows.OUTBOX.c.key == "db:0")
                .values(to_addrs=["not an address"])
            )
        smtp_server.refuse("u1@example.vn", "451 4.3.0 try later")  # one to retry
        commits = 0

        def count(_conn: Any) -> None:
            nonlocal commits
            commits += 1

        event.listen(app.db.engine, "commit", count)
        report = smtp.deliver_due(
            app.db, app.config, NOW, "test", calendar=app.engine.calendar, rng=random.Random(1)
        )
        event.remove(app.db.engine, "commit", count)
        assert report.sent == n - 2 + 1 and report.retried == 1 and report.parked == 1  # + alert
        # One transaction per message would be 48 or more; claims of 16 rows and
        # batches of outcomes make about a dozen.
        assert commits <= n // 3, commits
        with app.db.session(write=False) as session:
            statuses = {r.key: r.status for r in session.scalars(select(OutboxMessage))}
            assert statuses["db:0"] == "parked" and statuses["db:1"] == "pending"
            assert sum(s == "sent" for s in statuses.values()) == n - 2 + 1  # and the alert
            assert (
                session.scalar(select(OutboxMessage.claimed_by).where(OutboxMessage.key == "db:2"))
                is None
            )
            assert not list(session.scalars(select(Event)))  # rows without a case: no history
    finally:
        app.close()
