"""``theodoi simulate``: a manual clock moved from one due instant to the next."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

from engine.app import App
from kernel.clock import ManualClock, to_local
from storage import queries

log = logging.getLogger("theodoi.simulate")


def _sender() -> Callable[..., Any] | None:
    try:
        from notifications.smtp import deliver_due
    except ImportError:
        return None
    return deliver_due


def simulate(app: App, end: datetime, *, send: bool = True) -> Iterator[str]:
    """Fire timers in order up to ``end``; with ``send``, deliver the outbox at each
    instant, so the mail is dated in simulated time. Yields one line per change."""
    clock = app.clock
    if not isinstance(clock, ManualClock):
        raise TypeError("simulate needs a ManualClock")
    deliver = _sender() if send and app.config.smtp.host else None
    tz = app.config.organisation.tz
    with app.db.session(write=False) as session:
        start = queries.latest_instant(session)
    clock.set(min(start, end) if start else end)
    last: datetime | None = None
    for _ in range(1_000_000):
        with app.db.session(write=False) as session:
            candidates = [queries.next_timer_at(session, end)]
            if deliver is not None:
                candidates.append(queries.next_outbox_at(session, end))
        due = [c for c in candidates if c is not None]
        if not due:
            break
        instant = max(min(due), clock.now())
        if instant == last:  # what is due here did not move (e.g. a parked notice)
            log.warning("nothing more can happen at %s; stopping the simulation early", instant)
            break
        last = instant
        clock.set(instant)
        report = app.engine.sweep(instant)
        yield from report.lines
        if deliver is not None:
            result = deliver(
                app.db, app.config, instant, worker_id=app.worker_id, calendar=app.engine.calendar
            )
            for line in getattr(result, "lines", []):
                yield f"{to_local(instant, tz):%Y-%m-%d %H:%M}  {line}"
    clock.set(end)
    yield f"{to_local(end, tz):%Y-%m-%d %H:%M}  simulation reached {to_local(end, tz):%d/%m/%Y %H:%M}"
