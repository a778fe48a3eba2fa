"""Cell values, headers and rows of the import templates (no database)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from engine.imports import parsing
from engine.imports.columns import TRIP_COLUMNS, UNIT_COLUMNS, map_headers
from engine.imports.problems import ImportRefused
from engine.imports.reading import read_table
from engine.imports.trips import UnitIndex, parse_trips
from engine.imports.units import parse_units
from kernel.text import fold, name_key

DATA = Path(__file__).resolve().parent.parent / "data"
TODAY = date(2021, 11, 23)


def test_name_key_folds_case_diacritics_and_spaces():
    assert name_key("  Nguyễn   Văn  ĐỨC ") == "nguyen van duc"
    assert name_key("Đặng Thị Ánh") == name_key("dang thi anh")
    # decomposed (NFD, as macOS writes) and composed forms are the same person
    import unicodedata

    assert name_key(unicodedata.normalize("NFD", "Trần Quốc Hưng")) == "tran quoc hung"


@pytest.mark.parametrize(
    ("parse", "value", "expected"),
    [
        (parsing.parse_issuer, "UBND tỉnh", "province"),
        (parsing.parse_issuer, "ubnd tinh", "province"),
        (parsing.parse_issuer, "Sở Ngoại vụ", "department"),
        (parsing.parse_issuer, "department", "department"),
        (parsing.parse_category, "BTV Tỉnh ủy", "standing_committee"),
        (parsing.parse_category, "Ban Thường vụ Tỉnh uỷ", "standing_committee"),
        (parsing.parse_category, "Địa phương, đơn vị", "unit"),
        (parsing.parse_category, "unit", "unit"),
        (parsing.parse_purpose, "Công vụ", "official"),
        (parsing.parse_purpose, "VIỆC RIÊNG", "private"),
        (parsing.parse_yes_no, "Có", "yes"),
        (parsing.parse_yes_no, "không", "no"),
    ],
)
def test_synonyms(parse, value, expected):
    assert parse(value) == expected


def test_unknown_synonym_names_the_choices():
    with pytest.raises(ValueError, match="province"):
        parsing.parse_issuer("Bộ Ngoại giao")


def test_decision_number_spacing():
    assert parsing.decision_number(" 09 / QĐ - SNgV ") == "09/QĐ-SNgV"


def test_headers_any_language_case_order_and_extras():
    cells = ["STT", "NGÀY VỀ", "ho va ten", "decision_number (số quyết định)", "Ghi chú"]
    mapping = map_headers(cells, TRIP_COLUMNS)
    assert mapping.index == {"return_date": 1, "full_name": 2, "decision_number": 3}
    assert mapping.unknown == ["Ghi chú"]  # STT is expected and silently ignored
    missing = {c.name for c in mapping.missing}
    assert {"decision_date", "issuer", "unit", "category", "destination"} <= missing
    assert "position" not in missing  # optional
    assert fold("Diện quản lý") == "dien quan ly"


def test_header_named_twice_is_refused(tmp_path):
    path = tmp_path / "units.csv"
    path.write_text("code,name,Mã đơn vị\nA,B,C\n", encoding="utf-8")
    with pytest.raises(ImportRefused) as caught:
        read_table(path, UNIT_COLUMNS)
    assert "named twice" in caught.value.problems[0].problem


def test_missing_required_columns_are_all_listed(tmp_path):
    path = tmp_path / "trips.csv"
    path.write_text("full_name,unit\nA,B\n", encoding="utf-8")
    with pytest.raises(ImportRefused) as caught:
        read_table(path, TRIP_COLUMNS)
    columns = {p.column for p in caught.value.problems}
    assert columns == {
        "decision_number", "decision_date", "issuer", "category", "destination",
        "departure_date", "return_date",
    }


def test_csv_not_utf8_is_refused(tmp_path):
    path = tmp_path / "units.csv"
    path.write_bytes("code,name\nSYT,Sô Y tê\n".encode("cp1252"))
    with pytest.raises(ImportRefused, match="UTF-8"):
        read_table(path, UNIT_COLUMNS)


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "units.ods"
    path.write_bytes(b"x")
    with pytest.raises(ImportRefused, match="unsupported"):
        read_table(path, UNIT_COLUMNS)


def _index():
    units, problems = parse_units(read_table(DATA / "units.csv", UNIT_COLUMNS))
    assert problems == []
    return UnitIndex((i, u.code, u.name) for i, u in enumerate(units, 1))


@pytest.mark.parametrize("name", ["seed_trips.xlsx", "seed_trips.csv", "seed_trips_vi.csv"])
def test_seed_files_read_the_same(name):
    table = read_table(DATA / name, TRIP_COLUMNS)
    rows, problems = parse_trips(table, _index(), TODAY)
    assert problems == []
    assert len(rows) == 20
    assert len({r.decision_key for r in rows}) == 19
    assert {r.decision_key for r in rows if r.decision_number == "09/QĐ-SNgV"} == {
        ("09/QĐ-SNgV", 2020), ("09/QĐ-SNgV", 2021),
    }
    reference = parse_trips(read_table(DATA / "seed_trips.csv", TRIP_COLUMNS), _index(), TODAY)
    assert [(r.identity, r.return_, r.country_codes, r.category) for r in rows] == [
        (r.identity, r.return_, r.country_codes, r.category) for r in reference[0]
    ]


def test_bad_file_lists_every_problem():
    table = read_table(DATA / "bad_trips.csv", TRIP_COLUMNS)
    _rows, problems = parse_trips(table, _index(), TODAY)
    assert [(p.row, p.column) for p in problems] == [
        (7, "departure_date"), (9, "unit"), (12, "full_name"),
    ]
    assert problems[0].value == "31/02/2020"
    assert problems[1].value == "SXYZ"


def test_row_rules(tmp_path):
    header = "decision_number,decision_date,issuer,full_name,unit,category,destination," \
        "departure_date,return_date,report_filed_date,report_accepted\n"
    rows = [
        "1/QĐ,01/02/2021,department,An,SYT,unit,KH,10/02/2021,05/02/2021,,",  # 2: return<dep
        "2/QĐ,01/02/2021,department,Bình,SYT,unit,KH,10/02/2021,12/02/2021,11/02/2021,",  # 3
        "3/QĐ,01/02/2021,department,Chi,SYT,unit,KH,10/02/2021,12/02/2021,01/12/2022,",  # 4
        "4/QĐ,01/02/2021,department,Dũng,SYT,unit,KH,10/02/2021,12/02/2021,,có",  # 5
        "5/QĐ,01/02/2021,department,Em,SYT,unit,KH,10/02/2021,12/02/2021,,",  # 6 ok
        "5/QĐ,02/02/2021,department,Giang,SYT,unit,KH,10/02/2021,12/02/2021,,",  # 7 date≠
        "5/QĐ,01/02/2021,department,EM,SYT,unit,KH,10/02/2021,12/02/2021,,",  # 8 same person
        "5/QĐ,01/02/2022,department,Em,SYT,unit,KH,10/02/2022,12/02/2022,,",  # 9 other year
    ]
    path = tmp_path / "t.csv"
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    good, problems = parse_trips(read_table(path, TRIP_COLUMNS), _index(), date(2022, 3, 1))
    assert [(p.row, p.column) for p in problems] == [
        (2, "return_date"), (3, "report_filed_date"), (4, "report_filed_date"),
        (5, "report_accepted"), (7, "decision_date"), (8, "full_name"),
    ]
    assert [r.row for r in good] == [6, 9]


def test_units_template_rules(tmp_path):
    path = tmp_path / "units.csv"
    path.write_text(
        "code;name;email;head_email;language\n"
        "A;Đơn vị A;a@x.vn;;vi\n"
        "a;Đơn vị A2;;;\n"
        ";Không mã;khong-email;;fr\n",
        encoding="utf-8",
    )
    rows, problems = parse_units(read_table(path, UNIT_COLUMNS))
    assert [r.code for r in rows] == ["A"]
    assert [(p.row, p.column) for p in problems] == [
        (3, "code"), (4, "code"), (4, "email"), (4, "language"),
    ]
