"""``Engine.replay_many``: cases opened as of the past, their steps replayed and all
written in one batch, end exactly as the engine's one-case steps leave them when
they are taken at the same instants (``create_case``, then ``fire`` as the clock
reaches each step, then the sweep)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

import storage.cases
import storage.events
import storage.outbox
import storage.timers
from cli.wiring import open_app
from engine.app import App
from engine.runtime import CaseSpec
from kernel.clock import ManualClock
from kernel.errors import InvalidInput
from storage.models import Case, OutboxMessage
from tests.conftest import add_unit, make_config
from tests.pg import pg_schema, require_pg

CREATED = datetime(2021, 7, 31, 17, 0)  # 1/8/2021 00:00 local
NOW = datetime(2021, 10, 15, 3, 0)  # 15/10/2021 10:00 local: past the deadline and level 2
FILED = datetime(2021, 9, 10, 1, 0)  # 10/9 08:00 local: on time (deadline 21/9)
LATE = datetime(2021, 10, 1, 1, 0)  # 1/10 08:00 local: overdue, escalated once
EXTENDED = datetime(2021, 9, 24, 17, 0)  # 25/9 00:00 local: an extension to 24/9 ends


def _trip(name: str, **fields: Any) -> dict[str, Any]:
    values = {
        "name": name,
        "name_key": name.lower(),
        "category": "unit",
        "country_codes": "KH",
        "purpose": "official",
        "email": "an.nguyen@example.vn",
        "planned_start": date(2021, 8, 30),
        "planned_end": date(2021, 9, 6),
    }
    return {**values, **fields}


def _specs(unit_id: int) -> list[CaseSpec]:
    why = "imported from test.csv"
    on_time = {"on": date(2021, 9, 10)}
    return [
        CaseSpec("trip", _trip("Escalated", unit_id=unit_id), CREATED, reason=why),
        CaseSpec("trip", _trip("Filed", unit_id=unit_id), CREATED, [(FILED, "file", on_time, why)]),
        CaseSpec(
            "trip",
            _trip("Closed", unit_id=unit_id),
            CREATED,
            [(FILED, "file", on_time, why), (FILED, "accept", {}, "đạt")],
        ),
        CaseSpec("trip", _trip("Late", unit_id=unit_id), CREATED, [(LATE, "file", {}, None)]),
        CaseSpec(  # filed at the very instant the extended deadline passes: that timer,
            "trip",  # armed by the step before, fires first
            _trip("Tied", unit_id=unit_id),
            CREATED,
            [
                (FILED, "extend", {"until": date(2021, 9, 24)}, "Đơn vị xin gia hạn"),
                (EXTENDED, "file", {}, None),
            ],
        ),
        CaseSpec(
            "trip",
            _trip("Cancelled", unit_id=unit_id),
            CREATED,
            [(datetime(2021, 8, 20, 2, 0), "cancel", {}, "Hoãn chuyến đi")],
        ),
        CaseSpec(  # still ahead: departs in November
            "trip",
            _trip("Ahead", unit_id=unit_id, planned_start=date(2021, 11, 2),
                  planned_end=date(2021, 11, 9)),
            datetime(2021, 10, 14, 17, 0),
        ),
    ]


@pytest.fixture(params=["sqlite", "postgresql"])
def two_apps(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[App, App, ManualClock]]:
    """The batch's app (clock at NOW; SQLite or PostgreSQL) and the one-case path's
    app (SQLite, its clock moved by hand)."""
    with ExitStack() as stack:
        if request.param == "postgresql":
            _schema, batch_url = stack.enter_context(pg_schema(require_pg()))
        else:
            batch_url = f"sqlite:///{tmp_path / 'batch.db'}"
        reference_clock = ManualClock(CREATED)
        urls = ((batch_url, ManualClock(NOW)), (f"sqlite:///{tmp_path / 'one.db'}", reference_clock))
        apps = []
        for url, clock in urls:
            app = open_app(make_config(url), clock, upgrade=True, worker_id="test")
            stack.callback(app.close)
            apps.append(app)
        yield apps[0], apps[1], reference_clock


def _one_by_one(app: App, clock: ManualClock, specs: list[CaseSpec]) -> None:
    """The engine's public one-case steps at the specs' instants, without notices."""
    for spec in specs:
        clock.set(spec.steps[0][0] if spec.steps else NOW)
        with app.db.session() as session:
            case = app.engine.create_case(
                session, spec.workflow, spec.fields, actor="import", at=spec.created_at,
                notify=False, reason=spec.reason,
            )
        for at, event, params, reason in spec.steps:
            clock.set(at)
            with app.db.session() as session:
                app.engine.fire(
                    session, case.id, event, actor="import", at=at, reason=reason,
                    params=params, notify=False,
                )
    clock.set(NOW)


def _cases(app: App, *, notices: bool = True) -> dict[str, tuple]:
    """Each case by name: its fields, its history in order, its pending timers, and
    the notices skipped (as a set: the one-case path records a step's skipped notices
    with that step's write, the batch after all of a case's steps)."""
    out = {}
    with app.db.session(write=False) as session:
        for case in storage.cases.find_cases(session, workflow="trip"):
            fields = case.model_dump(exclude={"id", "created_at", "updated_at"})
            rows = [
                (e.event, e.from_state, e.to_state, e.actor, e.at, e.reason, e.data)
                for e in storage.events.case_events(session, case.id)
            ]
            history = [r for r in rows if r[0] != "notice_skipped"]
            skipped = sorted(repr(r) for r in rows if notices and r[0] == "notice_skipped")
            timers = [(t.kind, t.level, t.fire_at) for t in storage.timers.pending_timers(session, case.id)]
            out[case.name] = (fields, history, timers, skipped)
    return out


def test_a_batch_writes_what_the_one_case_steps_write(two_apps) -> None:
    batch, one, clock = two_apps
    specs = _specs(add_unit(batch).id)
    with batch.db.session() as session:
        cases = batch.engine.replay_many(session, specs, actor="import")
    _one_by_one(one, clock, _specs(add_unit(one).id))
    with one.db.session(write=False) as session:
        assert storage.timers.due_timer_count(session, NOW) == 0  # nothing left for a sweep

    # ids come back in the order of the specs, on the cases as they were written
    assert [c.name for c in cases] == [s.fields["name"] for s in specs]
    assert [c.id for c in cases] == sorted(c.id for c in cases)
    ours, theirs = _cases(batch), _cases(one)
    for case in cases:
        assert ours[case.name][0]["state"] == case.state
    states = {name: item[0]["state"] for name, item in ours.items()}
    assert states == {
        "Escalated": "escalated", "Filed": "report_filed", "Closed": "closed",
        "Late": "report_filed", "Tied": "report_filed", "Cancelled": "cancelled",
        "Ahead": "approved",
    }
    assert ours["Late"][0]["filed_late"] is True and ours["Filed"][0]["filed_late"] is False
    assert [h[2] for h in ours["Tied"][1]][-2:] == ["overdue", "report_filed"]
    escalated = [h for h in ours["Escalated"][1] if h[0] == "escalate"]
    assert [h[6]["timer"] for h in escalated] == ["escalate", "escalate_next"]  # in memory
    assert ours["Escalated"][0]["escalation_level"] == 2
    assert ours["Ahead"][2] == [("depart", 1, datetime(2021, 11, 1, 17, 0))]
    assert ours == theirs
    with batch.db.session(write=False) as session:  # notify=False: the past is not sent
        assert session.execute(select(func.count()).select_from(OutboxMessage)).scalar() == 0


def test_timers_fire_between_the_steps(two_apps) -> None:
    """Filed on time, rejected a week later, then never filed again: the new deadline
    passes and the case escalates, in memory, between the last step and now."""
    batch, one, clock = two_apps
    steps = [
        (FILED, "file", {"on": date(2021, 9, 10)}, None),
        (datetime(2021, 9, 16, 2, 0), "reject", {}, "Báo cáo sơ sài"),
    ]
    spec = CaseSpec("trip", _trip("Rejected", unit_id=add_unit(batch).id), CREATED, steps)
    with batch.db.session() as session:
        [case] = batch.engine.replay_many(session, [spec], actor="import")
    _one_by_one(one, clock, [CaseSpec("trip", _trip("Rejected", unit_id=add_unit(one).id),
                                      CREATED, steps)])
    one.engine.sweep()  # the one-case path catches up from the stored timers
    ours, theirs = _cases(batch, notices=False), _cases(one, notices=False)
    assert case.state == "escalated"
    assert [h[0] for h in ours["Rejected"][1]] == [
        "create", "depart", "return", "open_report", "file", "reject",
        "reminder", "deadline_passed", "escalate", "escalate",
    ]  # the new deadline (23/9) passes after the reject, then two escalations
    assert ours["Rejected"][0]["deadline"] == date(2021, 9, 23)
    assert ours == theirs


def test_steps_out_of_order_are_refused_and_nothing_is_written(
    app: App, clock: ManualClock
) -> None:
    clock.set(NOW)
    unit = add_unit(app)
    good = CaseSpec("trip", _trip("Good", unit_id=unit.id), CREATED)
    backwards = CaseSpec(
        "trip", _trip("Backwards", unit_id=unit.id), CREATED,
        [(FILED, "file", {}, None), (FILED.replace(day=1), "accept", {}, None)],
    )
    future = CaseSpec(
        "trip", _trip("Future", unit_id=unit.id), CREATED, [(NOW.replace(day=20), "file", {}, None)]
    )
    for bad, event in ((backwards, "accept"), (future, "file")):
        with pytest.raises(InvalidInput, match=event), app.db.session() as session:
            app.engine.replay_many(session, [good, bad], actor="import")
    with app.db.session(write=False) as session:
        assert session.execute(select(func.count()).select_from(Case)).scalar() == 0


def test_with_notify_each_case_sends_only_its_latest_notice(two_apps) -> None:
    batch, _one, _clock = two_apps
    specs = _specs(add_unit(batch).id)
    with batch.db.session() as session:
        cases = batch.engine.replay_many(session, specs, actor="import", notify=True)
    with batch.db.session(write=False) as session:
        sent = {c.name: [m.kind for m in storage.outbox.outbox_for_case(session, c.id)] for c in cases}
    assert sent["Escalated"] == ["escalation"]
    assert sent["Ahead"] == ["approval_notice"]
    assert all(len(kinds) <= 1 for kinds in sent.values())


def test_a_new_childs_news_reaches_its_parent_with_the_childs_id(
    app: App, clock: ManualClock
) -> None:
    """A project opened in 2020 and replayed to 2022, its final report on record as
    filed: the report (a child opened in the same transaction) is filed as it opens
    and tells the project, naming itself by the id it got only when inserted."""
    from tests import ngo_support
    from workflows.ngo_project import project_fields

    clock.set(datetime(2022, 3, 20, 3, 0))
    fields = project_fields(
        name="Nước sạch cho trường học", project_code="WV-2020-01",
        unit_id=ngo_support.add_unit(app).id, start=date(2020, 3, 1), end=date(2022, 2, 28),
        ngo_name="World Vision International", reports_filed={"final": "2022-03-08"},
    )
    spec = CaseSpec("ngo_project", fields, datetime(2020, 2, 1, 1, 0))
    with app.db.session() as session:
        [project] = app.engine.replay_many(session, [spec], actor="import")
    final = ngo_support.children(app, project.id)["final"]
    told = [e for e in ngo_support.history(app, project.id) if e.event == "obligation_filed"]
    assert final.state == "filed"
    assert [(e.to_state, e.data["child_id"]) for e in told] == [("final_report_filed", final.id)]
