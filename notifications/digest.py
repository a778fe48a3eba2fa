"""The weekly digest to coordinators and leadership (cron ``[notifications] digest_cron``).

:func:`run_digest` claims the ISO week (PeriodicRun key ``digest:2021-W38``,
insert-or-ignore, so several workers and restarts yield one digest) and writes the
digest's outbox row in the same transaction: what is due this week, what is
overdue, what was escalated in the last seven days, and the reporting rate so far
this year (cases whose deadline has passed: filed, on time; by management category).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import storage.periodic
from kernel.calendar import BusinessCalendar
from kernel.clock import local_date
from kernel.settings import Config
from notifications.outbox import NoticePolicy, new_row
from storage import digest as stored
from storage import outbox as outbox_rows
from storage.db import Database, Session


@dataclass(frozen=True)
class DigestStates:
    """The states the digest lists, given by the caller from the state tags of the
    case type it follows (notifications know no workflow): ``DigestStates.of(wf)``."""

    open: tuple[str, ...]  # due: waiting for a report, the deadline ahead
    late: tuple[str, ...]  # late: the deadline passed
    closed: tuple[str, ...]  # cancelled: not counted in the reporting rate

    @classmethod
    def of(cls, workflow: Any) -> DigestStates:
        """From a workflow definition (anything with ``states_tagged``)."""
        tagged = workflow.states_tagged
        return cls(tagged("due"), tagged("late"), tagged("cancelled"))


def digest_key(today: date) -> str:
    year, week, _ = today.isocalendar()
    return f"digest:{year}-W{week:02d}"


def run_digest(
    db: Database,
    config: Config,
    now: datetime,
    worker_id: str = "digest",
    *,
    calendar: BusinessCalendar,
    states: DigestStates,
) -> bool:
    """Write this ISO week's digest once; True when this call wrote it.

    ``calendar`` is the one in effect (the engine's, with the admins' overlay): it
    places the row in the send window. ``states`` says which states are due, late
    and cancelled (the trip's, by their tags)."""
    today = local_date(now, config.organisation.tz)
    key = digest_key(today)
    with db.session() as session:
        if not storage.periodic.claim_period(session, key, now, worker_id[:64]):
            return False
        policy = NoticePolicy.from_config(config, calendar)
        data = digest_data(session, today, now, states)
        to = list(dict.fromkeys([*config.recipients.coordinators, *config.recipients.leadership]))
        domain = config.smtp.from_address.rpartition("@")[2] or "theodoi.local"
        row = new_row(
            key=key,
            kind="digest",
            case_id=None,
            level=0,
            language=policy.language,
            to=to,
            cc=[],
            context={"digest": data},
            now=now,
            domain=domain,
            policy=NoticePolicy(policy.language, policy.window, {}),
        )
        if not to:
            row.update(status="parked", last_error="no address for coordinators, leadership")
        outbox_rows.enqueue(session, [row])
    return True


def digest_data(
    session: Session, today: date, now: datetime, states: DigestStates
) -> dict[str, Any]:
    """The digest's figures as JSON-safe values."""
    year, week, weekday = today.isocalendar()
    week_start = today - timedelta(days=weekday - 1)
    week_end = week_start + timedelta(days=6)

    def item(r: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {
            "case_id": r["id"],
            "workflow": r["workflow"],
            "name": r["name"],
            "unit_name": r["unit_name"],
            "deadline": r["deadline"].isoformat() if r["deadline"] else None,
            # what the line was true of (checked again when the digest leaves)
            "state": r["state"],
            "escalation_level": r["escalation_level"],
            **extra,
        }

    due = [item(r) for r in stored.cases_due_between(session, states.open, week_start, week_end)]
    overdue = [
        item(
            r,
            days_overdue=max((today - r["deadline"]).days, 0) if r["deadline"] else None,
            escalation_level=r["escalation_level"],
        )
        for r in stored.cases_in(session, states.late)
    ]
    escalated = [
        {
            "case_id": r["case_id"],
            "on": r["at"].date().isoformat(),
            "name": r["name"],
            "level": r["escalation_level"],
            "unit_name": r["unit_name"],
        }
        for r in stored.events_between(session, "escalate", now - timedelta(days=7), now)
    ]
    return {
        "year": year,
        "week": week,
        "week_start": week_start.isoformat(),
        "week_end": week_end.isoformat(),
        "due": due,
        "overdue": overdue,
        "escalated": escalated,
        "rate": _rate(
            stored.cases_with_deadline(session, date(today.year, 1, 1), today, states.closed),
            today,
        ),
    }


def _rate(rows: list[dict[str, Any]], today: date) -> dict[str, Any]:
    """Cases whose deadline fell this year before today: how many were filed, on time."""
    groups: dict[str, dict[str, int]] = {}
    total = {"due": 0, "filed": 0, "on_time": 0}
    for r in rows:
        filed = r["report_filed_on"] is not None
        on_time = filed and not r["filed_late"]
        for bucket in (total, groups.setdefault(r["category"] or "", {"due": 0, "filed": 0})):
            bucket["due"] += 1
            bucket["filed"] += int(filed)
        total["on_time"] += int(on_time)
    return {
        "year": today.year,
        **total,
        "pct": _pct(total["filed"], total["due"]),
        "by_category": [
            {"category": name, **g, "pct": _pct(g["filed"], g["due"])}
            for name, g in sorted(groups.items())
            if name
        ],
    }


def _pct(part: int, whole: int) -> int | None:
    return round(100 * part / whole) if whole else None
