"""Web accounts: users, what a login session and an API token resolve to, and the
keys the application generates once per database.

E-mail addresses are stored normalised (web/users.py normalises them); lookups here
match exactly. Only the hash of an API token is kept.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Session
from storage.models import AppSecret, User

SECRET = AppSecret.__table__


def user(session: Session, user_id: int) -> User | None:
    return session.get(User, user_id)


def active_user(session: Session, user_id: int) -> User | None:
    """The user a login session names, if the account is still active."""
    found = session.get(User, user_id)
    return found if found is not None and found.active else None


def user_by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email)).first()


def user_by_token_hash(session: Session, digest: str) -> User | None:
    """The active user whose API token hashes to ``digest``."""
    stmt = select(User).where(User.api_token_hash == digest, User.active)
    return session.scalars(stmt).first()


def list_users(session: Session) -> list[User]:
    """Every user, by role then e-mail."""
    return list(session.scalars(select(User).order_by(User.role, User.email)))


def save_user(session: Session, user: User) -> User:
    """Insert or update a user; its id is set when this returns."""
    session.add(user)
    session.flush()
    return user


def app_secret(session: Session, name: str, candidate: str, now: datetime) -> str:
    """The stored value of the secret ``name``; ``candidate`` is stored first if there is
    none (two processes racing both get the one that was stored first)."""
    maker = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(
        maker(SECRET)
        .values(name=name, value=candidate, created_at=now)
        .on_conflict_do_nothing(index_elements=["name"])
    )
    return session.execute(select(SECRET.c.value).where(SECRET.c.name == name)).scalar_one()
