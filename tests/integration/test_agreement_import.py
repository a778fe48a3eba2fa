"""``theodoi import agreements``: the agreement lands in the state its dates give."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from engine.imports import ImportOptions, ImportRefused, import_file
from kernel.clock import ManualClock
from tests.ngo_support import add_unit, case, children

CSV = (
    "Đối tác,Quốc gia đối tác,Tên thỏa thuận,Số hiệu,Ngày ký,Ngày hiệu lực,"
    "Ngày hết hiệu lực,Chu kỳ tổng kết,Đơn vị theo dõi\n"
    "Ủy ban hành chính tỉnh Prey Veng,Campuchia,Thỏa thuận hợp tác,TTQT-2018-PV,"
    "17/12/2018,17/12/2018,17/12/2021,3 years,SKHDT\n"
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2022, 1, 5, 2, 0))


def test_import_an_agreement_with_its_past(app, tmp_path):
    add_unit(app)
    path = tmp_path / "agreements.csv"
    path.write_text(CSV, encoding="utf-8")
    report = import_file(app, "agreements", path, ImportOptions())
    agreement = report.result.rows[0].case.id
    found = case(app, agreement)
    assert (found.state, found.country_codes, found.deadline) == (
        "expired",
        "KH",
        date(2021, 12, 17),
    )
    assert [(k, c.deadline) for k, c in children(app, agreement).items()] == [
        ("review-1", date(2022, 1, 17))
    ]
    assert import_file(app, "agreements", path, ImportOptions()).result.count("unchanged") == 1


def test_a_bad_row_refuses_the_file(app, tmp_path):
    add_unit(app)
    path = tmp_path / "agreements.csv"
    path.write_text(CSV.replace("3 years", "sometimes"), encoding="utf-8")
    with pytest.raises(ImportRefused) as refused:
        import_file(app, "agreements", path, ImportOptions())
    assert [p.column for p in refused.value.problems] == ["review_every"]
