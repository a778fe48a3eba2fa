"""Accounts: add a user, set a password, issue an API token (CLI and admin pages).

A change that should throw the user out — a new password, another role or unit,
deactivation — raises the account's ``session_epoch``, which ends all its sessions.
API tokens carry an expiry and a scope (``read`` or ``write``); only the hash is kept.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import storage.units
from engine import limits
from kernel.errors import InvalidInput, NotFound
from storage import users as user_store
from storage.db import Session
from storage.models import User
from web.security import hash_api_token, hash_password, new_api_token

ROLES = ("admin", "coordinator", "unit", "leader")
SCOPES = ("read", "write")
MIN_PASSWORD = 10


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD} characters")
    return password


def normalise_email(email: str) -> str:
    email = email.strip().lower()
    limits.check_user({"email": email})
    if "@" not in email or " " in email:
        raise InvalidInput("email", f"'{email}' is not an e-mail address")
    return email


def find_user(session: Session, email: str) -> User | None:
    return user_store.user_by_email(session, email.strip().lower())


def add_user(
    session: Session,
    email: str,
    role: str,
    *,
    now: Any,
    unit_code: str | None = None,
    password: str | None = None,
    language: str = "vi",
) -> User:
    """Create a user, or update the role/unit/password of the one with this e-mail."""
    email = normalise_email(email)
    if role not in ROLES:
        raise InvalidInput("role", f"'{role}' is not one of {', '.join(ROLES)}")
    unit_id = None
    if role == "unit":
        if not unit_code:
            raise InvalidInput("unit", "a unit user needs --unit CODE")
        unit = storage.units.unit_by_code(session, unit_code)
        if unit is None:
            raise InvalidInput("unit", f"unknown unit '{unit_code}' (add it: theodoi unit add)")
        unit_id = unit.id
    elif unit_code:
        raise InvalidInput("unit", f"only unit users belong to a unit (role is {role})")
    existing = find_user(session, email)
    user = existing or User(email=email, role=role, created_at=now)
    changed = existing is not None and (
        (existing.role, existing.unit_id, existing.active) != (role, unit_id, True)
        or password is not None
    )
    user.role, user.unit_id, user.language, user.active = role, unit_id, language, True
    if password is not None:
        user.password_hash = hash_password(check_password(password))
    if changed:
        end_sessions(user)
    return user_store.save_user(session, user)


def end_sessions(user: User) -> None:
    """Every session of ``user`` ends when this change is saved."""
    user.session_epoch = (user.session_epoch or 0) + 1


def set_active(session: Session, user: User, active: bool) -> User:
    """Activate or deactivate an account; either way its sessions end."""
    user.active = active
    end_sessions(user)
    return user_store.save_user(session, user)


def set_password(session: Session, email: str, password: str) -> User:
    user = find_user(session, email)
    if user is None:
        raise NotFound(f"no user with e-mail '{email}'")
    user.password_hash = hash_password(check_password(password))
    end_sessions(user)
    return user_store.save_user(session, user)


def issue_token(
    session: Session, email: str, *, now: datetime, days: float = 90, scope: str = "read"
) -> str:
    """A new API token for the user (the old one stops working), valid ``days`` days,
    for reading only or also writing (``scope``); only its hash is kept."""
    if scope not in SCOPES:
        raise InvalidInput("scope", f"'{scope}' is not one of {', '.join(SCOPES)}")
    if days <= 0:
        raise InvalidInput("days", "must be more than 0")
    user = find_user(session, email)
    if user is None:
        raise NotFound(f"no user with e-mail '{email}'")
    token, digest = new_api_token()
    user.api_token_hash = digest
    user.api_token_expires_at = now + timedelta(days=days)
    user.api_token_scope = scope
    user_store.save_user(session, user)
    return token


def user_for_token(session: Session, token: str, now: datetime) -> User | None:
    """The active user whose unexpired token this is (a token without expiry, issued by
    an older version, is refused: issue a new one)."""
    if not token:
        return None
    user = user_store.user_by_token_hash(session, hash_api_token(token))
    if user is None or user.api_token_expires_at is None or user.api_token_expires_at <= now:
        return None
    return user
