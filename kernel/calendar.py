"""The business calendar the law uses: which days are working days, and durations
over them.

Working days are Monday–Friday, minus Vietnam's public holidays and the days off the
government swapped, plus the Saturdays worked in exchange — all as the ``holidays``
package knows them (``country_holidays("VN")``: lunar Tết, the substituted days off,
``weekend_workdays``, its own ``is_working_day``) — plus the admins' overlay: closures
and make-up working days, each with its source (``[calendar]`` in the configuration,
and the ``calendar_day`` table). Nothing the package knows is written by hand here.

A year is *confirmed* when the package lists a government swap for it (a substituted
day off or a Saturday worked) or the configuration says so (``[calendar]
confirmed_years``, for a year whose decision swapped nothing); any other year is
*provisional*: its holidays follow the statutory pattern, and a swap the government
has not yet decided (or the package does not know yet) may still move deadlines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
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

# the package's language codes for ours
_LANGUAGES = {"vi": "vi", "en": "en_US"}


@dataclass(frozen=True)
class Duration:
    """A length of time as the rules write it: ``"15 working days"``, ``"-1 month"``."""

    amount: int
    unit: str  # working_days | days | weeks | months | years

    @classmethod
    def parse(cls, text: str) -> Duration:
        return _parse_duration(text)

    @classmethod
    def _parse(cls, text: str) -> Duration:
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

    def label(self, lang: str = "vi") -> str:
        """``"15 ngày"``, ``"7 ngày làm việc"`` (Vietnamese) or ``"7 working days"``."""
        if lang == "en":
            return str(self)
        unit = {
            "working_days": "ngày làm việc",
            "days": "ngày",
            "weeks": "tuần",
            "months": "tháng",
            "years": "năm",
        }[self.unit]
        return f"{self.amount} {unit}"


@dataclass(frozen=True)
class DayOff:
    """Why a day is not a working day (or, ``kind="makeup"``, why a weekend day is one)."""

    day: date
    kind: str  # weekend | holiday | swap (a swapped day off) | closure | makeup
    name: str = ""  # the holiday's name, or the closure's / make-up day's source
    name_en: str = ""

    def label(self, lang: str = "vi") -> str:
        name = (self.name_en or self.name) if lang == "en" else self.name
        kinds = {
            "vi": {
                "weekend": "thứ Bảy" if self.day.weekday() == 5 else "Chủ nhật",
                "holiday": "ngày lễ",
                "swap": "ngày nghỉ hoán đổi",
                "closure": "ngày nghỉ",
                "makeup": "ngày làm bù",
            },
            "en": {
                "weekend": "Saturday" if self.day.weekday() == 5 else "Sunday",
                "holiday": "public holiday",
                "swap": "swapped day off",
                "closure": "closure",
                "makeup": "make-up working day",
            },
        }["en" if lang == "en" else "vi"]
        kind = kinds[self.kind]
        return f"{kind}: {name}" if name and self.kind != "weekend" else kind


@dataclass(frozen=True)
class BusinessCalendar:
    """Working days for one country (the ``holidays`` package) plus an overlay of
    closures and make-up days; ``sources`` names the source of each overlay day."""

    country: str = "VN"
    closures: frozenset[date] = frozenset()
    working_days: frozenset[date] = frozenset()
    sources: tuple[tuple[date, str], ...] = ()  # (day, source) of overlay days
    confirmed_years: frozenset[int] = frozenset()

    def with_overlay(
        self,
        closures: Iterable[date] = (),
        working_days: Iterable[date] = (),
        sources: Mapping[date, str] | None = None,
        confirmed_years: Iterable[int] = (),
    ) -> BusinessCalendar:
        known = dict(self.sources)
        known.update(sources or {})
        return BusinessCalendar(
            self.country,
            self.closures | frozenset(closures),
            self.working_days | frozenset(working_days),
            tuple(sorted(known.items())),
            self.confirmed_years | frozenset(confirmed_years),
        )

    # -- what the package knows ---------------------------------------------------------

    def holiday_name(self, day: date, lang: str = "vi") -> str | None:
        """The public holiday (or swapped day off) on ``day`` in ``lang``, else None."""
        return _statutory(self.country, day.year, _LANGUAGES.get(lang, lang)).get(day)

    def holidays_of(self, year: int, lang: str = "vi") -> list[tuple[date, str]]:
        """The year's public holidays and swapped days off, in date order."""
        known = _statutory(self.country, year, _LANGUAGES.get(lang, lang))
        return sorted((day, name) for day, name in known.items() if day.year == year)

    def is_weekend_workday(self, day: date) -> bool:
        """A Saturday or Sunday the government made a working day (the package's
        ``weekend_workdays``)."""
        return day in _statutory(self.country, day.year, "vi").weekend_workdays

    def is_swap(self, day: date) -> bool:
        """A day off the government swapped for a Saturday worked."""
        return day in _swaps(self.country, day.year)

    def year_confirmed(self, year: int) -> bool:
        """Whether the year's official swaps are known (module docstring: the package
        lists a swap for that year, or ``confirmed_years`` names it)."""
        if year in self.confirmed_years:
            return True
        known = _statutory(self.country, year, "vi")
        return bool(_swaps(self.country, year)) or any(
            d.year == year for d in known.weekend_workdays
        )

    # -- the overlay ----------------------------------------------------------------------

    def source(self, day: date) -> str:
        for known, text in self.sources:
            if known == day:
                return text
        return ""

    # -- working days -----------------------------------------------------------------

    def is_working_day(self, day: date) -> bool:
        if day in self.working_days:
            return True
        if day in self.closures:
            return False
        return _package_working_day(self.country, day)

    def why_off(self, day: date) -> DayOff | None:
        """Why ``day`` is not a working day (None: it is one)."""
        if self.is_working_day(day):
            return None
        if day in self.closures:
            return DayOff(day, "closure", self.source(day))
        swapped = _swaps(self.country, day.year).get(day)
        if swapped is not None:
            worked = swapped.strftime("%d/%m/%Y")
            return DayOff(
                day, "swap", f"đổi lấy ngày làm bù {worked}", f"in exchange for {worked} worked"
            )
        name = self.holiday_name(day, "vi")
        if name:
            return DayOff(day, "holiday", name, self.holiday_name(day, "en") or "")
        return DayOff(day, "weekend")

    def why_working(self, day: date) -> DayOff | None:
        """A weekend day that is a working day, and why (None: any other day)."""
        if day.weekday() < 5 or not self.is_working_day(day):
            return None
        if day in self.working_days:
            return DayOff(day, "makeup", self.source(day))
        off = _worked_for(self.country, day)
        if off is None:
            return DayOff(day, "makeup")
        text = off.strftime("%d/%m/%Y")
        return DayOff(
            day, "makeup", f"làm bù cho ngày nghỉ {text}", f"worked for the day off {text}"
        )

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
        working day). ``kernel.deadlines.explain`` says the same, step by step."""
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


@lru_cache(maxsize=4096)
def _parse_duration(text: str) -> Duration:
    """Rules write the same few durations again and again: parse each once."""
    return Duration._parse(text)


@lru_cache(maxsize=65536)
def _package_working_day(country: str, day: date) -> bool:
    """The package's own answer (weekends, holidays, swapped days, make-up Saturdays),
    memoised per day: the sweep asks it for the same few weeks again and again."""
    return _statutory(country, day.year, "vi").is_working_day(day)


@lru_cache(maxsize=256)
def _statutory(country: str, year: int, language: str) -> holidays.HolidayBase:
    """The package's holidays of ``year`` (and the next, whose swap decision may make a
    Saturday of ``year`` a working day), not expanded later: safe to share."""
    return holidays.country_holidays(
        country, years=(year, year + 1), language=language, expand=False
    )


@lru_cache(maxsize=128)
def _swaps(country: str, year: int) -> dict[date, date]:
    """The days off of ``year`` the package has from a swap decision (its special
    holidays), each with the weekend day worked in exchange."""
    special = getattr(_statutory(country, year, "vi"), "special_public_holidays", {}) or {}
    if year not in special:
        return {}
    entries = special[year]
    entries = entries if isinstance(entries[0], tuple) else (entries,)
    # each entry: (month, day) of the day off, then (month, day[, year]) of the day worked
    return {date(year, e[0], e[1]): date(e[4] if len(e) > 4 else year, e[2], e[3]) for e in entries}


def _worked_for(country: str, day: date) -> date | None:
    """The swapped day off a Saturday worked (``day``) was exchanged for."""
    for year in (day.year, day.year + 1):
        for off, worked in _swaps(country, year).items():
            if worked == day:
                return off
    return None
