"""The business calendar and the statutory deadlines the issue names."""

from datetime import date

import pytest

from kernel.calendar import BusinessCalendar, Duration
from kernel.errors import ConfigError, InvalidInput
from kernel.settings import load_config
from workflows import catalog


@pytest.fixture
def cal() -> BusinessCalendar:
    return load_config(None, {}).business_calendar()


@pytest.mark.parametrize(
    ("returned", "duration", "due"),
    [
        (date(2021, 9, 6), "15 days", date(2021, 9, 21)),  # Monday return, official trip
        (date(2021, 2, 1), "15 days", date(2021, 2, 17)),  # 16/2 is inside the Tết 2021 break
        (date(2021, 4, 23), "7 working days", date(2021, 5, 6)),  # skips 30/4, 1/5, 3/5
        (date(2025, 4, 17), "15 days", date(2025, 5, 5)),  # 2/5/2025 swapped day off
    ],
)
def test_statutory_deadlines(cal: BusinessCalendar, returned: date, duration: str, due: date) -> None:
    assert cal.deadline(returned, duration) == due


def test_make_up_saturday_is_a_working_day(cal: BusinessCalendar) -> None:
    # 26/4/2025 was worked in exchange for 2/5: the holidays package knows it, so the
    # shipped configuration no longer repeats it.
    assert cal.working_days == frozenset()
    assert BusinessCalendar("VN").is_working_day(date(2025, 4, 26))
    assert not BusinessCalendar("VN").is_working_day(date(2025, 5, 2))


def test_closure_overlay_moves_a_deadline(cal: BusinessCalendar) -> None:
    assert cal.deadline(date(2021, 9, 6), "15 days") == date(2021, 9, 21)
    closed = cal.with_overlay(closures=[date(2021, 9, 21)])
    assert not closed.is_working_day(date(2021, 9, 21))
    assert closed.deadline(date(2021, 9, 6), "15 days") == date(2021, 9, 22)


def test_overlay_from_config_file(tmp_path) -> None:
    override = tmp_path / "site.toml"
    override.write_text(
        '[calendar]\nextra_holidays = [{ date = "2021-09-21", source = "Quyết định của UBND tỉnh" }]\n',
        encoding="utf-8",
    )
    cal = load_config(override, {}).business_calendar()
    assert cal.deadline(date(2021, 9, 6), "15 days") == date(2021, 9, 22)


def test_working_days_backwards_and_between(cal: BusinessCalendar) -> None:
    assert cal.add_working_days(date(2021, 9, 21), -5) == date(2021, 9, 14)
    assert cal.add_working_days(date(2021, 9, 21), -1) == date(2021, 9, 20)
    assert cal.working_days_between(date(2021, 9, 6), date(2021, 9, 13)) == 5
    assert cal.working_days_between(date(2021, 9, 13), date(2021, 9, 6)) == -5


@pytest.mark.parametrize(
    ("text", "amount", "unit"),
    [
        ("15 working days", 15, "working_days"),
        ("-1 working day", -1, "working_days"),
        ("3 days", 3, "days"),
        ("2 weeks", 2, "weeks"),
        ("1 month", 1, "months"),
        ("-6 months", -6, "months"),
        ("3 years", 3, "years"),
    ],
)
def test_duration_parse(text: str, amount: int, unit: str) -> None:
    assert Duration.parse(text) == Duration(amount, unit)


def test_duration_arithmetic(cal: BusinessCalendar) -> None:
    assert cal.add(date(2021, 1, 31), "1 month") == date(2021, 2, 28)
    assert cal.add(date(2021, 9, 6), "2 weeks") == date(2021, 9, 20)
    assert cal.add(date(2018, 12, 17), "3 years") == date(2021, 12, 17)


@pytest.mark.parametrize("text", ["", "fifteen days", "15", "15 fortnights", "15 working"])
def test_bad_duration_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="duration"):
        Duration.parse(text)


def test_bad_duration_in_config_names_the_key(tmp_path) -> None:
    override = tmp_path / "bad.toml"
    override.write_text('[workflows.trip]\nofficial_report_due = "soon"\n', encoding="utf-8")
    with pytest.raises((ConfigError, InvalidInput), match="soon"):
        load_config(override, {}, workflows=catalog.settings_models())


def test_secret_in_file_is_refused(tmp_path) -> None:
    override = tmp_path / "secret.toml"
    override.write_text('[smtp]\npassword = "hunter2"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="THEODOI_SMTP__PASSWORD"):
        load_config(override, {})


def test_environment_overrides_file(tmp_path) -> None:
    override = tmp_path / "site.toml"
    override.write_text('[storage]\nurl = "sqlite:///file.db"\n', encoding="utf-8")
    cfg = load_config(override, {"THEODOI_STORAGE__URL": "sqlite:///env.db",
                                 "THEODOI_SMTP__PORT": "2525"})
    assert cfg.storage.url == "sqlite:///env.db"
    assert cfg.smtp.port == 2525
