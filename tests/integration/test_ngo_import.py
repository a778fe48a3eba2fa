"""``theodoi import ngo_projects``: all-or-nothing validation, backfill of filings,
idempotent re-import."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from engine.imports import ImportOptions, ImportRefused, import_file
from kernel.clock import ManualClock
from tests.ngo_support import add_unit, case, children

HEADER = (
    "Tên tổ chức;Tên dự án;Mã dự án;Chủ khoản viện trợ;Cơ quan chủ quản;Đơn vị theo dõi;"
    "Số quyết định phê duyệt;Ngày phê duyệt;Cơ quan phê duyệt;Giá trị;Loại tiền;"
    "Ngày bắt đầu;Ngày kết thúc;Địa bàn;Email chủ khoản viện trợ;Báo cáo đã nộp\n"
)
ROW = (
    "World Vision;Nước sạch Tân Biên;WV-01;UBND huyện Tân Biên;UBND tỉnh;SKHDT;"
    "12/QĐ-UBND;15/02/2020;UBND tỉnh;250,000;USD;01/03/2020;28/02/2022;Tân Biên;"
    'tb@example.vn;"{filed}"\n'
)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2021, 3, 1, 2, 0))  # 01/03/2021 09:00


def _write(tmp_path: Path, *rows: str) -> Path:
    path = tmp_path / "ngo.csv"
    path.write_text(HEADER + "".join(rows), encoding="utf-8")
    return path


def test_import_backfills_the_reports_in_their_history(app, tmp_path):
    add_unit(app)
    path = _write(tmp_path, ROW.format(filed="2020-H1:10/07/2020; 2020:2021-01-20"))
    report = import_file(app, "ngo_projects", path, ImportOptions())
    assert report.result.count("created") == 1
    project = report.result.rows[0].case.id
    reports = children(app, project)
    assert list(reports) == ["2020-H1", "2020-Y"]
    h1, year = reports["2020-H1"], reports["2020-Y"]
    assert (h1.state, h1.report_filed_on, h1.filed_late) == ("filed", date(2020, 7, 10), False)
    assert (year.state, year.report_filed_on, year.filed_late) == ("filed", date(2021, 1, 20), True)
    assert case(app, project).decision_id is not None

    again = import_file(app, "ngo_projects", path, ImportOptions())
    assert again.result.count("unchanged") == 1
    assert len(children(app, project)) == 2


def test_a_bad_file_is_refused_whole(app, tmp_path):
    add_unit(app)
    good = ROW.format(filed="")
    bad = ROW.format(filed="H1 2020").replace("WV-01", "WV-02").replace("28/02/2022", "28/02/2019")
    with pytest.raises(ImportRefused) as refused:
        import_file(app, "ngo_projects", _write(tmp_path, good, bad), ImportOptions())
    columns = sorted(p.column for p in refused.value.problems)
    assert columns == ["end_date", "reports_filed"]
    with app.db.session(write=False) as session:
        import storage.cases

        assert storage.cases.find_cases(session) == []
