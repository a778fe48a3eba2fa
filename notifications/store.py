"""The sender's and the coordinators' side of the outbox, one short transaction each.

The SQL lives in ``storage/`` (:mod:`storage.outbox`: claim with a lease, outcomes,
listings; :mod:`storage.letters`: letter numbers); here is what it means: which
history event an outcome writes, which statuses a coordinator may move a row from,
and the outcomes the sender records in batches (:func:`record` writes many in one
transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import storage.events
import storage.units
from kernel.errors import NotFound, TheodoiError
from notifications import truth
from storage import app_secrets, letters
from storage import outbox as outbox_rows
from storage.db import Database, Session
from storage.models import Unit

ACTOR = "system:sender"
URGING = "urging_letter"  # the notice kind whose letter an escalation letter cites


class OutboxStateError(TheodoiError):
    """An approval/hold/resend that the row's status does not allow."""


# -- the sender ---------------------------------------------------------------------------


@dataclass
class Claimed:
    """What a claim took: the rows to send, and those it withdrew or superseded."""

    rows: list[dict[str, Any]]
    withdrawn: list[tuple[dict[str, Any], str]]  # (row, reason)
    superseded: list[dict[str, Any]]


def claim(
    db: Database, now: datetime, token: str, lease_until: datetime, limit: int
) -> list[dict[str, Any]]:
    """The rows :func:`claim_judged` claimed to be sent."""
    return claim_judged(db, now, token, lease_until, limit).rows


def claim_judged(
    db: Database, now: datetime, token: str, lease_until: datetime, limit: int
) -> Claimed:
    """Mark up to ``limit`` due rows (or rows whose lease expired) ``sending`` for
    ``token``, and in the same transaction read their cases again: a notice no longer
    true is withdrawn, one that a newer notice of the same case and kind makes
    redundant is superseded (each with a line in the case's history), a digest loses
    the lines no longer true. The rest are returned to be sent."""
    with db.session() as session:
        rows = outbox_rows.claim(session, now, token, lease_until, limit)
        return _judge(session, rows, now, token)


def _judge(session: Session, rows: list[dict[str, Any]], now: datetime, token: str) -> Claimed:
    result = Claimed([], [], [])
    if not rows:
        return result
    cases = outbox_rows.cases_now(session, _case_ids(rows))
    # only notices about a case's situation supersede each other (never alerts)
    redundant = outbox_rows.newer_to_go(
        session, [r for r in rows if truth.applies(truth.facts_of(r))]
    )
    events: list[dict[str, Any] | None] = []
    for row in rows:
        if row["kind"] == truth.DIGEST:
            _judge_digest(session, row, now, events)
            result.rows.append(row)
            continue
        verdict = truth.check(truth.facts_of(row), cases.get(row.get("case_id")))
        if verdict is not None:
            outbox_rows.withdraw(session, row["id"], "withdrawn", verdict.vi, token=token)
            events.append(_withdrawn_event(row, verdict, now))
            result.withdrawn.append((row, verdict.vi))
        elif row["id"] in redundant:
            reason = "đã có thông báo mới hơn cùng loại của hồ sơ"
            outbox_rows.withdraw(session, row["id"], "superseded", reason, token=token)
            events.append(
                _event(row, "notice_superseded", now, f"{truth.HISTORY_PREFIX}: {reason}", {})
            )
            result.superseded.append(row)
        else:
            result.rows.append(row)
    storage.events.insert_events(session, [e for e in events if e is not None])
    return result


def _case_ids(rows: Iterable[Mapping[str, Any]]) -> set[int]:
    ids: set[int] = set()
    for row in rows:
        if row.get("case_id") is not None:
            ids.add(row["case_id"])
        if row["kind"] == truth.DIGEST:
            digest = (row.get("context") or {}).get("digest") or {}
            for name in truth.DIGEST_LISTS:
                ids.update(i["case_id"] for i in digest.get(name) or () if i.get("case_id"))
    return ids


def _judge_digest(
    session: Session, row: dict[str, Any], now: datetime, events: list[dict[str, Any] | None]
) -> None:
    """Drop the digest's lines no longer true (the row keeps what is sent)."""
    context = dict(row.get("context") or {})
    digest = context.get("digest") or {}
    ids = {i["case_id"] for n in truth.DIGEST_LISTS for i in digest.get(n) or ()}
    kept, dropped = truth.check_digest(digest, outbox_rows.cases_now(session, ids))
    if not dropped:
        return
    kept["withdrawn"] = [
        *(digest.get("withdrawn") or ()),
        *({"case_id": item["case_id"], "reason": v.vi} for item, v in dropped),
    ]
    context["digest"] = kept
    row["context"] = context
    outbox_rows.set_context(session, row["id"], context)
    for item, verdict in dropped:
        line = {**row, "case_id": item["case_id"]}
        events.append(_withdrawn_event(line, verdict, now, line=True))


