"""The sender: delivers due outbox rows over SMTP (aiosmtplib), reliably.

One pass (:func:`deliver_due`):

1. Outside the send window (office hours on working days) nothing is sent; due rows
   are moved to the next opening.
2. Rows are claimed in small batches: ``sending`` with ``claimed_by`` and a lease
   (``[worker] lease_s``) in one short transaction; the next batch is claimed when
   fewer rows wait than there are connections, so the connections never idle between
   batches. A row whose lease expired (its sender died) is due again.
3. Each row is rendered, then sent over one
   of ``[smtp] connections`` reused connections, concurrently. STARTTLS or implicit
   TLS as configured; the username from config, the password only from
   ``THEODOI_SMTP__PASSWORD``.
4. Just before a letter leaves, its case is read again with its number taken in
   the same transaction (a letter no longer true is withdrawn and takes none); every
   claimed row was judged the same way when it was claimed
   (:mod:`notifications.truth`).
5. Outcomes are written in batches, in one short transaction each: when
   ``[smtp] record_every`` are waiting, at most :data:`RECORD_AFTER_S` after the
   oldest, before each claim and at the end of the pass (a transaction per message
   blocked the event loop that drives the connections):
   * accepted → ``sent`` (recipients the server refused while accepting others
     are recorded in ``refused``, and the coordinators get one alert);
   * the server cannot be reached (connection refused, timeout, 421, MAIL refused)
     → the row goes back to its place in the queue, its attempt given back, and the
     circuit breaker opens (below);
   * 4xx to this message → back to ``pending`` with exponential backoff and
     jitter, into the send window; after ``[smtp] max_attempts`` the coordinators
     are alerted once; it never fails;
   * permanent refusal (5xx to RCPT or DATA) → ``parked`` with the server's words,
     plus ONE alert row to the coordinators;
   * render failure → ``parked`` with the error, plus one alert; the others go on.
6. Circuit breaker (table ``mail_server``, read by the dashboard): while the server
   is down nothing is attempted; a pass after ``next_probe_at`` opens one connection
   (60 s, 120 s … at most ``[smtp] probe_max_s`` apart); once it answers, every
   waiting notice still true goes out, oldest due first.

Delivery is at-least-once. The only messages that can be sent twice are those the
server had accepted when the sender died before their ``sent`` was committed: those
accepted since the last batch was written (fewer than ``[smtp] record_every``) plus
at most one in flight per connection (``[smtp] connections``); they carry the same
Message-ID.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import random
import secrets
import ssl
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiosmtplib

from kernel.calendar import BusinessCalendar
from kernel.clock import local_date
from kernel.settings import Config
from notifications import links, store
from notifications.context import CASE_ITEM_KEYS
from notifications.dates import as_date, letter_number
from notifications.message import Built, MessageBuilder, needs_letter
from notifications.outbox import ALERT, NoticePolicy, alert_row
from notifications.render import Renderer, RenderError
from storage.db import Database

log = logging.getLogger("theodoi.sender")

RECORD_AFTER_S = 0.1  # an outcome waits at most this long (monotonic) to be written


@dataclass
class DeliveryReport:
    """What one pass did (counts), with one line per message for ``simulate``."""

    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    parked: int = 0
    released: int = 0
    refused: int = 0  # recipients refused while the message went to others
    alerts: int = 0
    withdrawn: int = 0  # no longer true when they were to leave
    superseded: int = 0  # a newer notice of the same case and kind goes instead
    deferred: int = 0  # the server could not be reached: back in the queue
    window_closed: bool = False
    circuit_open: bool = False
    server_down_since: datetime | None = None
    lines: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)  # seconds per accepted message

    def __str__(self) -> str:
        if self.window_closed:
            return "outside the send window: nothing sent"
        text = (
            f"sent {self.sent}, retry later {self.retried}, parked {self.parked}, "
            f"withdrawn {self.withdrawn}, superseded {self.superseded}"
        )
        if self.failed:
            text += f", failed {self.failed}"
        if self.circuit_open:
            since = self.server_down_since
            text += " (mail server unreachable"
            text += f" since {since:%Y-%m-%d %H:%M} UTC" if since else ""
            text += ": notices wait, none is failed)"
        return text

    def __bool__(self) -> bool:  # the service logs only the passes that did something
        return bool(self.claimed)


@dataclass(frozen=True)
class Outcome:
    kind: str  # temporary | permanent
    error: str
    connection: bool = False  # the server is unreachable: open the circuit


def classify(exc: BaseException) -> Outcome:
    """Temporary or permanent, and whether the server itself is down."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [r.code for r in exc.recipients]
        text = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        permanent = bool(codes) and all(code >= 500 for code in codes)
        return Outcome("permanent" if permanent else "temporary", f"all recipients refused: {text}")
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):  # MAIL FROM: the server's setup
        return Outcome("temporary", f"{exc.code} {exc.message}", connection=True)
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError | aiosmtplib.SMTPHeloError):
        return Outcome("temporary", f"{exc.code} {exc.message}", connection=True)
    if isinstance(exc, aiosmtplib.SMTPConnectResponseError):
        return Outcome("temporary", f"{exc.code} {exc.message}", connection=True)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        if exc.code == 421:  # the server is closing the channel
            return Outcome("temporary", f"{exc.code} {exc.message}", connection=True)
        kind = "permanent" if exc.code >= 500 else "temporary"
        return Outcome(kind, f"{exc.code} {exc.message}")
    if isinstance(exc, OSError | TimeoutError | aiosmtplib.SMTPException | ssl.SSLError):
        return Outcome("temporary", f"{type(exc).__name__}: {exc}", connection=True)
    return Outcome("temporary", f"{type(exc).__name__}: {exc}", connection=True)


