"""Contract for storage/users.py, on SQLite and on PostgreSQL: users are created,
changed and listed; a login session resolves to an active user only; an API token
resolves through its hash to an active user only; ending a user's sessions raises
that user's epoch."""

from __future__ import annotations

from datetime import datetime

import pytest

from kernel.errors import StorageError
from storage import pages
from storage import users as user_store
from storage.db import Database
from storage.models import Unit, User
from tests.contract import test_storage_contract

db = test_storage_contract.db  # the fixture: a migrated, empty database on each backend

NOW = datetime(2026, 3, 10, 2, 0)


def add(db: Database, email: str, role: str = "coordinator", **fields: object) -> int:
    with db.session() as s:
        user = user_store.save_user(s, User(email=email, role=role, created_at=NOW, **fields))
        assert user.id is not None
        return user.id


def test_save_user_inserts_then_updates(db: Database) -> None:
    with db.session() as s:
        unit = pages.save_unit(s, Unit(code="SYT", name="Sở Y tế"))
    uid = add(db, "a@example.vn", "unit", unit_id=unit.id, password_hash="h1")
    with db.session() as s:
        user = user_store.user(s, uid)
        assert user is not None
        assert (user.email, user.role, user.unit_id, user.language) == (
            "a@example.vn",
            "unit",
            unit.id,
            "vi",
        )
        user.role, user.unit_id, user.password_hash = "leader", None, "h2"
        assert user_store.save_user(s, user).id == uid
    with db.session(write=False) as s:
        again = user_store.user(s, uid)
        assert again is not None
        assert (again.role, again.unit_id, again.password_hash) == ("leader", None, "h2")
        assert user_store.user(s, uid + 1000) is None
        assert len(user_store.list_users(s)) == 1


def test_an_email_belongs_to_one_user(db: Database) -> None:
    add(db, "a@example.vn")
    with pytest.raises(StorageError, match="(?i)unique|duplicate"), db.session() as s:
        user_store.save_user(s, User(email="a@example.vn", role="admin", created_at=NOW))


def test_user_by_email_matches_exactly(db: Database) -> None:
    uid = add(db, "a@example.vn")
    add(db, "b@example.vn")
    with db.session(write=False) as s:
        found = user_store.user_by_email(s, "a@example.vn")
        assert found is not None and found.id == uid
        assert user_store.user_by_email(s, "c@example.vn") is None
        # web/users.py normalises addresses before they are stored and looked up
        assert user_store.user_by_email(s, "A@example.vn") is None


def test_list_users_by_role_then_email(db: Database) -> None:
    for email, role in [
        ("z@example.vn", "admin"),
        ("b@example.vn", "unit"),
        ("a@example.vn", "unit"),
        ("m@example.vn", "coordinator"),
    ]:
        add(db, email, role)
    with db.session(write=False) as s:
        listed = [(u.role, u.email) for u in user_store.list_users(s)]
    assert listed == [
        ("admin", "z@example.vn"),
        ("coordinator", "m@example.vn"),
        ("unit", "a@example.vn"),
        ("unit", "b@example.vn"),
    ]


def test_a_session_resolves_to_an_active_user_only(db: Database) -> None:
    active = add(db, "a@example.vn")
    locked = add(db, "b@example.vn", active=False)
    with db.session(write=False) as s:
        found = user_store.active_user(s, active)
        assert found is not None and found.email == "a@example.vn"
        assert user_store.active_user(s, locked) is None
        assert user_store.active_user(s, active + locked + 1000) is None
    with db.session() as s:  # locking an account ends its sessions
        user = user_store.user(s, active)
        assert user is not None
        user.active = False
        user_store.save_user(s, user)
    with db.session(write=False) as s:
        assert user_store.active_user(s, active) is None


def test_a_token_resolves_through_its_hash_to_an_active_user(db: Database) -> None:
    uid = add(db, "a@example.vn", api_token_hash="digest-a")
    add(db, "b@example.vn", api_token_hash="digest-b", active=False)
    add(db, "c@example.vn")  # no token
    with db.session(write=False) as s:
        found = user_store.user_by_token_hash(s, "digest-a")
        assert found is not None and found.id == uid
        assert user_store.user_by_token_hash(s, "digest-b") is None  # inactive
        assert user_store.user_by_token_hash(s, "digest-x") is None
    with db.session() as s:  # a new token replaces the old one
        user = user_store.user(s, uid)
        assert user is not None
        user.api_token_hash = "digest-new"
        user_store.save_user(s, user)
    with db.session(write=False) as s:
        assert user_store.user_by_token_hash(s, "digest-a") is None
        renewed = user_store.user_by_token_hash(s, "digest-new")
        assert renewed is not None and renewed.id == uid


def test_ending_sessions_raises_only_that_users_epoch(db: Database) -> None:
    one, two = add(db, "a@example.vn"), add(db, "b@example.vn")
    with db.session() as s:
        user_store.end_sessions(s, one)
        user_store.end_sessions(s, one)
    with db.session(write=False) as s:
        assert user_store.user(s, one).session_epoch == 2
        assert user_store.user(s, two).session_epoch == 0
