"""The compliance report's NGO figures, computed from the obligations' history."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from engine.reports import Period, compliance
from kernel.clock import ManualClock
from tests.ngo_support import add_project, add_unit, children, fire, run_until


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2020, 2, 20, 1, 0))


def test_ngo_by_agency_and_by_ngo_from_history(app):
    unit = add_unit(app)
    first = add_project(app, unit)
    second = add_project(
        app,
        add_unit(app, "SGDDT"),
        receiving_agency="Sở Giáo dục và Đào tạo",
        ngo_name="Plan International",
    )
    run_until(app, date(2020, 7, 10), time(9, 0))
    fire(app, children(app, first)["2020-H1"].id, "file")  # on time
    run_until(app, date(2021, 1, 25), time(9, 0))
    fire(app, children(app, second)["2020-Y"].id, "file")  # late
    run_until(app, date(2021, 3, 1))

    tz = app.config.organisation.tz
    with app.db.session(write=False) as session:
        report = compliance(
            session, Period(date(2020, 1, 1), date(2020, 12, 31)), date(2021, 3, 1), tz
        )
        whole = compliance(
            session, Period(date(2020, 1, 1), date(2021, 12, 31)), date(2021, 3, 1), tz
        )
        before = compliance(
            session, Period(date(2020, 1, 1), date(2021, 12, 31)), date(2020, 7, 12), tz
        )

    # Deadlines in 2020: only the six-month reports (15/07/2020).
    by_agency = {row["receiving_agency"]: row for row in report["ngo_by_agency"]}
    assert by_agency["UBND huyện Tân Biên"] == {
        "receiving_agency": "UBND huyện Tân Biên",
        "obligations": 1,
        "due": 1,
        "filed": 1,
        "on_time": 1,
        "late": 0,
        "outstanding": 0,
        "not_yet_due": 0,
        "filed_pct": 100,
    }
    assert by_agency["Sở Giáo dục và Đào tạo"]["outstanding"] == 1
    assert by_agency["Sở Giáo dục và Đào tạo"]["filed_pct"] == 0

    # 2020 and 2021 deadlines as of 01/03/2021: the annual reports are in too.
    agencies = {row["receiving_agency"]: row for row in whole["ngo_by_agency"]}
    assert (
        agencies["Sở Giáo dục và Đào tạo"]["filed"],
        agencies["Sở Giáo dục và Đào tạo"]["late"],
    ) == (1, 1)
    assert agencies["Sở Giáo dục và Đào tạo"]["due"] == 2
    assert agencies["UBND huyện Tân Biên"]["outstanding"] == 1  # 2020-Y never filed
    assert agencies["UBND huyện Tân Biên"]["filed_pct"] == 50
    ngos = {row["ngo"]: row for row in whole["ngo_by_ngo"]}
    assert set(ngos) == {"World Vision International", "Plan International"}

    # As of 12/07/2020 (history, not today's state): one filed, one not yet due.
    early = {row["receiving_agency"]: row for row in before["ngo_by_agency"]}
    assert early["UBND huyện Tân Biên"]["filed"] == 1
    assert early["Sở Giáo dục và Đào tạo"]["not_yet_due"] == 1
    assert early["Sở Giáo dục và Đào tạo"]["due"] == 0
