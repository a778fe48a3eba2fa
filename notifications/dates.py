"""Dates and times as people read them, in Vietnamese and English.

* ``short_date``: ``27/09/2021`` (both languages).
* ``long_date``: ``ngày 27 tháng 9 năm 2021`` / ``27 September 2021``.
* ``letter_date_line``: the place-and-date line of an administrative letter, with the
  leading zeros Decree 30/2020/NĐ-CP asks for (days below 10, months 1 and 2):
  ``Tây Ninh, ngày 05 tháng 02 năm 2026``, ``Tây Ninh, ngày 15 tháng 9 năm 2021``.

Every function accepts a ``date``, a ``datetime`` or an ISO string (the outbox
context stores dates as ISO strings), and returns ``""`` for ``None``/``""``.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from kernel import clock

DateLike = date | datetime | str | None

_MONTHS_EN = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS_VI = ("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy", "Chủ Nhật")
_WEEKDAYS_EN = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def as_date(value: DateLike) -> date | None:
    """A date from a date, a datetime (its calendar date) or an ISO string."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    if "T" in text or " " in text:
        return datetime.fromisoformat(text).date()
    return date.fromisoformat(text)


def short_date(value: DateLike) -> str:
    """``27/09/2021``."""
    day = as_date(value)
    return f"{day.day:02d}/{day.month:02d}/{day.year}" if day else ""


def long_date(value: DateLike, language: str = "vi") -> str:
    """``ngày 27 tháng 9 năm 2021`` or ``27 September 2021``."""
    day = as_date(value)
    if day is None:
        return ""
    if language == "en":
        return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"
    return f"ngày {day.day} tháng {day.month} năm {day.year}"


def weekday(value: DateLike, language: str = "vi") -> str:
    day = as_date(value)
    if day is None:
        return ""
    return (_WEEKDAYS_EN if language == "en" else _WEEKDAYS_VI)[day.weekday()]


def decree30_date(value: DateLike) -> str:
    """``ngày 05 tháng 02 năm 2026``: a leading zero for days below 10 and for
    months 1 and 2 only (Decree 30/2020/NĐ-CP, appendix I, section II.5)."""
    day = as_date(value)
    if day is None:
        return ""
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    return f"ngày {day.day:02d} tháng {month} năm {day.year}"


def letter_date_line(place: str, value: DateLike) -> str:
    """``Tây Ninh, ngày 05 tháng 02 năm 2026``."""
    return f"{place}, {decree30_date(value)}"


def letter_number(number: int, short_name: str, office_code: str) -> str:
    """``05/SNgV-LSHTQT``: numbers below 10 take a leading zero, no spaces."""
    return f"{number:02d}/{short_name}-{office_code}"


def local_datetime(instant: datetime | str | None, tz: ZoneInfo, language: str = "vi") -> str:
    """A naive UTC instant shown in the organisation's zone: ``07:30 27/09/2021``."""
    if instant is None or instant == "":
        return ""
    if isinstance(instant, str):
        instant = datetime.fromisoformat(instant)
    local = clock.to_local(instant, tz)
    return f"{local:%H:%M} {short_date(local.date())}"
