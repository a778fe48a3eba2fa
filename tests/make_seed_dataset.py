"""Generate the import fixtures in tests/data/ and the template examples in docs/examples/.

The trips are shaped like inspection conclusion 02/KL-SNgV (Tây Ninh, 23/11/2021):
from 01/01/2020 to 31/08/2021, 19 decisions covering 20 travellers; the province
(UBND tỉnh) issued 1 decision for 1 traveller, the department (Sở Ngoại vụ) 18 for 19;
the one standing-committee traveller reported (1/1, 100%), 6 of the 19 unit-category
travellers did (6/19, 32%). Decision numbers restart every year: there is a
09/QĐ-SNgV in 2020 and another in 2021.

Run ``.venv/bin/python tests/make_seed_dataset.py`` after changing it; the generated
files are committed so that tests and docs do not depend on running it.
"""

from __future__ import annotations

import csv
import io
import sys
import zipfile
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
EXAMPLES = ROOT / "docs" / "examples"

UNITS = [
    ("SYT", "Sở Y tế", "syt@tayninh.local", "giamdoc.syt@tayninh.local", "vi"),
    ("SCT", "Sở Công Thương", "sct@tayninh.local", "giamdoc.sct@tayninh.local", "vi"),
    (
        "SVHTTDL",
        "Sở Văn hóa, Thể thao và Du lịch",
        "svhttdl@tayninh.local",
        "giamdoc.svhttdl@tayninh.local",
        "vi",
    ),
    (
        "SNNPTNT",
        "Sở Nông nghiệp và Phát triển nông thôn",
        "snnptnt@tayninh.local",
        "giamdoc.snnptnt@tayninh.local",
        "vi",
    ),
    (
        "UBND-CT",
        "UBND huyện Châu Thành",
        "ubnd.chauthanh@tayninh.local",
        "chutich.chauthanh@tayninh.local",
        "vi",
    ),
    (
        "UBND-TB",
        "UBND huyện Tân Biên",
        "ubnd.tanbien@tayninh.local",
        "chutich.tanbien@tayninh.local",
        "vi",
    ),
    ("BVDK", "Bệnh viện Đa khoa tỉnh", "bvdk@tayninh.local", "giamdoc.bvdk@tayninh.local", "vi"),
    (
        "DHTN",
        "Trường Cao đẳng Sư phạm Tây Ninh",
        "cdsp@tayninh.local",
        "hieutruong.cdsp@tayninh.local",
        "en",
    ),
]

