"""The Alembic migrations build exactly the tables storage/models.py declares.

A fresh database upgraded to head is compared with the models' metadata by Alembic's
own autogenerate comparison (tables, columns, types, nullability, server defaults,
indexes, unique constraints, foreign keys), on SQLite and on PostgreSQL. A model change
without its migration, or a migration without its model change, fails here. Partial
indexes are compared by hand: autogenerate does not look at an index's ``WHERE``.

Nothing is ignored on either backend today: the models use nothing SQLite cannot
represent (if that changes, filter that one difference with a comment saying why).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, MetaData, inspect
from sqlmodel import SQLModel

from storage.db import Database, alembic_config
from tests.pg import pg_schema, require_pg

METADATA = SQLModel.metadata  # storage.db imports storage.models, which fills it


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    """An empty database (no tables at all) on each backend."""
    if request.param == "sqlite":
        database = Database(f"sqlite:///{tmp_path / 'migrations.db'}")
        yield database
        database.dispose()
        return
    with pg_schema(require_pg()) as (_schema, url):
        database = Database(url)
        yield database
        database.dispose()


def diff(conn: Connection, metadata: MetaData = METADATA) -> list[Any]:
    context = MigrationContext.configure(
        conn, opts={"compare_type": True, "compare_server_default": True}
    )
    return compare_metadata(context, metadata)


def migrate(db: Database, direction: str, revision: str) -> None:
    with db.engine.begin() as conn:
        cfg = alembic_config(db.url)
        cfg.attributes["connection"] = conn
        getattr(command, direction)(cfg, revision)


def test_one_line_of_migrations() -> None:
    """One head: two branches adding migrations in parallel must be merged in order."""
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1, script.get_heads()


def test_head_matches_the_models(fresh: Database) -> None:
    fresh.upgrade()
    with fresh.engine.connect() as conn:
        assert diff(conn) == []
        # the comparison looks at the schema the tables are in (PostgreSQL: the test's
        # own search_path), so an empty model would be told every table is extra
        extra = {op[1].name for op in diff(conn, MetaData()) if op[0] == "remove_table"}
        assert extra == set(METADATA.tables)


def test_partial_indexes_are_partial(fresh: Database) -> None:
    fresh.upgrade()
    dialect = fresh.engine.dialect.name
    wanted = {
        index.name: index.dialect_options[dialect]["where"]
        for table in METADATA.tables.values()
        for index in table.indexes
        if index.dialect_options[dialect]["where"] is not None
    }
    assert wanted, "the models declare partial indexes (the due timers, the outbox)"
    inspector = inspect(fresh.engine)
    found = {
        index["name"]: index.get("dialect_options", {}).get(f"{dialect}_where")
        for table in METADATA.tables
        for index in inspector.get_indexes(table)
    }
    for name, where in wanted.items():
        assert found.get(name) is not None, f"index {name} is not partial in the database"
        assert "pending" in str(found[name]) and "pending" in str(where)


def test_downgrade_and_upgrade_again(fresh: Database) -> None:
    """Every migration defines its downgrade: one step back drops what it added, down to
    nothing drops every table, and upgrading again gives the models' schema."""
    fresh.upgrade()
    migrate(fresh, "downgrade", "-1")
    tables = set(inspect(fresh.engine).get_table_names())
    assert "case" in tables  # one step back undoes the last migration only
    with fresh.engine.connect() as conn:
        assert diff(conn) != []  # …whatever it added is gone
    migrate(fresh, "downgrade", "base")
    assert set(inspect(fresh.engine).get_table_names()) == {"alembic_version"}
    fresh.upgrade()
    with fresh.engine.connect() as conn:
        assert diff(conn) == []