def _withdrawn_event(
    row: Mapping[str, Any], verdict: truth.Verdict, now: datetime, *, line: bool = False
) -> dict[str, Any] | None:
    data = {"code": verdict.code, "reason_en": verdict.en}
    if line:
        data["digest_line"] = True
    return _event(row, "notice_withdrawn", now, verdict.history, data)


def judge_one(
    db: Database, outbox_id: int, now: datetime, from_status: Iterable[str]
) -> str | None:
    """Read row and case again, in one transaction: if the notice (in one of
    ``from_status``) is no longer true, withdraw it with a line in the history and
    return the reason (Vietnamese); None when it is true (or not in those statuses)."""
    with db.session() as session:
        row = outbox_rows.get(session, outbox_id)
        if row is None:
            raise NotFound(f"outbox message {outbox_id} does not exist")
        if row["status"] not in tuple(from_status):
            return None
        return _withdraw_if_false(session, row, now, tuple(from_status))


def _withdraw_if_false(
    session: Session, row: dict[str, Any], now: datetime, from_status: tuple[str, ...]
) -> str | None:
    case = outbox_rows.cases_now(session, [row.get("case_id")]).get(row.get("case_id") or -1)
    verdict = truth.check(truth.facts_of(row), case)
    if verdict is None:
        return None
    outbox_rows.withdraw(session, row["id"], "withdrawn", verdict.vi, from_status=from_status)
    _give_back_number(session, row)
    item = _withdrawn_event(row, verdict, now)
    if item is not None:
        storage.events.insert_events(session, [item])
    return verdict.vi


def _give_back_number(session: Session, row: Mapping[str, Any]) -> None:
    """A numbered letter withdrawn before it left returns its number when no other
    letter has been numbered since (so the year's numbers stay without a gap)."""
    taken = (row.get("context") or {}).get("_letter") or {}
    numbered = row.get("letter_number") and taken.get("year") and taken.get("n")
    if numbered and letters.give_back(session, int(taken["year"]), int(taken["n"])):
        context = {k: v for k, v in (row.get("context") or {}).items() if k != "_letter"}
        letters.clear_letter(session, row["id"], context)


def defer_closed_window(db: Database, now: datetime, opening: datetime) -> int:
    """Outside the send window: due rows wait for its next opening."""
    with db.session() as session:
        return outbox_rows.postpone_due(session, now, opening)


@dataclass(frozen=True)
class Sent:
    """The server accepted the message (``refused``: recipients it refused meanwhile)."""

    row: Mapping[str, Any]
    refused: Mapping[str, str]


@dataclass(frozen=True)
class Retry:
    """A temporary failure: back to ``pending`` at ``next_at``."""

    row: Mapping[str, Any]
    token: str
    next_at: datetime
    error: str


@dataclass(frozen=True)
class Stopped:
    """``failed`` (permanent refusal, attempts spent) or ``parked`` (cannot render),
    with its alert row."""

    row: Mapping[str, Any]
    token: str
    status: str
    error: str
    alert: dict[str, Any] | None


@dataclass(frozen=True)
class Released:
    """Claimed but not tried (circuit open, lease running out): back as it was."""

    ids: Sequence[int]
    token: str


@dataclass(frozen=True)
class Alert:
    """An alert row for the coordinators (e.g. recipients refused)."""

    row: dict[str, Any]


@dataclass(frozen=True)
class Withdrawn:
    """Found no longer true just before it was sent (its letter not numbered)."""

    row: Mapping[str, Any]
    token: str
    reason: str


@dataclass(frozen=True)
class Deferred:
    """The server could not be reached while sending it: back in its place in the
    queue, the attempt given back."""

    row: Mapping[str, Any]
    token: str
    error: str


Mark = Sent | Retry | Stopped | Released | Alert | Withdrawn | Deferred