def backoff_delay(attempts: int, base_s: float, max_s: float, rng: random.Random) -> float:
    """Exponential backoff with "equal jitter": half fixed, half random."""
    delay = min(base_s * 2 ** max(attempts - 1, 0), max_s)
    return delay / 2 + rng.uniform(0, delay / 2)


class _Connections:
    """``[smtp] connections`` reusable SMTP connections, one per worker coroutine."""

    def __init__(self, config: Config) -> None:
        self.cfg = config.smtp
        self.helo = config.smtp.from_address.rpartition("@")[2] or "localhost"
        self.clients: list[aiosmtplib.SMTP | None] = [None] * config.smtp.connections

    async def get(self, slot: int) -> aiosmtplib.SMTP:
        client = self.clients[slot]
        if client is not None and client.is_connected:
            return client
        cfg = self.cfg
        client = aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            username=cfg.username or None,
            password=(cfg.password or None) if cfg.username else None,
            local_hostname=self.helo,
            timeout=cfg.timeout_s,
            use_tls=cfg.tls,
            start_tls=bool(cfg.starttls and not cfg.tls),
            cert_bundle=cfg.ca_file or None,
        )
        await client.connect()
        self.clients[slot] = client
        return client

    async def drop(self, slot: int) -> None:
        client, self.clients[slot] = self.clients[slot], None
        if client is not None:
            client.close()

    async def close(self) -> None:
        for slot, client in enumerate(self.clients):
            if client is not None and client.is_connected:
                try:
                    await client.quit()
                except (TimeoutError, aiosmtplib.SMTPException, OSError):
                    client.close()
            self.clients[slot] = None


@dataclass(frozen=True)
class _Claim:
    token: str
    started: float  # monotonic


