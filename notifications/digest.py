"""The weekly digest to coordinators and leadership (cron ``[notifications] digest_cron``).

:func:`run_digest` claims the ISO week (PeriodicRun key ``digest:2021-W38``,
insert-or-ignore, so several workers and restarts yield one digest) and writes the
digest's outbox row in the same transaction: what is due this week, what is
overdue, what was escalated in the last seven days, and the reporting rate so far
this year (cases whose deadline has passed: filed, on time; by management category).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import and_, select

from kernel.clock import local_date
from kernel.settings import Config
from notifications.outbox import NoticePolicy, new_row
from storage import queries
from storage.db import Database
from storage.models import Case, Event, Unit

CASE = Case.__table__
EVENT = Event.__table__
UNIT = Unit.__table__
OPEN = ("report_due",)
LATE = ("overdue", "escalated")


def digest_key(today: date) -> str:
    year, week, _ = today.isocalendar()
    return f"digest:{year}-W{week:02d}"


def run_digest(db: Database, config: Config, now: datetime, worker_id: str = "digest") -> bool:
    """Write this ISO week's digest once; True when this call wrote it."""
    today = local_date(now, config.organisation.tz)
    key = digest_key(today)
    with db.session() as session:
        if not queries.claim_period(session, key, now, worker_id[:64]):
            return False
        closures, working = queries.calendar_overlay(session)
        calendar = config.business_calendar().with_overlay(closures, working)
        policy = NoticePolicy.from_config(config, calendar)
        data = digest_data(session, today, now)
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
        queries.insert_outbox(session, [row])
    return True


def digest_data(session: Any, today: date, now: datetime) -> dict[str, Any]:
    """The digest's figures as JSON-safe values."""
    year, week, weekday = today.isocalendar()
    week_start = today - timedelta(days=weekday - 1)
    week_end = week_start + timedelta(days=6)
    base = select(
        CASE.c.id,
        CASE.c.workflow,
        CASE.c.name,
        CASE.c.state,
        CASE.c.deadline,
        CASE.c.escalation_level,
        CASE.c.category,
        CASE.c.report_filed_on,
        CASE.c.filed_late,
        UNIT.c.name.label("unit_name"),
    ).select_from(CASE.outerjoin(UNIT, UNIT.c.id == CASE.c.unit_id))

    def item(r: Any, **extra: Any) -> dict[str, Any]:
        return {
            "case_id": r.id,
            "workflow": r.workflow,
            "name": r.name,
            "unit_name": r.unit_name,
            "deadline": r.deadline.isoformat() if r.deadline else None,
            **extra,
        }

    due = [
        item(r)
        for r in session.execute(
            base.where(
                CASE.c.state.in_(OPEN), CASE.c.deadline >= week_start, CASE.c.deadline <= week_end
            ).order_by(CASE.c.deadline, CASE.c.id)
        )
    ]
    overdue = [
        item(
            r,
            days_overdue=max((today - r.deadline).days, 0) if r.deadline else None,
            escalation_level=r.escalation_level,
        )
        for r in session.execute(
            base.where(CASE.c.state.in_(LATE)).order_by(CASE.c.deadline, CASE.c.id)
        )
    ]
    since = now - timedelta(days=7)
    escalated = []
    for r in session.execute(
        select(EVENT.c.case_id, EVENT.c.at, CASE.c.name, CASE.c.escalation_level, UNIT.c.name)
        .select_from(
            EVENT.join(CASE, CASE.c.id == EVENT.c.case_id).outerjoin(
                UNIT, UNIT.c.id == CASE.c.unit_id
            )
        )
        .where(EVENT.c.event == "escalate", EVENT.c.at >= since, EVENT.c.at <= now)
        .order_by(EVENT.c.at)
    ):
        escalated.append(
            {
                "case_id": r[0],
                "on": r[1].date().isoformat(),
                "name": r[2],
                "level": r[3],
                "unit_name": r[4],
            }
        )
    return {
        "year": year,
        "week": week,
        "week_start": week_start.isoformat(),
        "week_end": week_end.isoformat(),
        "due": due,
        "overdue": overdue,
        "escalated": escalated,
        "rate": _rate(session, base, today),
    }


def _rate(session: Any, base: Any, today: date) -> dict[str, Any]:
    """Cases whose deadline fell this year before today: how many were filed, on time."""
    rows = list(
        session.execute(
            base.where(
                and_(
                    CASE.c.deadline >= date(today.year, 1, 1),
                    CASE.c.deadline < today,
                    CASE.c.state != "cancelled",
                )
            )
        )
    )
    groups: dict[str, dict[str, int]] = {}
    total = {"due": 0, "filed": 0, "on_time": 0}
    for r in rows:
        filed = r.report_filed_on is not None
        on_time = filed and not r.filed_late
        for bucket in (total, groups.setdefault(r.category or "", {"due": 0, "filed": 0})):
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
