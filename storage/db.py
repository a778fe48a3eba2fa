"""Connections and transactions, for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout and foreign keys on; a write transaction
starts with ``BEGIN IMMEDIATE`` so two writers queue instead of failing half-way.
PostgreSQL (``postgresql+psycopg://…``) runs the same code; workers claim rows with
``FOR UPDATE SKIP LOCKED`` (see storage/queries.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlmodel import (
    Session,  # the transaction handle other layers annotate with (import it from here)
)
from tenacity import retry, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from storage import models  # noqa: F401  (registers the tables)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def is_transient(exc: BaseException) -> bool:
    """Errors that a retry can cure: SQLite's lock, a lost PostgreSQL connection."""
    if isinstance(exc, OperationalError):
        text = str(exc.orig).lower() if exc.orig else str(exc).lower()
        return (
            "database is locked" in text
            or "database table is locked" in text
            or exc.connection_invalidated
            or "connection" in text
            or "terminat" in text
            or "server closed" in text
        )
    return isinstance(exc, DBAPIError) and exc.connection_invalidated


transient_retry = retry(
    retry=retry_if_exception(is_transient),
    wait=wait_exponential_jitter(initial=0.05, max=5),
    stop=stop_after_attempt(12),
    reraise=True,
)


class Database:
    """One engine per process; sessions are short and explicit."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        parsed = make_url(url)
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo, "pool_pre_ping": True}
        if self.dialect == "sqlite":
            kwargs["connect_args"] = {"timeout": 30, "check_same_thread": False}
            if parsed.database and parsed.database != ":memory:":
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        elif self.dialect == "postgresql":
            # Fail fast on a dead server, and notice a silently dropped connection
            # (TCP keepalives) instead of waiting on it forever.
            kwargs["connect_args"] = {
                "connect_timeout": 10,
                "keepalives": 1,
                "keepalives_idle": 30,
                "keepalives_interval": 10,
                "keepalives_count": 3,
            }
        self.engine: Engine = create_engine(url, **kwargs)
        if self.dialect == "sqlite":
            _sqlite_setup(self.engine)

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    @contextmanager
    def session(self, write: bool = True) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error.

        On SQLite a write session takes the write lock up front (BEGIN IMMEDIATE).
        """
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_immediate=write)
            with conn.begin():
                session = Session(bind=conn, expire_on_commit=False)
                try:
                    yield session
                    session.flush()
                finally:
                    session.close()

    def upgrade(self) -> None:
        """Create or upgrade the schema to the latest migration."""
        with self.engine.begin() as conn:
            cfg = alembic_config(self.url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def has_schema(self) -> bool:
        """Has ``theodoi init`` created the tables?"""
        return sa_inspect(self.engine).has_table("calendar_day")

    def dispose(self) -> None:
        self.engine.dispose()


def alembic_config(url: str) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
