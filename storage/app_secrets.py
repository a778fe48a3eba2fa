"""Keys generated once per database (``app_secret``), e.g. the link-signing key."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

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
