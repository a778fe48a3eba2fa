"""PostgreSQL for tests: one fresh schema per test, dropped afterwards.

``THEODOI_TEST_PG_URL`` names the server (``.ci/run`` sets it, e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/test``). Each test gets its own schema
and a URL whose ``search_path`` points at it, so tests never see each other's rows,
even when several suites share the server at once.

Use it with ``from tests.pg import pg_url  # noqa: F401`` and a ``pg_url`` argument.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ENV = "THEODOI_TEST_PG_URL"

SKIP_REASON = (
    f"!!! PostgreSQL tests SKIPPED: {PG_ENV} is not set. Set it (e.g. "
    "postgresql+psycopg://postgres@127.0.0.1:5432/test) or run .ci/run, which sets it. !!!"
)


def pg_base_url() -> str | None:
    return os.environ.get(PG_ENV) or None


def schema_url(base: str, schema: str, **params: str) -> str:
    """``base`` with ``search_path`` set to ``schema`` (and any extra connection params)."""
    url = make_url(base)
    query = dict(url.query)
    query["options"] = f"-csearch_path={schema}"
    query.update(params)
    rendered = url.set(query={}).render_as_string(hide_password=False)
    return rendered + "?" + "&".join(f"{k}={quote(str(v), safe='')}" for k, v in query.items())


@contextmanager
def pg_schema(base: str, prefix: str = "t") -> Iterator[tuple[str, str]]:
    """Create a uniquely named schema; yield (schema, url); drop it afterwards."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        try:
            yield schema, schema_url(base, schema)
        finally:
            with admin.connect() as conn:
                # Connections a test left behind (killed workers) must not block the drop.
                conn.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE pid <> pg_backend_pid() AND application_name LIKE :name"
                    ),
                    {"name": f"{schema}%"},
                )
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        admin.dispose()


def require_pg() -> str:
    base = pg_base_url()
    if base is None:
        pytest.skip(SKIP_REASON)
    return base


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh, empty schema (skip when unset)."""
    with pg_schema(require_pg()) as (_schema, url):
        yield url
