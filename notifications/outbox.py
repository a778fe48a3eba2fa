"""The transactional outbox: a notice becomes a row in the transaction that caused it.

The engine hands over :class:`NoticeRequest` values; :func:`build_rows` routes them
(roles → addresses, from config and the units table) and turns them into outbox row
dicts that the storage layer inserts with insert-or-ignore on the unique key.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any


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
            elif role in ("coordinators", "leadership", "provincial_leadership"):
                addrs = list(getattr(self.recipients, role, ()))
            elif role == "unit":
                addrs = [unit.email] if unit is not None and unit.email else []
            elif role == "unit_head":
                addrs = [unit.head_email] if unit is not None and unit.head_email else []
            elif role == "person":
                addrs = [ctx["email"]] if ctx.get("email") else []
            else:  # contact, receiving_agency: kept in the case's data
                addrs = [ctx[f"{role}_email"]] if ctx.get(f"{role}_email") else []
            if not addrs:
                missing.append(role)
            found.extend(a for a in addrs if a not in found)
        return found, missing


def build_rows(
    requests: Iterable[NoticeRequest], router: Router, now: datetime, domain: str
) -> list[dict[str, Any]]:
    """Outbox row values for each request; a notice nobody can receive is parked."""
    rows = []
    for request in requests:
        to, missing_to = router.resolve(request, request.to)
        cc, _missing_cc = router.resolve(request, request.cc)
        cc = [a for a in cc if a not in to]
        parked = not to
        rows.append(
            {
                "key": request.key,
                "kind": request.kind,
                "case_id": request.case_id,
                "level": request.level,
                "language": "vi",
                "to_addrs": to,
                "cc_addrs": cc,
                "context": _jsonable(dict(request.context)),
                "status": "parked" if parked else "pending",
                "attempts": 0,
                "next_attempt_at": now,
                "last_error": f"no address for {', '.join(missing_to)}" if parked else None,
                "refused": {},
                "message_id": message_id_for(request.key, domain),
                "created_at": now,
            }
        )
    return rows


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value
