"""Scenario 5: mail out, from the outbox to a local SMTP server in its own process.

5,000 notices made by the real engine (its sweep fires 4,500 first reminders, with an
.ics, and 500 deadlines, whose urging letters carry a DOCX), in Vietnamese, text and
HTML. Four ways to deliver them to the same aiosmtpd sink:

1. theodoi's sender (``notifications.smtp.deliver_due``), rendering included:
   claim, build the message (templates, letter numbering, DOCX, .ics), send over
   ``[smtp] connections`` (4) reused connections, mark each sent with its history
   event;
2. the same sender with each message's bytes ready (its build step answers from the
   bytes run 1 produced): the sender's own cost without rendering;
3. the naive loop: the same bytes, one ``smtplib`` connection per message;
4. the server's limit on this machine: the same bytes blasted over 4 reused
   ``aiosmtplib`` connections, with nothing else to do.

Runs 1 and 2 start from copies of the same outbox. The sink counts the messages
and their Message-IDs: each run must deliver every message exactly once.
"""

from __future__ import annotations

import asyncio
import shutil
import smtplib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select

import storage.tables
from bench import dataset
from bench.common import (
    check,
    figure,
    not_measured,
    open_app,
    say,
    scratch,
    sized,
    sqlite_url,
    timed,
)
from bench.smtp_sink import SinkProcess, running_sink
from kernel.clock import from_local

NOTICES = 5_000
LETTERS_SHARE = 10  # one notice in ten is an urging letter with a DOCX
CONNECTIONS = 4
FROM = "theodoi@songoaivu.local"
# Monday 16 June 2025, 09:00 in Tây Ninh: inside the send window.
SEND_AT = from_local(date(2025, 6, 16), time(9, 0), dataset.TZ)
GOALS = {"limit": 0.8, "naive": 2.0, "render": 1 / 1.5}

Message = tuple[list[str], bytes]  # (envelope recipients, bytes)


class _Recorded:
    """Stands in for the sender's ``Built``: records the bytes it sends."""

    def __init__(self, built: Any, key: str, store: dict[str, Message]) -> None:
        self.built, self.key, self.store = built, key, store
        self.recipients, self.subject = built.recipients, built.subject

    def as_bytes(self) -> bytes:
        data = self.built.as_bytes()
        self.store[self.key] = (list(self.recipients), data)
        return data


class _Ready:
    """A message built earlier: the sender's build step answers with it."""

    def __init__(self, recipients: list[str], data: bytes) -> None:
        self.recipients, self.data, self.subject = recipients, data, "(ready)"

    def as_bytes(self) -> bytes:
        return self.data


@contextmanager
def _build_step(replacement: Any) -> Iterator[None]:
    from notifications import smtp

    original = smtp._Pass._build
    smtp._Pass._build = replacement  # type: ignore[method-assign]
    try:
        yield
    finally:
        smtp._Pass._build = original  # type: ignore[method-assign]


