"""Signed, expiring links from reminder e-mails to the web submission page.

``sign_case_link(secret, case_id)`` gives a URL-safe token; the page is
``f"{organisation.base_url}/r/{token}"``; ``verify_case_link(secret, token,
max_age_s)`` gives the case id back or raises :class:`InvalidLink`. The timestamp
inside the token comes from the caller's ``now`` when given (simulated time signs
simulated links), else from itsdangerous itself.

The secret is ``[web] secret_key`` (from ``THEODOI_WEB__SECRET_KEY``); when it is
empty, :func:`secret_key` reads it from a key file (``[web] secret_key_file``, default
beside the SQLite database: ``theodoi.db.key``; ``var/theodoi.key`` for PostgreSQL),
created once with mode 0600, so links and sessions survive restarts. It is never kept
in the database: whoever can read the database could otherwise sign sessions. A key an
older version stored in the ``app_secret`` table is moved to the file, then deleted.
"""

from __future__ import annotations

import calendar
import secrets
from datetime import datetime
from pathlib import Path
from typing import Any

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

from kernel import keyfile
from kernel.errors import TheodoiError
from notifications import store

SALT = "theodoi.case-link"
SECRET_NAME = "web.secret_key"


class InvalidLink(TheodoiError):
    """A link that was tampered with, is malformed, or has expired."""

    def __init__(self, message: str, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


def _serializer(secret: str, now: datetime | None) -> URLSafeTimedSerializer:
    if now is None:
        return URLSafeTimedSerializer(secret, salt=SALT)
    stamp = calendar.timegm(now.utctimetuple())  # naive UTC → epoch seconds

    class _At(TimestampSigner):
        def get_timestamp(self) -> int:
            return stamp

    return URLSafeTimedSerializer(secret, salt=SALT, signer=_At)


def sign_case_link(secret: str, case_id: int, now: datetime | None = None) -> str:
    if not secret:
        raise InvalidLink("no secret key to sign links with")
    return _serializer(secret, now).dumps({"c": int(case_id)})


def verify_case_link(secret: str, token: str, max_age_s: float, now: datetime | None = None) -> int:
    """The case id inside ``token``; InvalidLink when tampered with or older than max_age_s."""
    try:
        data = _serializer(secret, now).loads(token, max_age=max_age_s)
    except SignatureExpired as exc:
        raise InvalidLink("this link has expired", expired=True) from exc
    except BadData as exc:
        raise InvalidLink("this link is not valid") from exc
    if not isinstance(data, dict) or not isinstance(data.get("c"), int):
        raise InvalidLink("this link is not valid")
    return data["c"]


def case_link_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}/r/{token}"


def key_file(db: Any, config: Any) -> Path:
    """Where the signing key is kept when ``[web] secret_key`` is not set."""
    if config.web.secret_key_file:
        return Path(config.web.secret_key_file)
    return db.beside(".key") or Path("var/theodoi.key")


def secret_key(db: Any, config: Any, now: datetime | None = None) -> str:
    """``[web] secret_key`` if set, else the key file's (created once, mode 0600)."""
    if config.web.secret_key:
        return config.web.secret_key
    legacy = store.stored_secret(db, SECRET_NAME)
    key = keyfile.read_or_create(key_file(db, config), lambda: legacy or secrets.token_urlsafe(48))
    if legacy is not None:
        store.forget_secret(db, SECRET_NAME)
    return key


def app_secret(app: Any) -> str:
    """The signing key for an ``engine.app.App`` (used by the web for sessions and links)."""
    return secret_key(app.db, app.config, app.clock.now())
