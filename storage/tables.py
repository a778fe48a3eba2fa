"""Core table objects for batched statements (Core writes, ORM reads)."""

from __future__ import annotations

from storage.models import (
    Case,
    Event,
    OutboxMessage,
    Timer,
)

CASE = Case.__table__


TIMER = Timer.__table__


EVENT = Event.__table__


OUTBOX = OutboxMessage.__table__