def make_outbox(path: Path, count: int) -> None:
    """The engine's own notices: a sweep over cases due a reminder or a deadline."""
    letters = max(1, count // LETTERS_SHARE)
    plan = dataset.Plan(count * 2, ((dataset.BASE_DAY, letters),), reminders=count - letters)
    dataset.build_sqlite(path, plan)
    app = open_app(sqlite_url(path), dataset.now_instant())
    try:
        report = app.engine.sweep()
    finally:
        app.close()
    check(report.fired == count, f"the sweep fired {report.fired} of {count}")
    check(_outbox(path, "pending") == count, "the sweep did not enqueue every notice")


def _outbox(path: Path, status: str) -> int:
    engine = create_engine(sqlite_url(path))
    try:
        with engine.connect() as conn:
            stmt = select(func.count()).where(storage.tables.OUTBOX.c.status == status)
            return int(conn.execute(stmt).scalar_one())
    finally:
        engine.dispose()


def send(path: Path, port: int, count: int, build: Any) -> float:
    """Seconds for theodoi's sender to deliver the whole outbox; checks it did."""
    from notifications.smtp import deliver_due

    app = open_app(
        sqlite_url(path),
        SEND_AT,
        "mail",
        THEODOI_SMTP__PORT=str(port),
        THEODOI_SMTP__CONNECTIONS=str(CONNECTIONS),
        THEODOI_SMTP__FROM_ADDRESS=FROM,
    )
    try:
        watch = timed()
        with _build_step(build), watch.running():
            report = deliver_due(
                app.db, app.config, SEND_AT, worker_id="bench", calendar=app.engine.calendar
            )
    finally:
        app.close()
    check(report.sent == count, f"the sender sent {report.sent} of {count} ({report})")
    check(_outbox(path, "sent") == count, "outbox rows not marked sent")
    return watch.wall


def naive(messages: list[Message], port: int) -> float:
    watch = timed()
    with watch.running():
        for recipients, data in messages:
            with smtplib.SMTP("127.0.0.1", port) as client:
                client.sendmail(FROM, recipients, data)
    return watch.wall


def blast(messages: list[Message], port: int) -> float:
    import aiosmtplib

    async def one(chunk: list[Message]) -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=30)
        await client.connect()
        for recipients, data in chunk:
            await client.sendmail(FROM, recipients, data)
        await client.quit()

    async def all_of_them() -> None:
        await asyncio.gather(*(one(messages[k::CONNECTIONS]) for k in range(CONNECTIONS)))

    watch = timed()
    with watch.running():
        asyncio.run(all_of_them())
    return watch.wall


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    count = sized(NOTICES, scale, 20)
    try:
        from notifications import smtp
    except ImportError as exc:
        return [not_measured("mail: theodoi sender", "messages/s", f"no sender yet ({exc})")]
    seconds: dict[str, float] = {}
    with scratch("mail") as tmp, running_sink() as sink:
        base = tmp / "outbox.db"
        say(f"mail: {count:,} notices through the engine into the outbox")
        make_outbox(base, count)
        shutil.copyfile(base, tmp / "ready.db")
        recorded: dict[str, Message] = {}
        original = smtp._Pass._build

        def recording(self: Any, row: dict[str, Any]) -> Any:
            return _Recorded(original(self, row), row["key"], recorded)

        say("mail: theodoi's sender, rendering included")
        seconds["sender"] = send(base, sink.port, count, recording)
        stats = _expect(sink, count, "sender")
        check(len(recorded) == count, "not every message was recorded")

        def ready(self: Any, row: dict[str, Any]) -> Any:
            return _Ready(*recorded[row["key"]])

        say("mail: theodoi's sender, messages ready")
        seconds["ready"] = send(tmp / "ready.db", sink.port, count, ready)
        _expect(sink, count, "sender, messages ready")
        messages = list(recorded.values())
        say("mail: naive loop, one smtplib connection per message")
        seconds["naive"] = naive(messages, sink.port)
        _expect(sink, count, "naive loop")
        say(f"mail: the server's limit, {CONNECTIONS} reused connections")
        seconds["limit"] = blast(messages, sink.port)
        _expect(sink, count, "limit")
    rate = {k: count / v for k, v in seconds.items()}
    size = stats["bytes"] / count
    letters = max(1, count // LETTERS_SHARE)
    what = f"{count:,} notices, {letters:,} with a DOCX letter, {size / 1024:.1f} KiB on average"
    limit = f"server limit: same bytes, {CONNECTIONS} reused aiosmtplib connections"
    return [
        figure(
            f"mail: theodoi sender, messages ready ({what})",
            rate["ready"],
            "messages/s",
            limit,
            rate["limit"],
            goal=f">= {GOALS['limit']:.0%} of the server limit",
            met=rate["ready"] / rate["limit"] >= GOALS["limit"],
            note=f"sender {seconds['ready']:.2f} s, limit {seconds['limit']:.2f} s",
        ),
        figure(
            "mail: theodoi sender, messages ready, vs the naive loop",
            rate["ready"],
            "messages/s",
            "smtplib, one connection per message, same bytes",
            rate["naive"],
            goal=f">= {GOALS['naive']:g}x the naive loop",
            met=rate["ready"] / rate["naive"] >= GOALS["naive"],
            note=f"naive loop {seconds['naive']:.2f} s",
        ),
        figure(
            "mail: theodoi sender, rendering included",
            rate["sender"],
            "messages/s",
            "the same sender, messages ready",
            rate["ready"],
            goal="rendering adds <= 50 % (ratio >= 0.667)",
            met=rate["sender"] / rate["ready"] >= GOALS["render"],
            note=(
                f"{seconds['sender']:.2f} s vs {seconds['ready']:.2f} s: rendering adds "
                f"{seconds['sender'] / seconds['ready'] - 1:.0%}"
            ),
        ),
    ]


def _expect(sink: SinkProcess, count: int, what: str) -> dict[str, int]:
    stats = sink.expect(count, what)
    sink.reset()
    return stats