def record(db: Database, now: datetime, marks: Sequence[Mark]) -> None:
    """Write the sender's outcomes, in one transaction.

    ``sent`` is the truth whoever holds the lease (and gets a ``notice_sent`` history
    event); the other outcomes apply only while ``claimed_by`` is still the claim's.
    """
    if not marks:
        return
    sent: dict[int, Mapping[str, str]] = {}
    retries: list[tuple[int, str, datetime, str]] = []
    alerts: list[dict[str, Any]] = []
    events: list[dict[str, Any] | None] = []
    with db.session() as session:
        for mark in marks:
            if isinstance(mark, Sent):
                sent[mark.row["id"]] = mark.refused
                events.append(
                    _event(
                        mark.row,
                        "notice_sent",
                        now,
                        None,
                        {
                            "to": list(mark.row["to_addrs"]),
                            "cc": list(mark.row["cc_addrs"]),
                            "refused": dict(mark.refused),
                            "letter_number": mark.row.get("letter_number"),
                        },
                    )
                )
            elif isinstance(mark, Retry):
                retries.append((mark.row["id"], mark.token, mark.next_at, mark.error[:2000]))
            elif isinstance(mark, Stopped):
                outbox_rows.mark_stopped(
                    session, mark.row["id"], mark.token, mark.status, mark.error[:2000]
                )
                if mark.alert is not None:
                    alerts.append(mark.alert)
                events.append(_event(mark.row, f"notice_{mark.status}", now, mark.error[:500], {}))
            elif isinstance(mark, Released):
                outbox_rows.release(session, mark.ids, mark.token)
            elif isinstance(mark, Deferred):
                outbox_rows.give_back(session, [mark.row["id"]], mark.token)
            elif isinstance(mark, Withdrawn):
                pass  # written in its own transaction (see :func:`number_letter`)
            else:
                alerts.append(mark.row)
        outbox_rows.mark_sent(session, now, sent)
        outbox_rows.mark_retry(session, retries)
        outbox_rows.enqueue(session, alerts)
        storage.events.insert_events(session, [e for e in events if e is not None])


def insert_rows(db: Database, rows: Sequence[dict[str, Any]]) -> None:
    with db.session() as session:
        outbox_rows.enqueue(session, rows)


def outbox_id_for_key(db: Database, key: str) -> int | None:
    with db.session(write=False) as session:
        return outbox_rows.id_for_key(session, key)


# -- letters -----------------------------------------------------------------------------


