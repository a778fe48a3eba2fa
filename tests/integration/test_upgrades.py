"""Upgrades from every earlier version: a database made at each earlier revision, with
rows written as that revision's schema had them, upgraded to head; the data is there
under the new names and the runner then sweeps it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from cli.wiring import open_app
from engine.cycle import run_cycle
from kernel.clock import ManualClock
from kernel.errors import StorageError
from storage.db import Database, alembic_config, head_revision
from tests.conftest import make_config
from tests.pg import pg_schema, require_pg

SCRIPTS = ScriptDirectory.from_config(alembic_config("sqlite://"))
EARLIER = [s.revision for s in reversed(list(SCRIPTS.walk_revisions())) if s.revision != head_revision()]
NOW = datetime(2026, 3, 10, 2, 0)  # Tuesday 09:00 in Tây Ninh


def test_every_migration_is_covered() -> None:
    names = sorted(p.stem for p in (Path(SCRIPTS.dir) / "versions").glob("0*.py"))
    assert names == [*EARLIER, head_revision()]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        db = Database(f"sqlite:///{tmp_path / 'old.db'}")
        yield db
        db.dispose()
        return
    with pg_schema(require_pg(), "up") as (_schema, url):
        db = Database(url)
        yield db
        db.dispose()


def seed_at(db: Database, revision: str) -> None:
    """A unit, a trip waiting for its report with a reminder due now, its history, a
    queued notice and a user — in the columns of ``revision``."""
    renamed = revision >= "0003"
    start, end, countries = (
        ("planned_start", "planned_end", "country_codes") if renamed
        else ("planned_departure", "planned_return", "destinations")
    )
    actual_start, actual_end = ("actual_start", "actual_end") if renamed else (
        "actual_departure", "actual_return")
    now = {"now": NOW - timedelta(days=9)}
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO unit (code, name, email, head_email, language) VALUES "
                          "('SYT', 'Sở Y tế', 'syt@example.vn', 'gd@example.vn', 'vi')"))
        conn.execute(text(
            f'INSERT INTO "case" (workflow, state, version, unit_id, name, name_key, '
            f"category, purpose, email, {start}, {end}, {actual_start}, {actual_end}, "
            f"{countries}, deadline, escalation_level, data, created_at, updated_at) VALUES "
            "('trip', 'report_due', 1, 1, 'Nguyễn Văn A', 'nguyen van a', 'unit', "
            "'official', 'a@example.vn', '2026-02-20', '2026-03-01', '2026-02-20', "
            "'2026-03-01', 'KH,KR', '2026-03-31', 0, '{}', :now, :now)"), now)
        conn.execute(text(
            "INSERT INTO timer (case_id, kind, level, fire_at, status) VALUES "
            "(1, 'reminder', 1, :due, 'pending'), (1, 'deadline', 1, :later, 'pending')"),
            {"due": NOW - timedelta(hours=1),
             "later": datetime(2026, 3, 31, 17, 0)})
        conn.execute(text(
            "INSERT INTO event (case_id, event, from_state, to_state, actor, at, "
            "recorded_at, data) VALUES (1, 'open_report', 'returned', 'report_due', "
            "'system', :now, :now, '{}')"), now)
        conn.execute(text(
            "INSERT INTO outbox (key, kind, case_id, level, language, to_addrs, cc_addrs, "
            "context, status, attempts, next_attempt_at, refused, message_id, created_at) "
            "VALUES ('old-notice', 'reminder', 1, 0, 'vi', '[\"a@example.vn\"]', '[]', :ctx, "
            "'pending', 0, :now, '[]', '<m1@theodoi>', :now)"),
            {**now, "ctx": json.dumps({"case": {end: "2026-03-01", countries: "KH,KR"}})})
        conn.execute(text(
            "INSERT INTO app_user (email, role, language, active, created_at) VALUES "
            "('admin@snv.vn', 'admin', 'vi', :yes, :now)"), {**now, "yes": True})


@pytest.mark.parametrize("revision", EARLIER)
def test_upgrade_from_every_earlier_revision(empty: Database, revision: str) -> None:
    empty.upgrade(revision)
    assert empty.revision() == revision
    seed_at(empty, revision)
    empty.upgrade()
    assert empty.revision() == head_revision()
    with empty.engine.connect() as conn:
        case = conn.execute(text(
            'SELECT planned_start, planned_end, actual_end, country_codes, state FROM "case"')).one()
        (context,) = conn.execute(text("SELECT context FROM outbox WHERE id = 1")).one()
        user = conn.execute(text("SELECT email, session_epoch FROM app_user")).one()
    assert [str(v) for v in case] == ["2026-02-20", "2026-03-01", "2026-03-01", "KH,KR", "report_due"]
    context = context if isinstance(context, dict) else json.loads(context)
    assert context == {"case": {"planned_end": "2026-03-01", "country_codes": "KH,KR"}}
    assert tuple(user) == ("admin@snv.vn", 0)

    app = open_app(make_config(empty.url), ManualClock(NOW))
    try:
        swept = run_cycle(app, None).swept
    finally:
        app.close()
    assert swept.fired == 1
    with empty.engine.connect() as conn:
        timers = conn.execute(text("SELECT id, status FROM timer ORDER BY id")).all()
        events = conn.execute(text("SELECT event FROM event ORDER BY id")).scalars().all()
        notices = conn.execute(text("SELECT count(*) FROM outbox")).scalar()
    assert [tuple(t) for t in timers] == [(1, "fired"), (2, "pending")]
    assert events == ["open_report", "reminder"] and notices >= 2


def test_a_newer_schema_is_refused_not_downgraded(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'new.db'}")
    db.upgrade()
    with db.engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0099_from_the_future'"))
    with pytest.raises(StorageError, match="downgrades are refused"):
        db.upgrade()
    assert db.revision() == "0099_from_the_future"
    db.dispose()
