"""The business calendar: which days are working days, and durations over them.

Working days are Monday–Friday minus Vietnam's public holidays (the ``holidays``
package, lunar Tết included), minus configured closures, plus configured make-up
working days (Saturdays worked in exchange for a bridge day off).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache

import holidays
from dateutil.relativedelta import relativedelta

from kernel.errors import InvalidInput

_DURATION = re.compile(
    r"^\s*([+-]?\d+)\s*(working\s+days?|business\s+days?|days?|weeks?|months?|years?)\s*$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Duration:
    """A length of time as the rules write it: ``"15 working days"``, ``"-1 month"``."""

    amount: int
    unit: str  # working_days | days | weeks | months | years

    @classmethod
    def parse(cls, text: str) -> Duration:
        match = _DURATION.match(text or "")
        if not match:
            raise InvalidInput(
                "duration",
                f"'{text}' is not a duration; write e.g. '15 days', '7 working days', "
                "'2 weeks', '1 month', '3 years' (negative for before)",
            )
        amount, unit = int(match.group(1)), match.group(2).lower()
        if unit.startswith(("working", "business")):
            return cls(amount, "working_days")
        return cls(amount, unit.rstrip("s") + "s")

    def __str__(self) -> str:
        return f"{self.amount} {self.unit.replace('_', ' ')}"


@dataclass(frozen=True)
class BusinessCalendar:
    """Working days for one country plus an overlay of closures and make-up days."""

    country: str = "VN"
    closures: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()

    def with_overlay(
        self, closures: Iterable[date] = (), working_days: Iterable[date] = ()
    ) -> BusinessCalendar:
        return BusinessCalendar(
            self.country,
            self.closures | frozenset(closures),
            self.working_days | frozenset(working_days),
        )

    def holiday_name(self, day: date) -> str | None:
        return _statutory(self.country, day.year).get(day)

    def is_working_day(self, day: date) -> bool:
        if day in self.working_days:
            return True
        if day in self.closures or day.weekday() >= 5:
            return False
        return day not in _statutory(self.country, day.year)

    def next_working_day(self, day: date) -> date:
        """``day`` itself if it is a working day, else the first working day after it."""
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def add_working_days(self, day: date, n: int) -> date:
        """The n-th working day after ``day`` (before it when n < 0); ``day`` is not counted."""
        step = 1 if n >= 0 else -1
        remaining = abs(n)
        while remaining:
            day += timedelta(days=step)
            if self.is_working_day(day):
                remaining -= 1
        return day

    def add(self, day: date, duration: Duration | str) -> date:
        """``day`` moved by ``duration``, without rolling to a working day."""
        d = Duration.parse(duration) if isinstance(duration, str) else duration
        if d.unit == "working_days":
            return self.add_working_days(day, d.amount)
        if d.unit == "days":
            return day + timedelta(days=d.amount)
        if d.unit == "weeks":
            return day + timedelta(weeks=d.amount)
        if d.unit == "months":
            return day + relativedelta(months=d.amount)
        return day + relativedelta(years=d.amount)

    def deadline(self, start: date, duration: Duration | str) -> date:
        """A time limit counted from ``start`` (not counted, Civil Code Art. 147) that
        ends on a working day (Art. 148: a limit ending on a day off moves to the next
        working day)."""
        return self.next_working_day(self.add(start, duration))

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]; negative when end is before start."""
        if end < start:
            return -self.working_days_between(end, start)
        count, day = 0, start
        while day < end:
            day += timedelta(days=1)
            count += self.is_working_day(day)
        return count


@lru_cache(maxsize=64)
def _statutory(country: str, year: int) -> holidays.HolidayBase:
    return holidays.country_holidays(country, years=year)
