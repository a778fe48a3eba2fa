"""The one date parser: every date a person types or a spreadsheet holds.

Accepted: ``dd/mm/yyyy`` and ``d/m/yyyy`` (also with ``-`` or ``.``), ISO
``yyyy-mm-dd`` (a trailing midnight time is allowed), an Excel day number (as a
number or as digits), and ``date`` / ``datetime`` values (a datetime counts by its
day). Anything else is :class:`~kernel.errors.InvalidInput` naming the field, in
Vietnamese, the office's language:

    parse_date("23/11/2021", "decision-date")   → date(2021, 11, 23)
    parse_date("31/02/2021", "return")          → InvalidInput("return", "không có ngày 31/02/2021 …")
    optional_date("", "from")                   → None
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, timedelta

from kernel.errors import InvalidInput

_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?$")
_SERIAL = re.compile(r"^\d{5}(?:\.0+)?$")
# Excel's day numbers for 1954-10-03 .. 2173-10-14: anything else is not a date
SERIAL_RANGE = (20000, 100000)
_EXCEL_EPOCH = date(1899, 12, 30)  # day 0 of the 1900 system, past its 1900-02-29 bug
HINT = "ghi theo dạng dd/mm/yyyy, ví dụ 23/11/2021, hoặc yyyy-mm-dd"


def parse_date(value: object, field: str) -> date:
    """The day ``value`` names, or InvalidInput naming ``field`` (also when empty)."""
    day = optional_date(value, field)
    if day is None:
        raise InvalidInput(field, "chưa nhập ngày (bắt buộc)")
    return day


def optional_date(value: object, field: str) -> date | None:
    """Like :func:`parse_date`, but an empty value is None."""
    if isinstance(value, datetime):
        return value.date()  # a date typed with a time: the day is what counts
    if isinstance(value, date):
        return value
    if isinstance(value, bool):
        raise InvalidInput(field, f"'{value}' không phải là ngày; {HINT}")
    if isinstance(value, int | float):
        return _serial(value, field)
    raw = " ".join(unicodedata.normalize("NFC", str(value or "")).split())
    if not raw:
        return None
    if _SERIAL.match(raw):
        return _serial(float(raw), field)
    for pattern, order in ((_DMY, "dmy"), (_YMD, "ymd")):
        match = pattern.match(raw)
        if match:
            parts = [int(p) for p in match.groups()]
            d, m, y = parts if order == "dmy" else parts[::-1]
            try:
                return date(y, m, d)
            except ValueError:
                raise InvalidInput(
                    field, f"không có ngày {d:02d}/{m:02d}/{y} ('{raw}'); {HINT}"
                ) from None
    raise InvalidInput(field, f"'{raw}' không phải là ngày; {HINT}")


def _serial(number: float, field: str) -> date:
    if not SERIAL_RANGE[0] <= number < SERIAL_RANGE[1]:
        shown = int(number) if number == int(number) else number
        raise InvalidInput(field, f"số {shown} không phải là ngày của Excel; {HINT}")
    return _EXCEL_EPOCH + timedelta(days=int(number))  # a time of day does not count
