"""The kernel's one date parser, one country parser and one fold (no database)."""

from __future__ import annotations

import unicodedata
from datetime import date, datetime

import pytest

from kernel.countries import country_code, country_name, country_names, parse_countries
from kernel.dates import optional_date, parse_date
from kernel.errors import InvalidInput
from kernel.text import fold, name_key

# -- dates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("23/11/2021", date(2021, 11, 23)),  # dd/mm/yyyy
        ("1/9/2021", date(2021, 9, 1)),  # d/m/yyyy
        ("01/9/2021", date(2021, 9, 1)),
        ("23-11-2021", date(2021, 11, 23)),
        ("23.11.2021", date(2021, 11, 23)),
        (" 23/11/2021 ", date(2021, 11, 23)),
        ("2021-11-23", date(2021, 11, 23)),  # ISO
        ("2021-1-5", date(2021, 1, 5)),
        ("2021-11-23 00:00:00", date(2021, 11, 23)),  # a date cell written as text
        (date(2021, 11, 23), date(2021, 11, 23)),
        (datetime(2021, 11, 23, 14, 5), date(2021, 11, 23)),  # the day counts, not the time
        (44523, date(2021, 11, 23)),  # an Excel day number
        (44523.0, date(2021, 11, 23)),
        (44523.75, date(2021, 11, 23)),  # a day number with a time of day
        ("44523", date(2021, 11, 23)),  # a day number in a CSV cell
    ],
)
def test_dates_in_every_form(value, expected):
    assert parse_date(value, "decision-date") == expected
    assert optional_date(value, "decision-date") == expected


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("31/02/2021", "không có ngày 31/02/2021"),  # no such day
        ("2021-02-29", "không có ngày 29/02/2021"),
        ("11/23/2021", "không có ngày 11/23/2021"),  # month/day order is not guessed
        ("2021/11/23", "'2021/11/23' không phải là ngày"),
        ("hôm qua", "'hôm qua' không phải là ngày"),
        ("23/11/21", "'23/11/21' không phải là ngày"),  # a two-digit year is refused
        (12, "số 12 không phải là ngày của Excel"),  # a number that is no Excel date
        ("123456", "'123456' không phải là ngày"),
        (True, "không phải là ngày"),
    ],
)
def test_bad_dates_name_the_field_in_vietnamese(value, shown):
    with pytest.raises(InvalidInput) as caught:
        parse_date(value, "traveller 2: return")
    assert caught.value.field == "traveller 2: return"
    assert shown in caught.value.message
    assert "dd/mm/yyyy" in caught.value.message  # says how to write it
    assert str(caught.value).startswith("traveller 2: return: ")


@pytest.mark.parametrize("value", [None, "", "   "])
def test_an_empty_date_is_required_or_none(value):
    assert optional_date(value, "from") is None
    with pytest.raises(InvalidInput) as caught:
        parse_date(value, "decided_on")
    assert caught.value.field == "decided_on" and "bắt buộc" in caught.value.message


# -- countries ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("KH", ("KH",)),  # ISO alpha-2
        ("KOR", ("KR",)),  # ISO alpha-3
        ("jp", ("JP",)),
        ("KH, LA", ("KH", "LA")),
        ("KH LA", ("KH", "LA")),  # codes separated by spaces, as the web form took them
        ("Lào", ("LA",)),
        ("Nhật Bản", ("JP",)),
        ("nhat ban", ("JP",)),  # without diacritics
        ("NHẬT BẢN", ("JP",)),
        (unicodedata.normalize("NFD", "Nhật Bản"), ("JP",)),  # decomposed, as macOS writes
        ("Japan", ("JP",)),
        ("Lào,Nhật Bản", ("LA", "JP")),
        ("Lào; Japan; KH", ("LA", "JP", "KH")),
        ("Campuchia; Hàn Quốc", ("KH", "KR")),
        ("Korea, Republic of", ("KR",)),  # an English name with a comma, whole
        ("Lào, Korea, Republic of", ("LA", "KR")),
        ("Nhật Bản; Trung Quốc; Thái Lan; Singapore", ("JP", "CN", "TH", "SG")),
        ("Hoa Kỳ", ("US",)),
        ("Mỹ", ("US",)),
        ("MY", ("MY",)),  # a capitalised ISO code is Malaysia
        ("Pháp, Đức, Úc", ("FR", "DE", "AU")),
        ("Cambodia; cambodia; KH", ("KH",)),  # no repeats
        ("South Korea", ("KR",)),
        ("Xinh-ga-po", ("SG",)),  # the name our own letters print
    ],
)
def test_countries_by_code_vietnamese_or_english_name(value, expected):
    assert parse_countries(value, "destination") == expected


def test_an_unknown_country_is_named_with_the_field():
    with pytest.raises(InvalidInput) as caught:
        parse_countries("Lào, Narnia, Atlantis", "traveller 1: country_codes")
    assert caught.value.field == "traveller 1: country_codes"
    assert "không rõ quốc gia 'Narnia', 'Atlantis'" in caught.value.message


@pytest.mark.parametrize("value", [None, "", " , ; "])
def test_no_country_is_refused(value):
    with pytest.raises(InvalidInput) as caught:
        parse_countries(value, "destination")
    assert caught.value.field == "destination" and "bắt buộc" in caught.value.message


def test_countries_are_shown_as_vietnamese_names():
    assert country_names("LA,JP") == "Lào, Nhật Bản"
    assert country_names(["KH", "SG"]) == "Campuchia, Xinh-ga-po"
    assert country_names("LA,JP", "en") == "Laos, Japan"
    assert country_name("XX") == "XX"  # an unknown code as it is
    assert country_code("Narnia") is None
    # every name shown is read back as its code
    for code in ("LA", "JP", "KH", "KR", "US", "GB", "AU", "TW", "HK"):
        assert parse_countries(country_name(code), "destination") == (code,)


# -- the one fold ------------------------------------------------------------------------


def test_fold_is_the_identity_key_with_punctuation_as_spaces():
    assert name_key("  Nguyễn   Văn  ĐỨC ") == "nguyen van duc"
    assert fold("Ủy ban nhân dân  tỉnh") == "uy ban nhan dan tinh"
    assert fold("decision_number (số quyết định)") == "decision number so quyet dinh"
    assert fold("Địa phương, đơn vị") == fold("dia phuong don vi")