class _Pass:
    """One delivery pass; see the module docstring."""

    def __init__(
        self,
        db: Database,
        config: Config,
        calendar: BusinessCalendar,
        now: datetime,
        worker_id: str,
        rng: random.Random,
    ) -> None:
        self.db, self.config, self.now, self.rng = db, config, now, rng
        self.worker_id = worker_id[:40]
        self.report = DeliveryReport()
        self.calendar = calendar
        self.policy = NoticePolicy.from_config(config, self.calendar)
        self.domain = config.smtp.from_address.rpartition("@")[2] or "theodoi.local"
        self.lease_s = config.worker.lease_s
        self.batch = max(config.smtp.connections * 8, 8)
        self.circuit_open = False
        self.connection_error = ""
        self.server: dict[str, Any] | None = None
        self.limit: int | None = None
        self.queue: deque[tuple[dict[str, Any], _Claim]] = deque()
        self.exhausted = False
        self.marks: list[store.Mark] = []
        self.oldest_mark = 0.0

    async def run(self, limit: int | None) -> DeliveryReport:
        window = self.policy.window
        assert window is not None
        if not window.is_open(self.now):
            store.defer_closed_window(self.db, self.now, window.next_opening(self.now))
            self.report.window_closed = True
            return self.report
        secret = links.secret_key(self.db, self.config, self.now)
        renderer = Renderer(self.config.notifications.template_dir or None)
        self.builder = MessageBuilder(self.config, self.calendar, renderer, secret)
        self.limit = limit
        pool = _Connections(self.config)
        self.server = store.server_state(self.db)
        if self.server and self.server["down_since"] and not await self._probe(pool):
            return self.report
        tasks = [
            asyncio.ensure_future(self._worker(slot, pool)) for slot in range(len(pool.clients))
        ]
        work = asyncio.gather(*tasks)
        ticker = asyncio.ensure_future(self._tick())
        try:
            done, _ = await asyncio.wait({work, ticker}, return_when=asyncio.FIRST_COMPLETED)
            for future in done:
                future.result()  # a worker's or a timed write's failure fails the pass
        finally:
            for task in (*tasks, ticker):
                task.cancel()
            await asyncio.gather(work, ticker, return_exceptions=True)
            self._release(list(self.queue))
            self.queue.clear()
            self._write()
            await pool.close()
        self.report.circuit_open = self.circuit_open
        if self.circuit_open:
            self._server_down(self.connection_error)
        elif self.report.sent and (self.server is None or self.server["down_since"]):
            store.server_up(self.db, self.now)
        return self.report

    async def _probe(self, pool: _Connections) -> bool:
        """The breaker is open: nothing is tried before its next probe; then one
        connection is opened. Whether the server answers (the breaker closes)."""
        assert self.server is not None
        next_probe = self.server["next_probe_at"]
        if next_probe is not None and self.now < next_probe:
            self.report.circuit_open = True
            self.report.server_down_since = self.server["down_since"]
            return False
        try:
            await pool.get(0)
        except Exception as exc:  # noqa: BLE001 — the server is still down, whatever it says
            outcome = classify(exc)
            self._server_down(outcome.error)
            self.report.circuit_open = True
            self.report.lines.append(f"mail server still unreachable: {outcome.error}")
            await pool.close()
            return False
        store.server_up(self.db, self.now)
        self.report.lines.append(
            f"mail server answers again (down since {self.server['down_since']:%Y-%m-%d %H:%M})"
        )
        self.server = None
        return True

    def _server_down(self, error: str) -> None:
        failures = int((self.server or {}).get("failures") or 0) + 1
        smtp = self.config.smtp
        delay = min(smtp.retry_base_s * 2 ** (failures - 1), smtp.probe_max_s)
        store.server_down(self.db, self.now, error, self.now + timedelta(seconds=delay))
        state = store.server_state(self.db)
        self.report.circuit_open = True
        self.report.server_down_since = state["down_since"] if state else self.now

    async def _worker(self, slot: int, pool: _Connections) -> None:
        while not self.circuit_open:
            item = self._next()
            if item is None:
                return
            row, claim = item
            # Stop before the lease can run out under us (another sender would take
            # the row and both would send it).
            if time.monotonic() - claim.started > self.lease_s / 2:
                self._release([item])
                continue
            await self._one(row, claim.token, pool, slot)

    def _next(self) -> tuple[dict[str, Any], _Claim] | None:
        """The next row to send; claims the next batch when few rows wait."""
        if len(self.queue) < self.config.smtp.connections and not self.exhausted:
            room = (
                self.batch
                if self.limit is None
                else min(self.batch, self.limit - self.report.claimed)
            )
            if room > 0:
                self._write()  # alerts written now can be claimed below
                token = f"{self.worker_id}/{secrets.token_hex(4)}"
                lease_until = self.now + timedelta(seconds=self.lease_s)
                claim = _Claim(token, time.monotonic())
                claimed = store.claim_judged(self.db, self.now, token, lease_until, room)
                rows = claimed.rows
                taken = len(rows) + len(claimed.withdrawn) + len(claimed.superseded)
                self.report.claimed += taken
                self.report.withdrawn += len(claimed.withdrawn)
                self.report.superseded += len(claimed.superseded)
                for row, reason in claimed.withdrawn:
                    self.report.lines.append(f"withdrawn {row['kind']}: {reason}")
                for row in claimed.superseded:
                    self.report.lines.append(f"superseded {row['kind']} (case {row['case_id']})")
                self.queue.extend((row, claim) for row in rows)
                self.exhausted = not taken
            else:
                self.exhausted = True
        return self.queue.popleft() if self.queue else None

    def _release(self, items: list[tuple[dict[str, Any], _Claim]]) -> None:
        """Claimed rows not tried go back as they were (with the next write)."""
        by_claim: dict[str, list[int]] = {}
        for row, claim in items:
            by_claim.setdefault(claim.token, []).append(row["id"])
        for token, ids in by_claim.items():
            self._mark(store.Released(ids, token))
            self.report.released += len(ids)

    def _mark(self, mark: store.Mark) -> None:
        if isinstance(mark, store.Alert) or (isinstance(mark, store.Stopped) and mark.alert):
            self.exhausted = False  # the alert goes out in this pass, as its cause did
        if not self.marks:
            self.oldest_mark = time.monotonic()
        self.marks.append(mark)
        if len(self.marks) >= self.config.smtp.record_every:
            self._write()

    def _write(self) -> None:
        """One transaction for the outcomes waiting (synchronous: nothing interleaves)."""
        marks, self.marks = self.marks, []
        store.record(self.db, self.now, marks)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(RECORD_AFTER_S / 2)
            if self.marks and time.monotonic() - self.oldest_mark >= RECORD_AFTER_S:
                self._write()

    async def _one(self, row: dict[str, Any], token: str, pool: _Connections, slot: int) -> None:
        # The connection first: a letter takes its number only when it can leave.
        try:
            client = await pool.get(slot)
        except Exception as exc:  # noqa: BLE001 — every failure is classified and recorded
            await pool.drop(slot)
            self._failed(row, token, classify(exc))
            return
        try:
            built = self._build(row)
        except store.NoLongerTrue as exc:  # withdrawn in the numbering's transaction
            self.report.withdrawn += 1
            self.report.lines.append(f"withdrawn {row['kind']}: {exc.reason}")
            return
        except RenderError as exc:
            self._stop(row, token, "parked", str(exc), "render")
            return
        except Exception as exc:  # noqa: BLE001 — a poison row (e.g. an address the
            # email package cannot fold) is parked with its error; the others go on
            self._stop(row, token, "parked", f"{type(exc).__name__}: {exc}", "render")
            return
        try:
            data = built.as_bytes()
            started = time.monotonic()
            refused, _response = await client.sendmail(
                self.config.smtp.from_address, built.recipients, data
            )
        except Exception as exc:  # noqa: BLE001 — every failure is classified and recorded
            await pool.drop(slot)
            self._failed(row, token, classify(exc))
            return
        self.report.latencies.append(time.monotonic() - started)  # the worker's metrics
        refusals = {addr: f"{r.code} {r.message}" for addr, r in (refused or {}).items()}
        self._mark(store.Sent(row, refusals))
        self.report.sent += 1
        to = ", ".join(row["to_addrs"])
        self.report.lines.append(f"sent {row['kind']} to {to}: {built.subject}")
        if refusals:
            self.report.refused += len(refusals)
            reason = "; ".join(f"{a}: {e}" for a, e in refusals.items())
            self._alert(row, "refused", f"refused by the server: {reason}")

    def _build(self, row: dict[str, Any]) -> Built:
        if row["kind"] == ALERT:
            alert = dict((row["context"] or {}).get("alert") or {})
            if alert.get("outbox_key") and not alert.get("outbox_id"):
                alert["outbox_id"] = store.outbox_id_for_key(self.db, alert["outbox_key"])
                row["context"] = {**row["context"], "alert": alert}
        if needs_letter(row) and not row.get("letter_number"):
            self._number_letter(row)
        return self.builder.build(row, self.now)

    def _number_letter(self, row: dict[str, Any]) -> None:
        """The letter's number, date and (for escalations) the unit's overdue cases,
        fixed once in the row so that a retry renders the same letter."""
        today = local_date(self.now, self.config.organisation.tz)
        ctx = row.get("context") or {}
        extra: dict[str, Any] = {"letter_date": today.isoformat()}
        if row["kind"] != "urging_letter":
            cases = store.unit_overdue_cases(  # a row written before late_states: its own
                self.db,
                row.get("case_id"),
                ctx.get("workflow") or "trip",
                ctx.get("late_states") or [ctx.get("state")],
            )
            cases = [{k: c.get(k) for k in CASE_ITEM_KEYS} for c in cases]
            extra["cases"] = cases
            own = next((c for c in cases if c["case_id"] == row.get("case_id")), None)
            if own and own.get("urging_number"):
                urging_on = as_date(own["urging_date"]) if own.get("urging_date") else None
                extra["urging"] = {
                    "letter_number": own["urging_number"],
                    "date": urging_on.isoformat() if urging_on else None,
                }
        org = self.config.organisation
        number, context = store.number_letter(
            self.db,
            row["id"],
            today.year,
            lambda n: letter_number(n, org.short_name, org.office_code),
            extra,
            self.now,
        )
        row["letter_number"], row["context"] = number, context

    def _failed(self, row: dict[str, Any], token: str, outcome: Outcome) -> None:
        """The server, not the notice (unreachable, timeout, MAIL refused): the
        circuit opens and the row waits in its place, its attempt given back. A 4xx
        to this message: it waits with backoff (the coordinators are alerted once
        after ``max_attempts``; it never fails). A 5xx to its recipients or its data:
        parked with the server's words, and one alert."""
        if outcome.connection:
            self.circuit_open = True
            self.connection_error = outcome.error
            self._mark(store.Deferred(row, token, outcome.error))
            self.report.deferred += 1
            return
        attempts = int(row["attempts"])
        if outcome.kind == "permanent":
            self._stop(row, token, "parked", f"refused by the server: {outcome.error}", "failed")
            return
        if attempts == self.config.smtp.max_attempts:
            self._alert(
                row, "deferred", f"still refused after {attempts} attempts: {outcome.error}"
            )
        delay = backoff_delay(
            attempts, self.config.smtp.retry_base_s, self.config.smtp.retry_max_s, self.rng
        )
        next_at = self.policy.send_at(self.now + timedelta(seconds=delay))
        self._mark(store.Retry(row, token, next_at, outcome.error))
        self.report.retried += 1
        self.report.lines.append(f"retry {row['kind']} (attempt {attempts}): {outcome.error}")

    def _stop(self, row: dict[str, Any], token: str, status: str, error: str, cause: str) -> None:
        alert = None
        if row["kind"] != ALERT:  # never alert about an alert
            alert = alert_row(
                row,
                cause,
                error,
                self.config.recipients,
                self.now,
                self.domain,
                self.policy,
                outbox_id=row["id"],
            )
            self.report.alerts += 1
        self._mark(store.Stopped(row, token, status, error, alert))
        if status == "failed":
            self.report.failed += 1
        else:
            self.report.parked += 1
        self.report.lines.append(f"{status} {row['kind']}: {error}")
        log.warning("outbox %s %s: %s", row["id"], status, error)

    def _alert(self, row: Mapping[str, Any], cause: str, reason: str) -> None:
        if row["kind"] == ALERT:
            return
        alert = alert_row(
            row,
            cause,
            reason,
            self.config.recipients,
            self.now,
            self.domain,
            self.policy,
            outbox_id=row["id"],
        )
        self._mark(store.Alert(alert))
        self.report.alerts += 1


async def adeliver_due(
    db: Database,
    config: Config,
    now: datetime,
    worker_id: str = "sender",
    *,
    calendar: BusinessCalendar,
    limit: int | None = None,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """The async core of :func:`deliver_due`."""
    return await _Pass(db, config, calendar, now, worker_id, rng or random.Random()).run(limit)


def deliver_due(
    db: Database,
    config: Config,
    now: datetime,
    worker_id: str = "sender",
    *,
    calendar: BusinessCalendar,
    limit: int | None = None,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Deliver what is due at ``now`` (naive UTC; simulated or real), once.

    ``calendar`` is the one in effect (the engine's, with the admins' overlay): the
    send window and the dates in the messages follow it.
    Safe to call from a thread that runs an event loop (it then uses its own thread).
    """
    coro_args = (db, config, now, worker_id)
    kwargs = {"calendar": calendar, "limit": limit, "rng": rng}
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(adeliver_due(*coro_args, **kwargs))
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(adeliver_due(*coro_args, **kwargs))).result()