D = date
# decision number, decision date, issuer, name, position, unit, category, country_codes,
# purpose, departure, return, report filed, report accepted
TRIPS = [
    (
        "125/QĐ-UBND",
        D(2020, 1, 6),
        "province",
        "Trần Quốc Hưng",
        "Phó Chủ tịch UBND tỉnh",
        "UBND-CT",
        "standing_committee",
        "Campuchia",
        "official",
        D(2020, 1, 13),
        D(2020, 1, 16),
        D(2020, 1, 28),
        "yes",
    ),
    (
        "01/QĐ-SNgV",
        D(2020, 1, 8),
        "department",
        "Nguyễn Thị Mai",
        "Phó Giám đốc",
        "SYT",
        "unit",
        "Campuchia",
        "official",
        D(2020, 1, 14),
        D(2020, 1, 17),
        D(2020, 1, 30),
        "yes",
    ),
    (
        "04/QĐ-SNgV",
        D(2020, 1, 15),
        "department",
        "Lê Văn Thành",
        "Trưởng phòng",
        "SCT",
        "unit",
        "Hàn Quốc",
        "official",
        D(2020, 2, 10),
        D(2020, 2, 15),
        None,
        "",
    ),
    (
        "07/QĐ-SNgV",
        D(2020, 1, 20),
        "department",
        "Phạm Minh Tuấn",
        "Chuyên viên",
        "SVHTTDL",
        "unit",
        "KR",
        "official",
        D(2020, 2, 17),
        D(2020, 2, 24),
        D(2020, 3, 30),
        "no",
    ),
    (
        "07/QĐ-SNgV",
        D(2020, 1, 20),
        "department",
        "Võ Thị Hồng Nhung",
        "Diễn viên",
        "SVHTTDL",
        "unit",
        "KR",
        "official",
        D(2020, 2, 17),
        D(2020, 2, 24),
        None,
        "",
    ),
    (
        "09/QĐ-SNgV",
        D(2020, 2, 3),
        "department",
        "Đặng Văn Lợi",
        "Phó Chủ tịch",
        "UBND-TB",
        "unit",
        "Campuchia",
        "official",
        D(2020, 2, 12),
        D(2020, 2, 14),
        None,
        "",
    ),
    (
        "12/QĐ-SNgV",
        D(2020, 2, 11),
        "department",
        "Huỳnh Thị Thu Trang",
        "Bác sĩ",
        "BVDK",
        "unit",
        "Singapore",
        "official",
        D(2020, 3, 2),
        D(2020, 3, 6),
        None,
        "",
    ),
    (
        "15/QĐ-SNgV",
        D(2020, 2, 24),
        "department",
        "Bùi Quang Vinh",
        "Giảng viên",
        "DHTN",
        "unit",
        "Thái Lan",
        "private",
        D(2020, 3, 9),
        D(2020, 3, 14),
        D(2020, 3, 20),
        "yes",
    ),
    (
        "21/QĐ-SNgV",
        D(2020, 6, 15),
        "department",
        "Ngô Thanh Sơn",
        "Trưởng phòng",
        "SNNPTNT",
        "unit",
        "Campuchia",
        "official",
        D(2020, 6, 22),
        D(2020, 6, 25),
        None,
        "",
    ),
    (
        "33/QĐ-SNgV",
        D(2020, 9, 7),
        "department",
        "Trương Văn Phúc",
        "Phó Giám đốc",
        "SCT",
        "unit",
        "Campuchia",
        "official",
        D(2020, 9, 14),
        D(2020, 9, 18),
        None,
        "",
    ),
    (
        "41/QĐ-SNgV",
        D(2020, 10, 12),
        "department",
        "Lý Thị Kim Ngân",
        "Chuyên viên",
        "SYT",
        "unit",
        "Lào; Campuchia",
        "official",
        D(2020, 10, 19),
        D(2020, 10, 24),
        None,
        "",
    ),
    (
        "52/QĐ-SNgV",
        D(2020, 11, 16),
        "department",
        "Hồ Văn Đức",
        "Chủ tịch",
        "UBND-CT",
        "unit",
        "KH",
        "official",
        D(2020, 11, 23),
        D(2020, 11, 25),
        D(2020, 12, 4),
        "yes",
    ),
    (
        "60/QĐ-SNgV",
        D(2020, 12, 14),
        "department",
        "Mai Xuân Trường",
        "Kế toán",
        "BVDK",
        "unit",
        "Nhật Bản",
        "private",
        D(2020, 12, 21),
        D(2020, 12, 30),
        None,
        "",
    ),
    (
        "02/QĐ-SNgV",
        D(2021, 1, 11),
        "department",
        "Đỗ Thị Lan Anh",
        "Phó Trưởng phòng",
        "SNNPTNT",
        "unit",
        "Campuchia",
        "official",
        D(2021, 1, 18),
        D(2021, 1, 20),
        D(2021, 3, 3),
        "",
    ),
    (
        "09/QĐ-SNgV",
        D(2021, 3, 8),
        "department",
        "Phan Văn Hải",
        "Phó Chủ tịch",
        "UBND-TB",
        "unit",
        "Campuchia",
        "official",
        D(2021, 3, 15),
        D(2021, 3, 17),
        None,
        "",
    ),
    (
        "14/QĐ-SNgV",
        D(2021, 4, 5),
        "department",
        "Châu Thị Ngọc Hân",
        "Chuyên viên",
        "SYT",
        "unit",
        "Campuchia",
        "official",
        D(2021, 4, 12),
        D(2021, 4, 14),
        None,
        "",
    ),
    (
        "18/QĐ-SNgV",
        D(2021, 5, 10),
        "department",
        "Tạ Minh Khoa",
        "Giảng viên",
        "DHTN",
        "unit",
        "Hoa Kỳ",
        "private",
        D(2021, 5, 17),
        D(2021, 6, 2),
        None,
        "",
    ),
    (
        "23/QĐ-SNgV",
        D(2021, 6, 14),
        "department",
        "Lâm Quốc Bảo",
        "Trưởng phòng",
        "SCT",
        "unit",
        "Campuchia",
        "official",
        D(2021, 6, 21),
        D(2021, 6, 23),
        D(2021, 7, 2),
        "no",
    ),
    (
        "27/QĐ-SNgV",
        D(2021, 7, 5),
        "department",
        "Dương Thị Bích",
        "Phó Giám đốc",
        "SVHTTDL",
        "unit",
        "Campuchia",
        "official",
        D(2021, 7, 12),
        D(2021, 7, 14),
        None,
        "",
    ),
    (
        "31/QĐ-SNgV",
        D(2021, 7, 26),
        "department",
        "Kiều Văn Tâm",
        "Chuyên viên",
        "SNNPTNT",
        "unit",
        "Lào",
        "official",
        D(2021, 8, 2),
        D(2021, 8, 6),
        None,
        "",
    ),
]

TRIP_FIELDS = [
    "decision_number",
    "decision_date",
    "issuer",
    "full_name",
    "position",
    "unit",
    "category",
    "destination",
    "purpose",
    "departure_date",
    "return_date",
    "report_filed_date",
    "report_accepted",
]
TRIP_LABELS = [
    "Số quyết định",
    "Ngày quyết định",
    "Cơ quan quyết định",
    "Họ và tên",
    "Chức vụ",
    "Đơn vị",
    "Diện quản lý",
    "Nước đến",
    "Mục đích",
    "Ngày đi",
    "Ngày về",
    "Ngày nộp báo cáo",
    "Báo cáo đạt",
]
UNIT_FIELDS = ["code", "name", "email", "head_email", "language"]
UNIT_LABELS = ["Mã đơn vị", "Tên đơn vị", "Email", "Email thủ trưởng", "Ngôn ngữ"]

