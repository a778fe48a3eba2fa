"""``theodoi simulate``: a manual clock moved from one due instant to the next."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime

import storage.events
import storage.outbox
import storage.timers
from engine.app import App
from engine.cycle import run_cycle
from kernel.clock import ManualClock, to_local
from notifications.smtp import deliver_due

log = logging.getLogger("theodoi.simulate")


def simulate(app: App, end: datetime, *, send: bool = True) -> Iterator[str]:
    """Fire timers in order up to ``end``; with ``send``, deliver the outbox at each
    instant, so the mail is dated in simulated time. Yields one line per change."""
    clock = app.clock
    if not isinstance(clock, ManualClock):
        raise TypeError("simulate needs a ManualClock")
    deliver = deliver_due if send and app.config.smtp.host else None
    tz = app.config.organisation.tz
    with app.db.session(write=False) as session:
        start = storage.events.latest_instant(session)
    clock.set(min(start, end) if start else end)
    last: datetime | None = None
    for _ in range(1_000_000):
        with app.db.session(write=False) as session:
            candidates = [storage.timers.next_timer_at(session, end)]
            if deliver is not None:
                candidates.append(storage.outbox.next_outbox_at(session, end))
        due = [c for c in candidates if c is not None]
        if not due:
            break
        instant = max(min(due), clock.now())
        if instant == last:  # what is due here did not move (e.g. a parked notice)
            log.warning("nothing more can happen at %s; stopping the simulation early", instant)
            break
        last = instant
        clock.set(instant)
        report = run_cycle(app, deliver, instant)
        yield from report.swept.lines
        if report.delivered is not None:
            for line in report.delivered.lines:
                yield f"{to_local(instant, tz):%Y-%m-%d %H:%M}  {line}"
    clock.set(end)
    yield f"{to_local(end, tz):%Y-%m-%d %H:%M}  simulation reached {to_local(end, tz):%d/%m/%Y %H:%M}"
