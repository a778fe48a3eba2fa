"""The mail catcher of ``make run``: an SMTP server on 127.0.0.1 that keeps every
message it receives as an ``.eml`` file, so a new user can read what theodoi sends.

``theodoi mail catcher`` runs it in the foreground; ``theodoi run --mail-catcher``
starts it beside the service; ``theodoi mail list`` / ``theodoi mail show ID`` and
the web UI's ``/mail`` page read the folder through :class:`MailStore`.

Each file is ``NNNNNN.eml`` (a sequence number: the id) and starts with two headers
the catcher adds, ``X-Envelope-From`` and ``X-Envelope-To`` (the SMTP envelope, which
also shows Bcc-like recipients), followed by the message exactly as received.
"""

from __future__ import annotations

import email
import email.policy
import os
import re
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller

from kernel.errors import NotFound

HOST = "127.0.0.1"
_ID = re.compile(r"^\d{6,}$")


@dataclass(frozen=True)
class MailSummary:
    id: str
    date: str  # ISO 8601 with offset, as the message's Date header says
    sender: str
    to: list[str]
    cc: list[str]
    envelope_to: list[str]
    subject: str
    message_id: str
    kind: str
    attachments: list[str]
    size: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        return len(self.data)


@dataclass(frozen=True)
class MailDetail:
    summary: MailSummary
    text: str
    html: str
    attachments: list[Attachment]
    headers: list[tuple[str, str]]


class MailStore:
    """A folder of caught messages."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self._lock = threading.Lock()

    def save(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> str:
        self.folder.mkdir(parents=True, exist_ok=True)
        head = (
            f"X-Envelope-From: {_one_line(mail_from)}\r\n"
            f"X-Envelope-To: {_one_line(', '.join(rcpt_tos))}\r\n"
        ).encode()
        with self._lock:
            number = self._last_number() + 1
            while True:
                path = self.folder / f"{number:06d}.eml"
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
                except FileExistsError:
                    number += 1
                    continue
                break
            with os.fdopen(fd, "wb") as fh:
                fh.write(head + raw)
        return f"{number:06d}"

    def ids(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.eml") if _ID.match(p.stem))

    def list(self, limit: int | None = None) -> list[MailSummary]:
        """Newest first."""
        ids = list(reversed(self.ids()))
        if limit is not None:
            ids = ids[:limit]
        return [self.summary(i) for i in ids]

    def raw(self, mail_id: str) -> bytes:
        if not mail_id.strip().isdigit():
            raise NotFound(f"no caught message '{mail_id}'")
        path = self.folder / f"{int(mail_id):06d}.eml"
        if not path.is_file():
            raise NotFound(f"no caught message '{mail_id}' in {self.folder}")
        return path.read_bytes()

    def message(self, mail_id: str) -> EmailMessage:
        return email.message_from_bytes(self.raw(mail_id), policy=email.policy.default)  # type: ignore[return-value]

    def summary(self, mail_id: str) -> MailSummary:
        raw = self.raw(mail_id)
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        return _summary(f"{int(mail_id):06d}", msg, len(raw))

    def show(self, mail_id: str) -> MailDetail:
        raw = self.raw(mail_id)
        msg: EmailMessage = email.message_from_bytes(raw, policy=email.policy.default)  # type: ignore[assignment]
        text_part = msg.get_body(preferencelist=("plain",))
        html_part = msg.get_body(preferencelist=("html",))
        attachments = [
            Attachment(
                part.get_filename() or "attachment",
                part.get_content_type(),
                part.get_payload(decode=True) or b"",
            )
            for part in msg.iter_attachments()
        ]
        return MailDetail(
            summary=_summary(f"{int(mail_id):06d}", msg, len(raw)),
            text=text_part.get_content() if text_part is not None else "",
            html=html_part.get_content() if html_part is not None else "",
            attachments=attachments,
            headers=[(k, str(v)) for k, v in msg.items()],
        )

    def attachment(self, mail_id: str, index: int) -> Attachment:
        items = self.show(mail_id).attachments
        if not 0 <= index < len(items):
            raise NotFound(f"message {mail_id} has no attachment {index}")
        return items[index]

    def clear(self) -> int:
        count = 0
        for mail_id in self.ids():
            (self.folder / f"{mail_id}.eml").unlink(missing_ok=True)
            count += 1
        return count

    def _last_number(self) -> int:
        ids = self.ids()
        return int(ids[-1]) if ids else 0


class _Handler:
    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        self.store.save(raw, envelope.mail_from or "", list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class Catcher:
    """The catcher's SMTP server, running in its own thread."""

    def __init__(self, folder: str | Path, port: int = 8025, host: str = HOST) -> None:
        self.store = MailStore(folder)
        self.host, self.port = host, port
        self._controller: Controller | None = None

    def start(self) -> Catcher:
        self._controller = Controller(
            _Handler(self.store),
            hostname=self.host,
            port=self.port,
            enable_SMTPUTF8=True,
            data_size_limit=50 * 1024 * 1024,
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


def catcher_folder(config: Any) -> Path:
    return Path(config.notifications.catcher_dir or "var/mail")


def start_catcher(
    config: Any, folder: str | Path | None = None, port: int | None = None
) -> Catcher:
    """Start a catcher on 127.0.0.1 at ``[smtp] port``, keeping mail in
    ``[notifications] catcher_dir``; the caller stops it."""
    return Catcher(folder or catcher_folder(config), port or config.smtp.port).start()


def _summary(mail_id: str, msg: Any, size: int) -> MailSummary:
    date = ""
    if msg["Date"]:
        try:
            date = parsedate_to_datetime(str(msg["Date"])).isoformat()
        except (TypeError, ValueError):
            date = str(msg["Date"])
    return MailSummary(
        id=mail_id,
        date=date,
        sender=str(msg["From"] or ""),
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        envelope_to=[a.strip() for a in str(msg["X-Envelope-To"] or "").split(",") if a.strip()],
        subject=str(msg["Subject"] or ""),
        message_id=str(msg["Message-ID"] or ""),
        kind=str(msg["X-Theodoi-Kind"] or ""),
        attachments=[p.get_filename() or "attachment" for p in msg.iter_attachments()]
        if msg.is_multipart()
        else [],
        size=size,
    )


def _addresses(msg: Any, name: str) -> list[str]:
    header = msg[name]
    if header is None:
        return []
    try:
        return [a.addr_spec for a in header.addresses]
    except AttributeError:
        return [str(header)]


def _one_line(text: str) -> str:
    return " ".join(str(text).split())