_VI = {
    "province": "UBND tỉnh",
    "department": "Sở Ngoại vụ",
    "standing_committee": "BTV Tỉnh ủy",
    "unit": "địa phương, đơn vị",
    "official": "công vụ",
    "private": "việc riêng",
    "yes": "có",
    "no": "không",
    "": "",
}


def _dmy(value: date | None) -> str:
    return value.strftime("%d/%m/%Y") if value else ""


def trip_rows(vietnamese: bool) -> list[list[object]]:
    """Rows as cells: dates stay dates (xlsx writes them as real dates)."""
    out = []
    for row in TRIPS:
        cells = list(row)
        if vietnamese:
            for i in (2, 6, 8, 12):
                cells[i] = _VI[cells[i]]
        out.append(cells)
    return out


def write_csv(
    path: Path,
    header: list[str],
    rows: list[list[object]],
    *,
    delimiter: str = ",",
    bom: bool = False,
) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8-sig" if bom else "utf-8") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        for row in rows:
            writer.writerow([_dmy(c) if isinstance(c, date) else c for c in row])


def write_xlsx(
    path: Path,
    header: list[str],
    rows: list[list[object]],
    *,
    title: str | None = None,
    sheet: str = "Sheet1",
) -> None:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    path.parent.mkdir(parents=True, exist_ok=True)
    book = Workbook()
    ws = book.active
    ws.title = sheet
    if title:
        ws.append([title])
        ws["A1"].font = Font(bold=True, size=13)
        ws.append([])
    ws.append(header)
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(list(row))
        for cell in ws[ws.max_row]:
            if isinstance(cell.value, date):
                cell.number_format = "DD/MM/YYYY"
    for column, width in zip(
        "ABCDEFGHIJKLM", (14, 13, 13, 22, 22, 10, 18, 16, 10, 11, 11, 14, 9), strict=True
    ):
        ws.column_dimensions[column].width = width
    # fixed timestamps (document properties, zip entries): the file is identical from
    # run to run, so regenerating it changes nothing in git
    stamp = __import__("datetime").datetime(2021, 11, 23)
    book.properties.created = book.properties.modified = stamp
    buffer = io.BytesIO()
    book.save(buffer)
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as src, zipfile.ZipFile(
        path, "w", zipfile.ZIP_DEFLATED
    ) as out:
        for item in src.infolist():
            fixed = zipfile.ZipInfo(item.filename, date_time=(2021, 11, 23, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            out.writestr(fixed, src.read(item.filename))


def bad_rows() -> list[list[object]]:
    """Ten trip rows (spreadsheet rows 2–11 … 12) with exactly three faults: a bad date
    in row 7, an unknown unit in row 9, a missing name in row 12."""
    rows = [list(r) for r in TRIPS[:11]]
    rows[5][9] = "31/02/2020"  # row 7: departure_date, no such day
    rows[7][5] = "SXYZ"  # row 9: unknown unit
    rows[10][3] = ""  # row 12: full_name missing
    return rows


def main() -> None:
    units = [list(u) for u in UNITS]
    write_csv(DATA / "units.csv", UNIT_FIELDS, units)
    write_xlsx(DATA / "units.xlsx", UNIT_LABELS, units)
    # xlsx: Vietnamese labels, Vietnamese values, a title line above the table
    write_xlsx(
        DATA / "seed_trips.xlsx",
        TRIP_LABELS,
        trip_rows(True),
        title="DANH SÁCH ĐOÀN RA 01/01/2020 – 31/08/2021",
        sheet="Đoàn ra",
    )
    # csv: English names and values, comma, UTF-8 with BOM (what Excel writes)
    write_csv(DATA / "seed_trips.csv", TRIP_FIELDS, trip_rows(False), bom=True)
    # the same in Vietnamese with semicolons and no BOM (another common export)
    write_csv(DATA / "seed_trips_vi.csv", TRIP_LABELS, trip_rows(True), delimiter=";")
    write_csv(DATA / "bad_trips.csv", TRIP_FIELDS, bad_rows())

    write_csv(EXAMPLES / "units.csv", UNIT_FIELDS, units)
    write_csv(EXAMPLES / "trips.csv", TRIP_FIELDS, trip_rows(False))
    write_xlsx(
        EXAMPLES / "trips.xlsx",
        TRIP_LABELS,
        trip_rows(True),
        title="DANH SÁCH ĐOÀN RA",
        sheet="Đoàn ra",
    )
    print(f"wrote {DATA} and {EXAMPLES}", file=sys.stderr)


if __name__ == "__main__":
    main()
