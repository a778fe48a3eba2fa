"""Alerts to the coordinators about the system itself, not about a case.

:func:`account_locked`: the web's login limiter has just locked an account; the
coordinators get an alert through the outbox (notifications/outbox.py
``lock_alert_row``), naming the account and the address, never a password.
"""

from __future__ import annotations

import storage.outbox
from engine.app import App
from notifications.outbox import NoticePolicy, lock_alert_row


def account_locked(app: App, account: str, *, known: bool, address: str, minutes: int) -> None:
    """Queue the alert that ``account`` is locked out of signing in for ``minutes``."""
    config = app.config
    domain = config.smtp.from_address.rpartition("@")[2] or "theodoi.local"
    policy = NoticePolicy.from_config(config, app.engine.calendar)
    row = lock_alert_row(
        account, known, address, minutes, config.recipients, app.clock.now(), domain, policy
    )
    with app.db.session() as s:
        storage.outbox.insert_outbox(s, [row])
