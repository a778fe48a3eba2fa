"""A coordinator's hand on the outbox: approve a held letter, hold a pending one, send
a failed or parked one again.

``[notifications] approval = {urging_letter = "coordinator"}`` makes new rows of
that kind start ``held``; :func:`approve` releases them into the next send window.
Every action is written to the case's history with its actor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kernel.calendar import BusinessCalendar
from kernel.settings import Config
from notifications import store
from notifications.outbox import NoticePolicy, NoticeRequest, Router
from notifications.store import NoLongerTrue, OutboxStateError

__all__ = ["NoLongerTrue", "OutboxStateError", "approve", "hold", "recheck", "resend"]
from storage.db import Database


def approve(
    db: Database,
    config: Config,
    outbox_id: int,
    actor: str,
    now: datetime,
    *,
    calendar: BusinessCalendar,
) -> dict[str, Any]:
    """held → pending, due at the next opening of the send window (over ``calendar``,
    the one in effect: the engine's).

    The case is read again first: a draft no longer true (the report filed meanwhile)
    is withdrawn, and the approval refused with the reason (:class:`NoLongerTrue`).
    The letter takes its number when it leaves (an approved letter may still be
    withdrawn before then: the case filed overnight)."""
    next_at = NoticePolicy.from_config(config, calendar).send_at(now)
    return store.change_status(
        db,
        outbox_id,
        ("held",),
        {"status": "pending", "next_attempt_at": next_at},
        "notice_approved",
        actor,
        now,
        must_be_true=True,
    )


def hold(db: Database, outbox_id: int, actor: str, now: datetime) -> dict[str, Any]:
    """pending → held (a coordinator wants to look at it first)."""
    return store.change_status(
        db, outbox_id, ("pending",), {"status": "held"}, "notice_held", actor, now
    )


def resend(
    db: Database,
    config: Config,
    outbox_id: int,
    actor: str,
    now: datetime,
    *,
    calendar: BusinessCalendar,
) -> dict[str, Any]:
    """failed | parked → pending with a fresh count of attempts, if still true (else
    withdrawn and refused, as :func:`approve`).

    The recipients are worked out again from the current units and config (a unit
    may have been given its missing address); if there is still nobody to send to,
    the row stays as it is and the error says who is missing."""
    row = store.get_row(db, outbox_id)
    values: dict[str, Any] = {
        "status": "pending",
        "attempts": 0,
        "last_error": None,
        "refused": {},
        "next_attempt_at": NoticePolicy.from_config(config, calendar).send_at(now),
    }
    route = (row.get("context") or {}).get("_route")
    if route:
        to, cc, missing = _reroute(db, config, row, route)
        if not to:
            raise OutboxStateError(
                f"outbox message {outbox_id}: still no address for {', '.join(missing)}"
            )
        values.update(to_addrs=to, cc_addrs=cc)
    return store.change_status(
        db,
        outbox_id,
        ("failed", "parked"),
        values,
        "notice_resent",
        actor,
        now,
        must_be_true=True,
    )


def recheck(db: Database, outbox_id: int, now: datetime) -> str | None:
    """Before a preview: a notice still to go (or waiting for a resend) that is no
    longer true is withdrawn now; the reason, or None when it is true."""
    return store.judge_one(db, outbox_id, now, ("pending", "held", "failed", "parked"))


def _reroute(
    db: Database, config: Config, row: dict[str, Any], route: dict[str, Any]
) -> tuple[list[str], list[str], list[str]]:
    ctx = {k: v for k, v in (row.get("context") or {}).items() if not k.startswith("_")}
    request = NoticeRequest(
        kind=row["kind"],
        workflow=route.get("workflow") or ctx.get("workflow") or "trip",
        case_id=row.get("case_id"),
        at=row["created_at"],
        to=tuple(route.get("to") or ()),
        cc=tuple(route.get("cc") or ()),
        attach=tuple(route.get("attach") or ()),
        level=row.get("level") or 0,
        context=ctx,
        unit_id=route.get("unit_id"),
    )
    router = Router(store.units_by_id(db), config.recipients)
    to, missing = router.resolve(request, request.to)
    cc, _ = router.resolve(request, request.cc)
    return to, [a for a in cc if a not in to], missing
