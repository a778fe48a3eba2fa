"""An iCalendar (.ics) attachment for a report deadline: one all-day event.

The UID depends on the case and the deadline only, so a second reminder for the same
deadline updates the event in the recipient's calendar instead of adding another;
a new deadline (after a rejection or an extension) is a new event. A reminder alarm
fires at 08:00 (the recipient's time) the day before.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, date, datetime, timedelta

from icalendar import Alarm, Calendar, Event

ICS_TYPE = "text/calendar"
PRODID = "-//theodoi//theodoi 0.1//VI"


def deadline_event(
    *,
    case_id: int | None,
    workflow: str,
    deadline: date,
    summary: str,
    description: str,
    stamp: datetime,
    domain: str,
    url: str | None = None,
) -> bytes:
    """A VCALENDAR (METHOD:PUBLISH) with one all-day VEVENT on ``deadline``.

    ``stamp`` is a naive UTC instant (the notice's send time, simulated or real).
    """
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    event = Event()
    seed = f"{workflow}:{case_id}:{deadline.isoformat()}"
    event.add("uid", f"{hashlib.sha256(seed.encode()).hexdigest()[:24]}@{domain}")
    event.add("dtstamp", _utc(stamp))
    event.add("dtstart", deadline)
    event.add("dtend", deadline + timedelta(days=1))
    event.add("summary", summary)
    event.add("description", description)
    event.add("transp", "TRANSPARENT")
    event.add("sequence", 0)
    if url:
        event.add("url", url)
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("description", summary)
    alarm.add("trigger", timedelta(hours=-16))  # 08:00 the day before an all-day event
    event.add_component(alarm)
    cal.add_component(event)
    return cal.to_ical()


def _utc(instant: datetime) -> datetime:
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant
