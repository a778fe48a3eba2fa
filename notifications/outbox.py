"""The transactional outbox: a notice becomes a row in the transaction that caused it.

The engine hands over :class:`NoticeRequest` values; :func:`build_rows` routes them
(roles → addresses, from config and the units table) and turns them into outbox row
dicts that the storage layer inserts with insert-or-ignore on the unique key.

With a :class:`NoticePolicy` (the engine gets one from :func:`row_options`) a row
also gets the recipient unit's language, waits for the next opening of the send
window (office hours on working days), and starts ``held`` when its kind needs a
coordinator's approval. A notice nobody can receive is ``parked`` with the reason
and raises an alert row to the coordinators in the same transaction: nothing is
skipped silently.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from kernel import clock
from kernel.calendar import BusinessCalendar
from kernel.settings import parse_window

ALERT = "alert"
# Roles whose language is the unit's own (the rest get the default language).
UNIT_ROLES = frozenset({"unit", "unit_head", "person", "contact", "receiving_agency"})
CONFIG_ROLES = ("coordinators", "leadership", "provincial_leadership")


@dataclass(frozen=True)
class NoticeRequest:
    kind: str  # the template name
    workflow: str
    case_id: int | None
    at: datetime  # the business instant that caused it (UTC)
    to: tuple[str, ...]  # recipient roles (workflows.definition.RECIPIENT_ROLES)
    cc: tuple[str, ...] = ()
    attach: tuple[str, ...] = ()
    level: int = 0
    deadline: date | None = None
    context: Mapping[str, Any] = field(default_factory=dict)  # snapshot for the template
    unit_id: int | None = None

    @property
    def key(self) -> str:
        deadline = self.deadline.isoformat() if self.deadline else "-"
        return f"{self.workflow}:{self.case_id}:{self.kind}:{deadline}:{self.level}"


def message_id_for(key: str, domain: str) -> str:
    """A stable Message-ID: a message resent after a crash is recognisable."""
    digest = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"<{digest}@{domain}>"


@dataclass(frozen=True)
class SendWindow:
    """Office hours on working days, in the organisation's zone."""

    start: time
    end: time
    tz: ZoneInfo
    calendar: BusinessCalendar

    def next_opening(self, instant: datetime) -> datetime:
        """``instant`` itself when it is inside the window, else the next opening."""
        local = clock.to_local(instant, self.tz)
        day, at = local.date(), local.time().replace(tzinfo=None)
        if self.calendar.is_working_day(day):
            if self.start <= at < self.end:
                return instant
            if at < self.start:
                return clock.from_local(day, self.start, self.tz)
        day = self.calendar.next_working_day(day + timedelta(days=1))
        return clock.from_local(day, self.start, self.tz)

    def is_open(self, instant: datetime) -> bool:
        return self.next_opening(instant) == instant


@dataclass(frozen=True)
class NoticePolicy:
    """What config says about new rows: language, send window, approval per kind."""

    language: str = "vi"
    window: SendWindow | None = None
    approval: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_config(cls, config: Any, calendar: BusinessCalendar) -> NoticePolicy:
        """The policy of ``config`` over ``calendar``, the one in effect (the engine's,
        with the admins' overlay)."""
        notifications = config.notifications
        start, end = parse_window(notifications.send_window)
        window = SendWindow(start, end, config.organisation.tz, calendar)
        return cls(notifications.language or "vi", window, dict(notifications.approval))

    def needs_approval(self, kind: str) -> bool:
        return self.approval.get(kind, "auto") == "coordinator"

    def send_at(self, instant: datetime) -> datetime:
        return self.window.next_opening(instant) if self.window else instant


def row_options(
    config: Any,
    calendar: BusinessCalendar,
    tags: Mapping[str, Mapping[str, Iterable[str]]] | None = None,
) -> dict[str, Any]:
    """The engine's hook: extra keyword arguments for :func:`build_rows`. ``tags``:
    workflow name → its state tags (``Workflow.tags``), kept on each row so that the
    truth of a notice can be judged when it leaves (:mod:`notifications.truth`)."""
    options: dict[str, Any] = {"policy": NoticePolicy.from_config(config, calendar)}
    if tags is not None:
        options["tags"] = {
            name: {state: list(t) for state, t in states.items()} for name, states in tags.items()
        }
    return options


@dataclass(frozen=True)
class Router:
    """Resolves recipient roles to addresses."""

    units: Mapping[int, Any]  # unit id → Unit row
    recipients: Any  # config.recipients
    ladder: tuple[str, ...] = ("leadership", "provincial_leadership")

    def resolve(self, request: NoticeRequest, roles: Iterable[str]) -> tuple[list[str], list[str]]:
        """(addresses, roles that gave no address)."""
        unit = self.units.get(request.unit_id) if request.unit_id else None
        ctx = request.context
        found: list[str] = []
        missing: list[str] = []
        for role in roles:
            if role == "ladder":
                step = self.ladder[min(max(request.level, 1), len(self.ladder)) - 1]
                addrs = list(getattr(self.recipients, step, ()))
            elif role in CONFIG_ROLES:
                addrs = list(getattr(self.recipients, role, ()))
            elif role == "unit":
                addrs = [unit.email] if unit is not None and unit.email else []
            elif role == "unit_head":
                addrs = [unit.head_email] if unit is not None and unit.head_email else []
            elif role == "person":
                addrs = [ctx["email"]] if ctx.get("email") else []
            else:  # contact, receiving_agency: kept in the case's data
                addrs = [ctx[f"{role}_email"]] if ctx.get(f"{role}_email") else []
            addrs = [a.strip() for a in addrs if a and a.strip()]
            if not addrs:
                missing.append(role)
            found.extend(a for a in addrs if a not in found)
        return found, missing

    def language(self, request: NoticeRequest, default: str) -> str:
        unit = self.units.get(request.unit_id) if request.unit_id else None
        if unit is not None and set(request.to) & UNIT_ROLES:
            return getattr(unit, "language", None) or default
        return default


def build_rows(
    requests: Iterable[NoticeRequest],
    router: Router,
    now: datetime,
    domain: str,
    *,
    policy: NoticePolicy | None = None,
    tags: Mapping[str, Mapping[str, list[str]]] | None = None,
) -> list[dict[str, Any]]:
    """Outbox row values for each request. A notice nobody can receive is parked and
    an alert row to the coordinators comes with it.

    Each row records what made it true (:func:`truth_columns`): the case's state and
    escalation level, the deadline, the instant of the step, and (from ``tags``) the
    tags of its workflow's states."""
    policy = policy or NoticePolicy()
    tags = tags or {}
    rows: list[dict[str, Any]] = []
    for request in requests:
        to, missing_to = router.resolve(request, request.to)
        cc, _missing_cc = router.resolve(request, request.cc)
        cc = [a for a in cc if a not in to]
        context = _jsonable(dict(request.context))
        context["_route"] = {
            "to": list(request.to),
            "cc": list(request.cc),
            "attach": list(request.attach),
            "unit_id": request.unit_id,
            "workflow": request.workflow,
            "deadline": request.deadline.isoformat() if request.deadline else None,
        }
        if request.workflow in tags:
            context["_truth"] = {"tags": tags[request.workflow]}
        row = new_row(
            key=request.key,
            kind=request.kind,
            case_id=request.case_id,
            level=request.level,
            language=router.language(request, policy.language),
            to=to,
            cc=cc,
            context=context,
            now=now,
            domain=domain,
            policy=policy,
        )
        row.update(truth_columns(request))
        rows.append(row)
        if not to:
            reason = f"no address for {', '.join(missing_to)}"
            row.update(status="parked", last_error=reason)
            rows.append(
                alert_row(
                    row,
                    "unroutable",
                    reason,
                    router.recipients,
                    now,
                    domain,
                    policy,
                    missing=missing_to,
                )
            )
    return rows


def lock_alert_row(
    account: str,
    known: bool,
    address: str,
    minutes: int,
    recipients: Any,
    now: datetime,
    domain: str,
    policy: NoticePolicy,
) -> dict[str, Any]:
    """The alert to the coordinators that the login limiter has just locked ``account``
    (an e-mail as typed; ``known``: whether a user has it) for ``minutes``. It names the
    account and the address the last try came from, never a password; one per lock."""
    key = f"{ALERT}:locked:{account}:{now.strftime('%Y%m%dT%H%M%S')}"[:255]
    context = {
        "alert": {
            "kind": "login",
            "cause": "locked",
            "reason": f"login locked after repeated failures ({minutes} min)",
            "account": account,
            "known": known,
            "address": address,
            "minutes": minutes,
            "to": [],
            "missing": [],
            "outbox_key": key,
            "outbox_id": None,
        }
    }
    to = [a for a in getattr(recipients, "coordinators", ()) if a]
    row = new_row(
        key=key,
        kind=ALERT,
        case_id=None,
        level=0,
        language=policy.language,
        to=to,
        cc=[],
        context=context,
        now=now,
        domain=domain,
        policy=NoticePolicy(policy.language, policy.window, {}),  # alerts never wait
    )
    if not to:
        row.update(status="parked", last_error="no address for coordinators")
    return row


def truth_columns(request: NoticeRequest) -> dict[str, Any]:
    """The row's record of what made it true (``for_state``, ``for_level``,
    ``for_deadline``, ``caused_at``)."""
    ctx = request.context
    return {
        "for_state": ctx.get("state"),
        "for_level": int(ctx.get("escalation_level") or 0),
        "for_deadline": request.deadline,
        "caused_at": request.at,
    }


def new_row(
    *,
    key: str,
    kind: str,
    case_id: int | None,
    level: int,
    language: str,
    to: list[str],
    cc: list[str],
    context: dict[str, Any],
    now: datetime,
    domain: str,
    policy: NoticePolicy,
) -> dict[str, Any]:
    return {
        "key": key,
        "kind": kind,
        "case_id": case_id,
        "level": level,
        "language": language,
        "to_addrs": to,
        "cc_addrs": cc,
        "context": context,
        "status": "held" if policy.needs_approval(kind) else "pending",
        "attempts": 0,
        "next_attempt_at": policy.send_at(now),
        "last_error": None,
        "refused": {},
        "message_id": message_id_for(key, domain),
        "letter_number": None,
        "created_at": now,
        "for_state": None,
        "for_level": None,
        "for_deadline": None,
        "caused_at": None,
    }


def alert_row(
    row: Mapping[str, Any],
    cause: str,
    reason: str,
    recipients: Any,
    now: datetime,
    domain: str,
    policy: NoticePolicy,
    *,
    missing: Iterable[str] = (),
    outbox_id: int | None = None,
) -> dict[str, Any]:
    """One alert to the coordinators about ``row`` (unroutable, failed, refused, render).

    Its key derives from the row's key and the cause, so each problem alerts once.
    """
    ctx = dict(row.get("context") or {})
    snapshot = {k: v for k, v in ctx.items() if not k.startswith("_") and k != "alert"}
    snapshot["alert"] = {
        "kind": row["kind"],
        "cause": cause,
        "reason": reason,
        "to": list(row.get("to_addrs") or []) + list(row.get("cc_addrs") or []),
        "missing": list(missing),
        "outbox_key": row["key"],
        "outbox_id": outbox_id,
    }
    to = [a for a in getattr(recipients, "coordinators", ()) if a]
    alert = new_row(
        key=f"{ALERT}:{cause}:{row['key']}"[:255],
        kind=ALERT,
        case_id=row.get("case_id"),
        level=0,
        language=policy.language,
        to=to,
        cc=[],
        context=snapshot,
        now=now,
        domain=domain,
        policy=NoticePolicy(policy.language, policy.window, {}),  # alerts never wait
    )
    if not to:  # nobody to tell: the row stays visible to anyone who looks at the outbox
        alert.update(status="parked", last_error="no address for coordinators")
    return alert


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
