"""A real SMTP server for tests: aiosmtpd on a free 127.0.0.1 port, in its own thread.

Use the ``smtp_server`` fixture (import it into a test module:
``from tests.smtp_server import smtp_server  # noqa: F401``), or
``SmtpServer().start()`` by hand. It keeps every message it accepts
(:attr:`SmtpServer.messages`, parsed with the modern e-mail policy), and can be
told to misbehave:

* ``refuse(address, "550 5.1.1 no such user")``: RCPT for that address fails;
* ``fail_data("421 4.3.2 try again later")`` / ``fail_mail(...)``: every DATA / MAIL
  fails with that reply (``None`` to stop);
* ``delay = 0.05``: each DATA takes that long (a slow server, to kill a sender mid-batch);
* ``stop()`` / ``start()`` / ``restart()`` on the same port (server down, back up);
* ``tls=True``: STARTTLS (required) with a self-signed certificate; ``implicit_tls=True``:
  TLS from the first byte; ``users={"name": "password"}``: AUTH required.

``wait_for(n)`` waits (bounded) until at least n messages arrived.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import ssl
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes
    message: EmailMessage
    authenticated_as: str | None = None

    @property
    def message_id(self) -> str:
        return str(self.message["Message-ID"])

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def kind(self) -> str:
        return str(self.message["X-Theodoi-Kind"] or "")

    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    def html(self) -> str:
        part = self.message.get_body(preferencelist=("html",))
        return part.get_content() if part is not None else ""

    def attachments(self) -> dict[str, tuple[str, bytes]]:
        """filename → (content type, bytes)."""
        return {
            (p.get_filename() or ""): (p.get_content_type(), p.get_payload(decode=True) or b"")
            for p in self.message.iter_attachments()
        }


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.server.mail_reply:
            return self.server.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        reply = self.server.refusals.get(address.lower())
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.server.delay:
            await asyncio.sleep(self.server.delay)
        if self.server.data_reply:
            return self.server.data_reply
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        message = email.message_from_bytes(raw, policy=email.policy.default)
        login = getattr(session, "auth_data", None)
        user = login.login.decode() if isinstance(login, LoginPassword) else None
        with self.server.lock:
            self.server.messages.append(
                Received(envelope.mail_from, tuple(envelope.rcpt_tos), raw, message, user)  # type: ignore[arg-type]
            )
        return "250 Message accepted for delivery"


class SmtpServer:
    def __init__(
        self,
        port: int | None = None,
        *,
        tls: bool = False,
        implicit_tls: bool = False,
        users: dict[str, str] | None = None,
        cert_dir: Path | None = None,
    ) -> None:
        self.host = "127.0.0.1"
        self.port = port or free_port()
        self.messages: list[Received] = []
        self.refusals: dict[str, str] = {}
        self.data_reply: str | None = None
        self.mail_reply: str | None = None
        self.delay = 0.0  # seconds each DATA takes (a slow server)
        self.lock = threading.Lock()
        self.tls, self.implicit_tls, self.users = tls, implicit_tls, users or {}
        self.cert_file: Path | None = None
        if tls or implicit_tls:
            self.cert_file, self._key_file = self_signed_cert(cert_dir or Path("."))
        self._controller: Controller | None = None

    # -- life cycle ------------------------------------------------------------------

    def start(self) -> SmtpServer:
        kwargs: dict[str, Any] = {"enable_SMTPUTF8": True}
        context = None
        if self.cert_file is not None:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(str(self.cert_file), str(self._key_file))
        if self.tls:
            kwargs.update(tls_context=context, require_starttls=True)
        if self.users:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=bool(self.tls or self.implicit_tls),
            )
        controller = Controller(
            _Handler(self),
            hostname=self.host,
            port=self.port,
            ssl_context=context if self.implicit_tls else None,
            server_kwargs=kwargs,
        )
        controller.start()
        self._controller = controller
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def restart(self) -> SmtpServer:
        self.stop()
        return self.start()

    @property
    def running(self) -> bool:
        return self._controller is not None

    # -- misbehaviour ------------------------------------------------------------------

    def refuse(self, address: str, reply: str = "550 5.1.1 Mailbox unavailable") -> None:
        self.refusals[address.lower()] = reply

    def fail_data(self, reply: str | None) -> None:
        self.data_reply = reply

    def fail_mail(self, reply: str | None) -> None:
        self.mail_reply = reply

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if self.users.get(user) == password:
                return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)

    # -- what arrived ---------------------------------------------------------------------

    def received(self) -> list[Received]:
        with self.lock:
            return list(self.messages)

    def message_ids(self) -> Counter[str]:
        return Counter(m.message_id for m in self.received())

    def by_kind(self, kind: str) -> list[Received]:
        return [m for m in self.received() if m.kind == kind]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received()
            if len(got) >= count:
                return got
            time.sleep(0.02)
        return self.received()

    def clear(self) -> None:
        with self.lock:
            self.messages.clear()

    def config_env(self) -> dict[str, str]:
        """Environment variables pointing theodoi at this server."""
        env = {"THEODOI_SMTP__HOST": self.host, "THEODOI_SMTP__PORT": str(self.port)}
        if self.tls:
            env["THEODOI_SMTP__STARTTLS"] = "true"
        if self.implicit_tls:
            env["THEODOI_SMTP__TLS"] = "true"
        if self.cert_file is not None:
            env["THEODOI_SMTP__CA_FILE"] = str(self.cert_file)
        return env


def self_signed_cert(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made by the openssl command (cached per folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    if not cert.exists():
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-keyout",
                str(key),
                "-out",
                str(cert),
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
            ],
            check=True,
            capture_output=True,
        )
    return cert, key


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    server = SmtpServer().start()
    try:
        yield server
    finally:
        server.stop()
