"""One creation path per case type: a trip entered by hand today whose dates are past
lands where an import would put it (issue 11, acceptance), through the CLI and the web.

Official trip, departing 01/09/2021, back Monday 06/09/2021: its report was due
21/09/2021 and it has been escalated twice since; its history is dated in 2021, and
it gets at most one notice, the one that fits it now (never its approval notice).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlmodel import select

import storage.events
import storage.outbox
from engine.creation import Traveller, open_trips
from kernel.errors import InvalidInput
from storage.models import Case
from tests.acceptance.test_cli import run
from tests.acceptance.test_web_flows import client_for, page_csrf, site  # noqa: F401  (site: a fixture)
from tests.conftest import add_unit

TODAY = "2026-12-01 08:00"
TODAY_UTC = datetime(2026, 12, 1, 1, 0)
PAST_TRIP = [
    "trip", "add", "--decision", "88/QĐ-SNgV", "--decision-date", "2021-08-20",
    "--issuer", "department", "--name", "Lê Thị Quá Khứ", "--unit", "SYT",
    "--category", "unit", "--destination", "KH", "--purpose", "official",
    "--depart", "2021-09-01", "--return", "2021-09-06",
]


def _outbox_kinds(db: Path, case_id: int) -> list[str]:
    with sqlite3.connect(db) as conn:
        rows = conn.execute("select kind from outbox where case_id = ?", (case_id,)).fetchall()
    return [r[0] for r in rows]


def _assert_escalated_in_2021(state: str, level: int, deadline: str, ats: list[str]) -> None:
    assert (state, level, deadline) == ("escalated", 2, "2021-09-21")
    assert ats and all(at.startswith("2021-") for at in ats), ats


def test_cli_trip_entered_today_with_past_dates_is_escalated(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    run(db, "init")
    run(db, "unit", "add", "SYT", "--name", "Sở Y tế", "--email", "syt@example.vn",
        "--head-email", "gd.syt@example.vn")
    case_id = run(db, "--now", TODAY, *PAST_TRIP).stdout.strip()
    shown = json.loads(run(db, "--now", TODAY, "show", case_id, "--format", "json").stdout)
    moves = [e for e in shown["history"] if e["to"]]
    _assert_escalated_in_2021(shown["state"], shown["escalation_level"], shown["deadline"],
                              [e["at"] for e in moves])
    assert [e["event"] for e in moves][:4] == ["create", "depart", "return", "open_report"]
    assert moves[0]["at"] == "2021-08-19T17:00:00"  # the start of the decision day
    kinds = _outbox_kinds(db, int(case_id))
    assert len(set(kinds)) <= 1 and "approval_notice" not in kinds, kinds


def test_cli_recorded_departure_and_return_rearm_the_timers(tmp_path: Path) -> None:
    """A trip planned for later leaves and comes back early; both recorded by hand, with
    their dates: the case lands where those dates put it, with its timers."""
    db = tmp_path / "cli.db"
    run(db, "init")
    run(db, "unit", "add", "SYT", "--name", "Sở Y tế", "--email", "syt@example.vn")
    trip = [*PAST_TRIP[:-4], "--depart", "2027-01-10", "--return", "2027-01-15"]
    trip[trip.index("--decision-date") + 1] = "2026-09-01"
    recent = run(db, "--now", TODAY, *trip).stdout.strip()
    trip[trip.index("--name") + 1] = "Trần Văn Về Sớm"
    early = run(db, "--now", TODAY, *trip).stdout.strip()
    # back a week ago: report due, its reminders and deadline armed
    run(db, "--now", TODAY, "event", recent, "depart", "--on", "2026-11-20")
    run(db, "--now", TODAY, "event", recent, "return", "--on", "2026-11-24")
    # back in September: the deadline and the escalations are long past
    run(db, "--now", TODAY, "event", early, "depart", "--on", "2026-09-01")
    back = run(db, "--now", TODAY, "event", early, "return", "--on", "2026-09-07")
    assert back.stdout.strip() == f"case {early}: escalated"
    with sqlite3.connect(db) as conn:
        pending = dict(conn.execute(
            "select kind, count(*) from timer where case_id = ? and status = 'pending' "
            "group by kind", (int(recent),)).fetchall())
        deadline = conn.execute("select deadline from 'case' where id = ?", (int(recent),))
        assert deadline.fetchone()[0] == "2026-12-09"
    assert pending.get("deadline") == 1 and pending.get("reminder", 0) >= 1, pending
    shown = json.loads(run(db, "--now", TODAY, "show", early, "--format", "json").stdout)
    moves = [(e["event"], e["at"][:10]) for e in shown["history"] if e["to"]]
    assert moves[1:4] == [("depart", "2026-08-31"), ("return", "2026-09-06"),
                          ("open_report", "2026-09-06")]  # local midnight, in UTC
    assert ("deadline_passed", "2026-09-22") in moves and shown["escalation_level"] == 2


def test_web_new_decision_with_past_dates_is_escalated(site: dict[str, Any]) -> None:  # noqa: F811
    app = site["app"]
    site["clock"].set(TODAY_UTC)
    client = client_for(site, "coord@snv.vn")
    form = {"csrf_token": page_csrf(client, "/decisions/new"), "rows": "1",
            "number": "88/QĐ-SNgV", "decided_on": "2021-08-20", "issuer": "department",
            "t0_name": "Lê Thị Quá Khứ", "t0_unit": "SYT", "t0_category": "unit",
            "t0_purpose": "official", "t0_destinations": "KH",
            "t0_departure": "2021-09-01", "t0_return": "2021-09-06"}
    assert client.post("/decisions/new", data=form).status_code == 303
    with app.db.session(write=False) as s:
        [case] = s.exec(select(Case)).all()
        events = storage.events.case_events(s, case.id)
        outbox = storage.outbox.outbox_for_case(s, case.id)
    moves = [e for e in events if e.to_state]
    _assert_escalated_in_2021(case.state, case.escalation_level, case.deadline.isoformat(),
                              [e.at.isoformat() for e in moves])
    kinds = [m.kind for m in outbox]
    assert len(set(kinds)) <= 1 and "approval_notice" not in kinds, kinds


def test_a_trip_still_ahead_gets_its_approval_notice(app: Any, clock: Any) -> None:
    unit = add_unit(app)
    traveller = Traveller(name="Nguyễn  Văn Sắp Đi", unit_id=unit.id, category="unit",
                          country_codes="KH", purpose="official",
                          departure=date(2021, 9, 1), return_=date(2021, 9, 6))
    with app.db.session() as s:
        [case] = open_trips(app.engine, s, number="90/QĐ-SNgV", decided_on=date(2021, 7, 30),
                            issuer="department", travellers=[traveller], actor="test")
        assert case.state == "approved" and case.name == "Nguyễn Văn Sắp Đi"
        assert [m.kind for m in storage.outbox.outbox_for_case(s, case.id)] == ["approval_notice"]
        assert storage.events.case_events(s, case.id)[0].at == datetime(2021, 7, 29, 17, 0)
    with app.db.session() as s:  # the same traveller (however spelt) is refused
        again = Traveller(**{**traveller.__dict__, "name": "nguyen van sap di"})
        try:
            open_trips(app.engine, s, number="90/QĐ-SNgV", decided_on=date(2021, 7, 30),
                       issuer="department", travellers=[again], actor="test")
        except InvalidInput as exc:
            assert exc.field == "name" and "already case" in exc.message
        else:
            raise AssertionError("a second trip for the same traveller was opened")
