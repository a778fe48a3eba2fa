"""The one "sweep, then deliver" step: fire the timers that are due, then send the mail
that is due.

Everything that moves time calls it: ``theodoi tick``, ``theodoi simulate``, the web's
test clock (``/dev/tick``) and the runner's loops (the sweep loop with no sender and
one batch at a time, the send loop with ``sweep=False``). The sender is passed in
(``notifications.smtp.deliver_due`` or None), so a caller decides whether mail goes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from engine.app import App
from engine.runtime import SweepReport
from notifications.smtp import DeliveryReport

# notifications.smtp.deliver_due's shape: (db, config, now, worker_id=…, calendar=…, limit=…)
Sender = Callable[..., DeliveryReport]


@dataclass
class CycleReport:
    """What one step did: the sweep's report, and the delivery's (None: not sent)."""

    swept: SweepReport = field(default_factory=SweepReport)
    delivered: DeliveryReport | None = None


def run_cycle(
    app: App,
    sender: Sender | None,
    now: datetime | None = None,
    *,
    sweep: bool = True,
    max_batches: int | None = None,
    send_limit: int | None = None,
) -> CycleReport:
    """Fire what is due at ``now``, then deliver what is due with ``sender``.

    Without ``now`` each half reads the app's clock when it starts, so the sender's
    leases are measured from a fresh reading. ``max_batches`` bounds the sweep (None:
    until nothing is due), ``send_limit`` the rows one delivery claims. Errors pass
    through (a driver error as ``StorageError``); what the sweep committed stays.
    """
    report = CycleReport()
    if sweep:
        report.swept = app.engine.sweep(now or app.clock.now(), max_batches=max_batches)
    if sender is not None:
        report.delivered = sender(
            app.db,
            app.config,
            now or app.clock.now(),
            worker_id=app.worker_id,
            calendar=app.engine.calendar,
            limit=send_limit,
        )
    return report
