"""Passwords, API tokens, signed session cookies, CSRF tokens and the login rate limit.

Sessions are signed cookies (itsdangerous) carrying the user id, a per-session CSRF
token and an expiry instant taken from the injected clock, so a test that moves a
ManualClock sees sessions expire exactly as production would.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from kernel.clock import Clock

_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106) defaults


def configure_passwords(web_settings: Any) -> None:
    """Use ``[web] password_time_cost`` / ``password_memory_kib`` for new hashes.

    Verifying reads the cost from each stored hash, so changing these never locks
    anybody out; it only changes what new passwords cost to check.
    """
    global _hasher
    time_cost = int(getattr(web_settings, "password_time_cost", _hasher.time_cost))
    memory = int(getattr(web_settings, "password_memory_kib", _hasher.memory_cost))
    if (time_cost, memory) != (_hasher.time_cost, _hasher.memory_cost):
        _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory)


SESSION_COOKIE = "theodoi_session"
LANG_COOKIE = "theodoi_lang"
CSRF_FIELD = "csrf_token"
TOKEN_PREFIX = "td_"


# -- passwords and API tokens -------------------------------------------------------


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_api_token() -> tuple[str, str]:
    """(token shown once to the user, hash stored in the database)."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    return token, hash_api_token(token)


def hash_api_token(token: str) -> str:
    """API tokens are 256 random bits, so a plain SHA-256 is a safe, indexable hash."""
    return hashlib.sha256(token.encode()).hexdigest()


# -- sessions -----------------------------------------------------------------------


class Session(dict):
    """The session dict; remembers whether it changed so the cookie is rewritten."""

    modified: bool = False

    def __setitem__(self, key: str, value: Any) -> None:
        self.modified = True
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.modified = True
        super().__delitem__(key)

    def clear(self) -> None:
        self.modified = True
        super().clear()

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self.modified = True
        return super().pop(key, *default)


@dataclass
class SessionCodec:
    """Signs and checks the session cookie; expiry follows the injected clock."""

    secret: str
    clock: Clock
    lifetime: timedelta
    _serializer: URLSafeSerializer = field(init=False)

    def __post_init__(self) -> None:
        self._serializer = URLSafeSerializer(self.secret, salt="theodoi.session")

    def dumps(self, data: dict[str, Any]) -> str:
        return self._serializer.dumps(data)

    def loads(self, raw: str) -> dict[str, Any] | None:
        """The session in ``raw``, or None when tampered with or expired."""
        try:
            data = self._serializer.loads(raw)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        try:
            expires = datetime.fromisoformat(data.get("exp", ""))
        except (TypeError, ValueError):
            return None
        return data if self.clock.now() < expires else None

    def expiry(self) -> str:
        return (self.clock.now() + self.lifetime).isoformat()


def start_session(
    session: dict[str, Any], codec: SessionCodec, user_id: int, epoch: int = 0
) -> None:
    """A fresh session for a logged-in user (new CSRF token: no fixation). ``epoch`` is
    the user's ``session_epoch``: raising it in the database ends this session."""
    session.clear()
    session["uid"] = user_id
    session["gen"] = epoch
    session["csrf"] = secrets.token_urlsafe(24)
    session["exp"] = codec.expiry()


def csrf_token(session: dict[str, Any], codec: SessionCodec) -> str:
    """The session's CSRF token, creating an anonymous session if needed."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        session["csrf"] = token
        session["exp"] = codec.expiry()
    return token


def csrf_ok(session: dict[str, Any], submitted: str | None) -> bool:
    expected = session.get("csrf")
    return bool(expected and submitted) and hmac.compare_digest(str(expected), str(submitted))


class SessionMiddleware:
    """Puts a :class:`Session` in ``scope["session"]`` and writes it back when changed."""

    def __init__(
        self, app: ASGIApp, codec: SessionCodec, max_age_s: int, secure: bool = False
    ) -> None:
        self.app = app
        self.codec = codec
        self.max_age_s = max_age_s
        self.flags = "HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        raw = HTTPConnection(scope).cookies.get(SESSION_COOKIE)
        loaded = self.codec.loads(raw) if raw else None
        session = Session(loaded or {})
        scope["session"] = session
        scope["session_expired"] = bool(raw) and loaded is None

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start" and session.modified:
                headers = MutableHeaders(scope=message)
                if session:
                    value = self.codec.dumps(dict(session))
                    headers.append(
                        "Set-Cookie",
                        f"{SESSION_COOKIE}={value}; Path=/; Max-Age={self.max_age_s}; "
                        + self.flags,
                    )
                else:
                    headers.append(
                        "Set-Cookie",
                        f"{SESSION_COOKIE}=; Path=/; Max-Age=0; " + self.flags,
                    )
            await send(message)

        await self.app(scope, receive, send_wrapper)


# -- login rate limit ---------------------------------------------------------------


class LoginLimiter:
    """At most ``max_failures`` failed logins per (e-mail, address) within ``window``;
    then that pair waits until the oldest failure leaves the window.

    Kept in memory: each web process limits on its own (documented in docs/web.md).
    """

    def __init__(
        self,
        now: Callable[[], datetime],
        max_failures: int = 5,
        window: timedelta = timedelta(minutes=15),
    ) -> None:
        self._now = now
        self.max_failures = max_failures
        self.window = window
        self._failures: dict[tuple[str, str], list[datetime]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str]) -> list[datetime]:
        cutoff = self._now() - self.window
        recent = [t for t in self._failures.get(key, []) if t > cutoff]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent

    def wait(self, email: str, address: str) -> timedelta | None:
        """How long this pair must wait before trying again, or None."""
        key = (email.strip().lower(), address)
        with self._lock:
            recent = self._recent(key)
            if len(recent) < self.max_failures:
                return None
            return recent[0] + self.window - self._now()

    def failed(self, email: str, address: str) -> None:
        key = (email.strip().lower(), address)
        with self._lock:
            self._recent(key)
            self._failures.setdefault(key, []).append(self._now())

    def succeeded(self, email: str, address: str) -> None:
        with self._lock:
            self._failures.pop((email.strip().lower(), address), None)
