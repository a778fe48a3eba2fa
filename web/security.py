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
from collections.abc import Callable, Sequence
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
    """Failed logins are counted three ways within ``window``:

    * per (e-mail, address): ``max_failures`` (5) block that pair;
    * per account, from any address: ``account_failures`` (20) lock the account for
      everyone (a rotated or hidden client address does not help);
    * per address, whatever the e-mail: ``address_failures`` (30) block the address
      (password spraying, one try per account).

    A block lasts until the oldest failure that caused it leaves the window. Kept in
    memory: each web process limits on its own (docs/web.md).
    """

    def __init__(
        self,
        now: Callable[[], datetime],
        max_failures: int = 5,
        window: timedelta = timedelta(minutes=15),
        account_failures: int = 20,
        address_failures: int = 30,
    ) -> None:
        self._now = now
        self.max_failures = max_failures
        self.account_failures = account_failures
        self.address_failures = address_failures
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

    def _keys(self, email: str, address: str) -> list[tuple[tuple[str, str], int]]:
        email = email.strip().lower()
        return [
            ((email, address), self.max_failures),
            ((email, "*"), self.account_failures),
            (("*", address), self.address_failures),
        ]

    def wait(self, email: str, address: str) -> timedelta | None:
        """How long this e-mail from this address must wait before trying again, or None."""
        with self._lock:
            waits = []
            for key, limit in self._keys(email, address):
                recent = self._recent(key)
                if len(recent) >= limit:
                    waits.append(recent[-limit] + self.window - self._now())
            return max(waits) if waits else None

    def failed(self, email: str, address: str) -> bool:
        """Count a failure; True when it has just locked the account (tell someone)."""
        with self._lock:
            locked = False
            for key, limit in self._keys(email, address):
                recent = self._recent(key)
                self._failures.setdefault(key, recent).append(self._now())
                if key[1] == "*" and len(self._failures[key]) == limit:
                    locked = True
            return locked

    def succeeded(self, email: str, address: str) -> None:
        with self._lock:
            self._failures.pop((email.strip().lower(), address), None)


_DUMMY_HASH: str | None = None


def verify_or_waste(password_hash: str | None, password: str) -> bool:
    """:func:`verify_password`, taking the same time when there is no account or no
    password (a dummy hash is verified), so timing does not tell which e-mails exist."""
    global _DUMMY_HASH
    if password_hash:
        return verify_password(password_hash, password)
    if _DUMMY_HASH is None or _hasher.check_needs_rehash(_DUMMY_HASH):
        _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
    verify_password(_DUMMY_HASH, password)
    return False


def client_address(
    peer: str | None, forwarded_for: str | None, trusted_proxies: Sequence[str]
) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy, then the last
    ``X-Forwarded-For`` entry that is not itself a trusted proxy."""
    address = peer or "-"
    if address not in trusted_proxies or not forwarded_for:
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        if hop not in trusted_proxies:
            return hop
    return address
