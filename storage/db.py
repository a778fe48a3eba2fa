"""Connections and transactions, for SQLite (embedded default) and PostgreSQL.

SQLite runs in WAL mode with a busy timeout and foreign keys on; a write transaction
starts with ``BEGIN IMMEDIATE`` so two writers queue instead of failing half-way.
PostgreSQL (``postgresql+psycopg://…``) runs the same code; workers claim rows with
``FOR UPDATE SKIP LOCKED`` (see storage/timers.py and storage/outbox.py).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError, SQLAlchemyError
from sqlmodel import (
    Session,  # the transaction handle other layers annotate with (import it from here)
)
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_never,
    stop_when_event_set,
    wait_exponential,
    wait_random_exponential,
)

from kernel.errors import StorageError, StorageUnavailable
from kernel.keyfile import create_private
from storage import models  # noqa: F401  (registers the tables)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


# SQLSTATEs a retry cures: serialisation failure, deadlock (PostgreSQL).
_RETRY_SQLSTATES = {"40001", "40P01"}


def is_transient(exc: BaseException) -> bool:
    """Errors that a retry can cure: SQLite's lock, a lost or refused PostgreSQL
    connection, a serialisation failure or deadlock. Takes a driver error (inside a
    session block) or a wrapped one (:class:`StorageUnavailable`)."""
    if isinstance(exc, StorageUnavailable):
        return True
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    if not isinstance(exc, OperationalError):
        return False
    orig = exc.orig
    if getattr(orig, "sqlstate", None) in _RETRY_SQLSTATES:
        return True
    text_ = str(orig).lower() if orig else str(exc).lower()
    return (
        "database is locked" in text_
        or "database table is locked" in text_
        or "connection" in text_
        or "terminat" in text_
        or "server closed" in text_
    )


def describe(exc: BaseException) -> str:
    """The driver's error in one line: ``OperationalError: database is locked``."""
    orig = getattr(exc, "orig", None) or exc
    lines = str(orig).strip().splitlines()
    return f"{type(orig).__name__}: {lines[0] if lines else ''}"


def backoff(
    *,
    maximum: float,
    initial: float = 0.5,
    retry_on: type[BaseException] | tuple[type[BaseException], ...] = StorageUnavailable,
    attempts: int | None = None,
    stopping: threading.Event | None = None,
    before_sleep: Callable[[RetryCallState], None] | None = None,
) -> Retrying:
    """theodoi's one backoff (tenacity): waits of ``initial`` seconds doubling up to
    ``maximum``, each with equal jitter (half fixed, half random), between attempts
    that raise ``retry_on``; other errors pass through at once.

    ``attempts`` bounds the tries (None: until it works); ``stopping`` ends the waits
    and the tries as soon as it is set, re-raising the last error. Every call of the
    returned object starts over from ``initial``.
    """
    stop = stop_never if attempts is None else stop_after_attempt(attempts)
    if stopping is not None:
        stop = stop | stop_when_event_set(stopping)
    half_initial, half_max = initial / 2, maximum / 2
    return Retrying(
        retry=retry_if_exception_type(retry_on),
        wait=wait_exponential(multiplier=half_initial, max=half_max)
        + wait_random_exponential(multiplier=half_initial, max=half_max),
        stop=stop,
        sleep=stopping.wait if stopping is not None else time.sleep,
        before_sleep=before_sleep,
        reraise=True,
    )


