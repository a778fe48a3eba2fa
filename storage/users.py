"""Web accounts: users, what a login session and an API token resolve to, and ending
all of a user's sessions at once (``session_epoch``).

E-mail addresses are stored normalised (web/users.py normalises them); lookups here
match exactly. Only the hash of an API token is kept.
"""

from __future__ import annotations

from sqlalchemy import select, update

from storage.db import Session
from storage.models import User


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


def end_sessions(session: Session, user_id: int) -> None:
    """End every session of the user: cookies carry the epoch they started with."""
    session.execute(
        update(User).where(User.id == user_id).values(session_epoch=User.session_epoch + 1)
    )
