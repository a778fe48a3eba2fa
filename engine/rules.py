"""The view of time a workflow's functions get: its settings and calendar arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kernel import clock
from kernel.calendar import BusinessCalendar, Duration
from workflows.definition import WorkflowSettings


@dataclass(frozen=True)
class Rules:
    # the workflow's typed [workflows.<name>] section (Registry.settings builds it)
    settings: WorkflowSettings
    calendar: BusinessCalendar
    tz: ZoneInfo
    office_start_time: time

    def deadline(self, day: date, duration: str | Duration) -> date:
        return self.calendar.deadline(day, duration)

    def add(self, day: date, duration: str | Duration) -> date:
        return self.calendar.add(day, duration)

    def add_working_days(self, day: date, n: int) -> date:
        return self.calendar.add_working_days(day, n)

    def next_working_day(self, day: date) -> date:
        return self.calendar.next_working_day(day)

    def start_of_day(self, day: date) -> datetime:
        return clock.from_local(day, time(0, 0), self.tz)

    def office_start(self, day: date) -> datetime:
        """Start of office hours on ``day``, or on the working day before it when
        ``day`` is a day off (a reminder must not arrive later than planned)."""
        while not self.calendar.is_working_day(day):
            day -= timedelta(days=1)
        return clock.from_local(day, self.office_start_time, self.tz)

    def end_of_day(self, day: date) -> datetime:
        return clock.end_of_day(day, self.tz)

    def local_date(self, instant: datetime) -> date:
        return clock.local_date(instant, self.tz)
