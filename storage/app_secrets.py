"""Keys once generated per database (``app_secret``).

The link- and session-signing key no longer lives here (a database reader could sign
sessions with it): it comes from the environment or a key file (notifications/links.py).
:func:`peek` and :func:`forget` move a key stored by an older version out of the table.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select

from storage.db import Session
from storage.dialects import insert_or_ignore
from storage.models import AppSecret

SECRET = AppSecret.__table__


def get_or_create(session: Session, name: str, candidate: str, now: datetime) -> str:
    """The stored value of ``name``; ``candidate`` is stored first if there is none
    (insert-or-ignore, so concurrent callers all get the one value stored)."""
    session.execute(
        insert_or_ignore(session, SECRET, "name").values(name=name, value=candidate, created_at=now)
    )
    return session.execute(select(SECRET.c.value).where(SECRET.c.name == name)).scalar_one()


def peek(session: Session, name: str) -> str | None:
    """The stored value of ``name``, if there is one."""
    return session.execute(select(SECRET.c.value).where(SECRET.c.name == name)).scalar()


def forget(session: Session, name: str) -> None:
    """Remove ``name`` from the table."""
    session.execute(delete(SECRET).where(SECRET.c.name == name))