def wrap_error(exc: SQLAlchemyError, doing: str, url: str) -> StorageError:
    """A driver error as theodoi's: :class:`StorageUnavailable` when a retry may cure
    it, else :class:`StorageError`; the message says what was being done, where."""
    kind = StorageUnavailable if is_transient(exc) else StorageError
    return kind(f"{doing} on {url} failed: {describe(exc)}")


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
                create_private(Path(parsed.database))  # 0600; SQLite gives -wal/-shm its mode
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

    def beside(self, suffix: str) -> Path | None:
        """A file next to the SQLite database file (``theodoi.db`` + ``suffix``); None
        for PostgreSQL or an in-memory database."""
        database = make_url(self.url).database
        if self.is_sqlite and database and database != ":memory:":
            return Path(database + suffix)
        return None

    @property
    def safe_url(self) -> str:
        """The URL without its password, for logs and error messages."""
        return make_url(self.url).render_as_string(hide_password=True)

    @contextmanager
    def _driver(self, doing: str) -> Iterator[None]:
        """Driver errors that escape become :class:`StorageError` (or
        :class:`StorageUnavailable`), naming what was being done and where."""
        try:
            yield
        except SQLAlchemyError as exc:
            raise wrap_error(exc, doing, self.safe_url) from exc

    @contextmanager
    def session(self, write: bool = True, *, doing: str | None = None) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error.

        On SQLite a write session takes the write lock up front (BEGIN IMMEDIATE).
        A driver error that escapes the block (connecting, a statement, the commit)
        leaves as :class:`StorageError`, or :class:`StorageUnavailable` when a retry
        may cure it; code inside the block still sees the driver's own errors (an
        ``IntegrityError`` under a savepoint, say). ``doing`` names the work for the
        message (default: "write transaction" / "read transaction").
        """
        doing = doing or ("write transaction" if write else "read transaction")
        with self._driver(doing), self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_immediate=write)
            with conn.begin():
                session = Session(bind=conn, expire_on_commit=False)
                try:
                    yield session
                    session.flush()
                finally:
                    session.close()

    def scratch_copy(self, folder: Path) -> Database | None:
        """SQLite: a private copy of the database in ``folder``, for work that must write
        nothing here (an import's dry run does its writes there and rolls them back).
        The copy is read under a read transaction (WAL: writers go on meanwhile).
        None on PostgreSQL, which has no database-wide write lock to spare."""
        if not self.is_sqlite or make_url(self.url).database in (None, "", ":memory:"):
            return None
        target = Path(folder) / "scratch.db"
        create_private(target)
        with self._driver("scratch copy"), self.engine.connect() as conn:
            source = conn.connection.driver_connection
            copy = sqlite3.connect(target)
            try:
                source.backup(copy)  # one step: a consistent snapshot
            finally:
                copy.close()
        return Database(f"sqlite:///{target}")

    def ping(self) -> None:
        """Raise :class:`StorageError` unless the database answers ``SELECT 1``."""
        with self.session(write=False, doing="ping") as session:
            session.execute(text("SELECT 1"))

    def upgrade(self, to: str = "head") -> None:
        """Create or upgrade the schema to the latest migration (or to revision ``to``).

        A database at a revision this code does not know (made by a newer theodoi) is
        refused: theodoi never downgrades a schema on its own."""
        current = self.revision() if self.has_schema() else None
        scripts = ScriptDirectory.from_config(alembic_config(self.url))
        if current is not None and current not in {s.revision for s in scripts.walk_revisions()}:
            raise StorageError(
                f"{self.safe_url} ở phiên bản lược đồ {current}, mới hơn bản theodoi này "
                f"({head_revision()}): không hạ cấp / the schema is at {current}, newer than "
                "this theodoi knows: downgrades are refused — install the newer theodoi, or "
                "restore a backup made by this version"
            )
        with self._driver("schema upgrade"), self.engine.begin() as conn:
            cfg = alembic_config(self.url)
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, to)

    def revision(self) -> str | None:
        """The Alembic revision the database is at (None: no schema yet)."""
        with self._driver("schema revision"), self.engine.connect() as conn:
            if not sa_inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def has_schema(self) -> bool:
        """Has ``theodoi init`` created the tables?"""
        with self._driver("schema check"):
            return sa_inspect(self.engine).has_table("calendar_day")

    def dispose(self) -> None:
        self.engine.dispose()


def head_revision() -> str:
    """The newest migration's revision (the schema this code expects)."""
    head = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()
    assert head is not None
    return head


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
