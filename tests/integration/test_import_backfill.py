"""An import's batched path writes exactly the history of the engine's one-case steps.

The same file is imported twice into two databases: once in batches through
``Engine.replay_many`` (the default), once through ``Engine.create_case``/``fire``
case by case, with a manual clock stopped at each filing. Cases, history and pending
timers must agree (the instants at which rows were *recorded* differ by design: the
one-case path runs a clock stopped in the past)."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import pytest

import storage.cases
import storage.events
import storage.timers
from cli.wiring import open_app
from engine.app import App
from engine.imports import ImportOptions, import_file
from kernel.clock import ManualClock
from tests.conftest import make_config
from tests.import_support import DATA

EXTRA = (
    # a future trip (approved), one abroad now (travelling), one just back (report_due),
    # a private trip, a report filed early, a trip leaving on its decision day
    # (columns as in seed_trips_vi.csv; "," becomes ";" below)
    "50/QĐ-SNgV,01/08/2021,department,Tương Lai,,SYT,unit,Campuchia,công vụ,"
    "20/08/2021,25/08/2021,,\n"
    "51/QĐ-SNgV,01/08/2021,department,Đang Đi,,SCT,unit,Lào,công vụ,05/08/2021,12/08/2021,,\n"
    "52/QĐ-SNgV,02/08/2021,department,Vừa Về,,BVDK,unit,Hàn Quốc,việc riêng,"
    "03/08/2021,07/08/2021,,\n"
    "53/QĐ-SNgV,02/07/2021,UBND tỉnh,Nộp Sớm,Phó Chủ tịch,UBND-CT,BTV Tỉnh ủy,Nhật Bản,công vụ,"
    "05/07/2021,09/07/2021,09/07/2021,có\n"
    "54/QĐ-SNgV,05/07/2021,department,Đi Ngay,,DHTN,unit,KH,công vụ,05/07/2021,07/07/2021,,\n"
)


def _file(tmp_path: Path) -> Path:
    text = (DATA / "seed_trips_vi.csv").read_text(encoding="utf-8")
    extra = EXTRA.replace(",", ";")
    path = tmp_path / "trips.csv"
    path.write_text(text + extra, encoding="utf-8")
    return path


def _snapshot(app: App) -> list[tuple]:
    out = []
    with app.db.session(write=False) as session:
        for case in storage.cases.find_cases(session, workflow="trip"):
            fields = case.model_dump(exclude={"id", "created_at", "updated_at"})
            events = sorted(
                (e.event, e.from_state, e.to_state, e.actor, e.at, e.reason, repr(e.data))
                for e in storage.events.case_events(session, case.id)
            )
            timers = sorted(
                (t.kind, t.level, t.fire_at) for t in storage.timers.pending_timers(session, case.id)
            )
            out.append((case.name, sorted(fields.items(), key=str), events, timers))
    return sorted(out, key=lambda item: item[0])


@pytest.mark.parametrize(
    "now",
    [datetime(2021, 8, 10, 2, 0), datetime(2021, 11, 23, 2, 0), datetime(2021, 8, 23, 18, 0)],
    ids=["aug-10", "inspection-day", "after-a-deadline"],
)
def test_batched_import_matches_the_one_case_steps(tmp_path: Path, now: datetime) -> None:
    path = _file(tmp_path)
    snapshots = []
    for bulk in (True, False):
        folder = tmp_path / ("bulk" if bulk else "engine")
        folder.mkdir()
        config = make_config(f"sqlite:///{folder / 'theodoi.db'}")
        app = open_app(config, ManualClock(now), upgrade=True, worker_id="test")
        try:
            import_file(app, "units", DATA / "units.csv", ImportOptions())
            import_file(app, "trips", path, ImportOptions(actor="import:test", bulk=bulk))
            snapshots.append(_snapshot(app))
        finally:
            app.close()
    bulk, engine = snapshots
    assert len(bulk) == 25
    states = {item[0]: dict(item[1])["state"] for item in bulk}
    if now.month == 8 and now.day == 10:
        assert {states["Tương Lai"], states["Đang Đi"], states["Vừa Về"]} == {
            "approved", "travelling", "report_due",
        }
    for ours, theirs in zip(bulk, engine, strict=True):
        assert ours == theirs
    shutil.rmtree(tmp_path / "bulk")
