"""Accounts: add a user, set a password, issue an API token (CLI and admin pages)."""

from __future__ import annotations

from typing import Any

import storage.units
from kernel.errors import InvalidInput, NotFound
from storage import users as user_store
from storage.db import Session
from storage.models import User
from web.security import hash_api_token, hash_password, new_api_token

ROLES = ("admin", "coordinator", "unit", "leader")
MIN_PASSWORD = 10


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD} characters")
    return password


def normalise_email(email: str) -> str:
    email = email.strip().lower()
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
    user = find_user(session, email) or User(email=email, role=role, created_at=now)
    user.role, user.unit_id, user.language, user.active = role, unit_id, language, True
    if password is not None:
        user.password_hash = hash_password(check_password(password))
    return user_store.save_user(session, user)


def set_password(session: Session, email: str, password: str) -> User:
    user = find_user(session, email)
    if user is None:
        raise NotFound(f"no user with e-mail '{email}'")
    user.password_hash = hash_password(check_password(password))
    return user_store.save_user(session, user)


def issue_token(session: Session, email: str) -> str:
    """A new API token for the user (the old one stops working); only its hash is kept."""
    user = find_user(session, email)
    if user is None:
        raise NotFound(f"no user with e-mail '{email}'")
    token, digest = new_api_token()
    user.api_token_hash = digest
    user_store.save_user(session, user)
    return token


def user_for_token(session: Session, token: str) -> User | None:
    if not token:
        return None
    return user_store.user_by_token_hash(session, hash_api_token(token))
