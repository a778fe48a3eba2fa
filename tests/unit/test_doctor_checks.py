"""The doctor's configuration checks: pure functions of a Config."""

from __future__ import annotations

from datetime import datetime

from engine.doctor import (
    Check,
    check_calendar,
    check_https,
    check_letter_symbol,
    check_sender,
    check_signer,
    exit_status,
)
from kernel.settings import load_config


def config(**env: str):
    return load_config(None, {f"THEODOI_{k}": v for k, v in env.items()})


def test_signer_placeholder_warns_and_a_name_is_ok() -> None:
    assert check_signer(config()).level == "warning"
    assert check_signer(config(ORGANISATION__SIGNER_NAME="Trần Thị B")).level == "ok"


def test_sender_and_letter_symbol() -> None:
    assert check_sender(config(SMTP__FROM_ADDRESS="nobody")).level == "error"
    assert check_sender(config()).level == "ok"
    assert check_letter_symbol(config(ORGANISATION__OFFICE_CODE="")).level == "error"


def test_https_with_secure_cookies() -> None:
    assert check_https(config(WEB__SECURE_COOKIES="true")).level == "error"
    good = config(WEB__SECURE_COOKIES="true", ORGANISATION__BASE_URL="https://theodoi.example.vn")
    assert check_https(good).level == "ok"
    assert check_https(config(ORGANISATION__BASE_URL="https://x.vn")).level == "warning"


def test_calendar_provisional_years_warn() -> None:
    now = datetime(2040, 6, 1)  # the holidays package knows no swap that far ahead
    check = check_calendar(config(), now)
    assert check.level == "warning" and "2040, 2041" in check.message
    assert check_calendar(config(CALENDAR__CONFIRMED_YEARS="[2040, 2041]"), now).level == "ok"


def test_exit_status_is_the_worst_level() -> None:
    assert exit_status([Check("a", "ok", "")]) == 0
    assert exit_status([Check("a", "ok", ""), Check("b", "warning", "")]) == 1
    assert exit_status([Check("a", "error", ""), Check("b", "warning", "")]) == 2