class NoLongerTrue(TheodoiError):
    """The notice was withdrawn as it was about to leave (``reason``: Vietnamese)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def number_letter(
    db: Database,
    row_id: int,
    year: int,
    format_number: Callable[[int], str],
    extra_context: Mapping[str, Any],
    now: datetime,
) -> tuple[str, dict[str, Any]]:
    """Just before the letter leaves: read its case again and, if the letter is still
    true, assign, format and store its number, in one transaction; (number, context).
    A letter no longer true is withdrawn and takes no number (:class:`NoLongerTrue`).

    A row numbered already keeps its number and context (a retry renders the same
    letter)."""
    with db.session() as session:
        number, context = letters.letter_of(session, row_id)
        if number:
            return number, context
        row = outbox_rows.get(session, row_id)
        assert row is not None
        reason = _withdraw_if_false(session, row, now, ("sending",))
        if reason is None:
            n = letters.next_number(session, year)
            text = format_number(n)
            context = {**context, **extra_context, "_letter": {"year": year, "n": n}}
            letters.set_letter(session, row_id, text, context)
            return text, context
    raise NoLongerTrue(reason)


def unit_overdue_cases(
    db: Database, case_id: int | None, workflow: str, states: Sequence[str]
) -> list[dict[str, Any]]:
    """The cases of ``case_id``'s unit (same workflow) in ``states`` (its late ones,
    which the engine wrote in the notice), oldest deadline first, each with the number
    and date of the last urging letter sent about it."""
    if case_id is None:
        return []
    with db.session(write=False) as session:
        rows = letters.unit_cases(session, case_id, workflow, states, URGING)
    return [
        {
            "case_id": r["id"],
            "name": r["name"],
            "position": r["position"],
            "decision_number": r["decision_number"],
            "decision_date": _iso(r["decided_on"]),
            "actual_end": _iso(r["actual_end"]),
            "deadline": _iso(r["deadline"]),
            "escalation_level": r["escalation_level"],
            "urging_number": r["urging_number"],
            "urging_date": _iso(r["urging_sent_at"]),
        }
        for r in rows
    ]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


# -- coordinators' actions ---------------------------------------------------------------


def get_row(db: Database, outbox_id: int) -> dict[str, Any]:
    with db.session(write=False) as session:
        row = outbox_rows.get(session, outbox_id)
    if row is None:
        raise NotFound(f"outbox message {outbox_id} does not exist")
    return row


def change_status(
    db: Database,
    outbox_id: int,
    allowed: Iterable[str],
    values: Mapping[str, Any],
    event: str,
    actor: str,
    now: datetime,
    *,
    must_be_true: bool = False,
) -> dict[str, Any]:
    """Move a row from one of ``allowed`` statuses, with a history event; the new row.

    ``must_be_true`` (an approval, a resend: the notice is to leave): the case is read
    again in the same transaction, and a notice no longer true is withdrawn instead,
    with its line in the history, and the action refused (:class:`NoLongerTrue`)."""
    allowed = tuple(allowed)
    with db.session() as session:
        row = outbox_rows.get(session, outbox_id)
        if row is None:
            raise NotFound(f"outbox message {outbox_id} does not exist")
        if row["status"] not in allowed:
            raise OutboxStateError(
                f"outbox message {outbox_id} is {row['status']}; "
                f"this needs one of: {', '.join(allowed)}"
            )
        reason = _withdraw_if_false(session, row, now, allowed) if must_be_true else None
        if reason is None:
            outbox_rows.update_if_status(session, outbox_id, row["status"], values)
            _history(session, row, event, now, None, {"by": actor}, actor=actor)
            new = outbox_rows.get(session, outbox_id)
            assert new is not None  # read in this transaction
            return new
    raise NoLongerTrue(
        f"outbox message {outbox_id} withdrawn, not {event.removeprefix('notice_')}: {reason}"
    )


def server_state(db: Database) -> dict[str, Any] | None:
    """The mail server as the sender last found it (None: never tried): ``down_since``
    (set while it is down), ``last_error``, ``failures``, ``next_probe_at``,
    ``checked_at``, ``up_since``."""
    with db.session(write=False) as session:
        return outbox_rows.server_state(session)


def current_states(db: Database, case_ids: Iterable[int | None]) -> dict[int, dict[str, Any]]:
    """case id → the case now (``state``, ``escalation_level``, ``deadline``,
    ``report_filed_on``): what the held-for-approval queue shows beside each draft."""
    with db.session(write=False) as session:
        return outbox_rows.cases_now(session, case_ids)


def server_down(db: Database, now: datetime, error: str, next_probe_at: datetime) -> None:
    with db.session() as session:
        outbox_rows.server_down(session, now, error, next_probe_at)


def server_up(db: Database, now: datetime) -> bool:
    with db.session() as session:
        return outbox_rows.server_up(session, now)


def units_by_id(db: Database) -> dict[int, Unit]:
    with db.session(write=False) as session:
        return storage.units.units_by_id(session)


def list_rows(
    db: Database, status: str | None = None, limit: int = 100, case_id: int | None = None
) -> list[dict[str, Any]]:
    with db.session(write=False) as session:
        return outbox_rows.list_rows(session, status, limit, case_id)


# -- secrets ----------------------------------------------------------------------------


def stored_secret(db: Database, name: str) -> str | None:
    """A key an older version kept in the database (``app_secret``), if any."""
    with db.session(write=False) as session:
        return app_secrets.peek(session, name)


def forget_secret(db: Database, name: str) -> None:
    with db.session() as session:
        app_secrets.forget(session, name)


def get_or_create_secret(db: Database, name: str, candidate: str, now: datetime) -> str:
    """The stored value of ``name``; ``candidate`` is stored first if there is none."""
    with db.session() as session:
        return app_secrets.get_or_create(session, name, candidate, now)


def _history(
    session: Session,
    row: Mapping[str, Any],
    event: str,
    now: datetime,
    reason: str | None,
    data: dict[str, Any],
    actor: str = ACTOR,
) -> None:
    item = _event(row, event, now, reason, data, actor)
    if item is not None:
        storage.events.insert_events(session, [item])


def _event(
    row: Mapping[str, Any],
    event: str,
    now: datetime,
    reason: str | None,
    data: dict[str, Any],
    actor: str = ACTOR,
) -> dict[str, Any] | None:
    """The history event about an outbox row (none for a row without a case)."""
    if row.get("case_id") is None:
        return None
    return {
        "case_id": row["case_id"],
        "event": event,
        "from_state": None,
        "to_state": None,
        "actor": actor,
        "at": now,
        "recorded_at": now,
        "reason": reason,
        "data": {
            "notice": row["kind"],
            "level": row.get("level") or 0,
            "outbox_id": row["id"],
            "message_id": row.get("message_id"),
            **data,
        },
    }
