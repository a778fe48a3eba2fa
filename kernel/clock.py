"""The only place that reads the wall clock. Everything else takes ``now`` from a Clock.

All instants are naive UTC datetimes (the storage convention); conversions to the
organisation's zone go through :func:`to_local` / :func:`from_local`.
"""

from __future__ import annotations

import threading
import time as time_module
from datetime import UTC, date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, naive UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC).replace(tzinfo=None)


class ManualClock:
    """A clock that moves only when told to: tests and ``theodoi simulate``."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, instant: datetime) -> None:
        with self._lock:
            self._now = instant

    def advance(self, delta: timedelta) -> datetime:
        with self._lock:
            self._now += delta
            return self._now


class ScaledClock:
    """Time that runs ``factor`` times faster than the wall clock, from ``start``:
    ``make run`` uses it so a new user sees days of deadlines pass in minutes."""

    def __init__(self, start: datetime, factor: float) -> None:
        self._start = start
        self._origin = time_module.monotonic()
        self._factor = factor

    def now(self) -> datetime:
        elapsed = time_module.monotonic() - self._origin
        return self._start + timedelta(seconds=elapsed * self._factor)


def to_local(instant: datetime, tz: ZoneInfo) -> datetime:
    """A naive UTC instant as an aware local datetime."""
    return instant.replace(tzinfo=UTC).astimezone(tz)


def from_local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """Local wall time on ``day`` as a naive UTC instant."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC).replace(tzinfo=None)


def local_date(instant: datetime, tz: ZoneInfo) -> date:
    return to_local(instant, tz).date()


def end_of_day(day: date, tz: ZoneInfo) -> datetime:
    """24:00 local of ``day`` (Civil Code Art. 148), as naive UTC."""
    return from_local(day + timedelta(days=1), time(0, 0), tz)
