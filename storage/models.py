"""SQLModel tables: where every case, timer, event and notice lives.

Times are stored as naive UTC datetimes (``NaiveDatetime``: the clock hands out
UTC); dates are calendar dates in the organisation's time zone. Workflow-specific
fields that have no column of their own live in ``Case.data`` (JSON), so a new case type rarely needs a migration.
"""

from datetime import date
from typing import Any

from pydantic import NaiveDatetime
from sqlalchemy import JSON, Column, Index, UniqueConstraint, text
from sqlmodel import Field, SQLModel


class Unit(SQLModel, table=True):
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(index=True, unique=True, max_length=64)
    name: str = Field(max_length=255)
    email: str | None = Field(default=None, max_length=255)
    head_email: str | None = Field(default=None, max_length=255)
    language: str = Field(default="vi", max_length=8)


class Decision(SQLModel, table=True):
    """A decision (quyết định) is identified by its number and the year of its date."""

    __table_args__ = (UniqueConstraint("number", "year", name="uq_decision_number_year"),)

    id: int | None = Field(default=None, primary_key=True)
    number: str = Field(max_length=64)
    year: int
    decided_on: date
    issuer: str = Field(max_length=32)  # province | department | other approving body


class Case(SQLModel, table=True):
    __table_args__ = (
        Index("ix_case_workflow_state", "workflow", "state"),
        Index("ix_case_unit_state", "unit_id", "state"),
        Index("ix_case_parent", "parent_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workflow: str = Field(max_length=32)
    state: str = Field(max_length=32)
    version: int = Field(default=1)  # optimistic lock
    parent_id: int | None = Field(default=None, foreign_key="case.id")  # obligation → project
    decision_id: int | None = Field(default=None, foreign_key="decision.id", index=True)
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    name: str = Field(max_length=255)  # traveller, project or agreement title
    name_key: str = Field(default="", max_length=255, index=True)  # normalised, for identity
    position: str | None = Field(default=None, max_length=255)
    category: str | None = Field(default=None, max_length=32)  # standing_committee | unit
    country_codes: str | None = Field(default=None, max_length=255)  # ISO2, comma-separated
    purpose: str | None = Field(default=None, max_length=16)  # official | private
    email: str | None = Field(default=None, max_length=255)  # traveller / contact, cc
    planned_start: date | None = None
    planned_end: date | None = None
    actual_start: date | None = None
    actual_end: date | None = None
    deadline: date | None = Field(default=None, index=True)
    report_filed_on: date | None = None
    filed_late: bool | None = None
    escalation_level: int = Field(default=0)
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: NaiveDatetime
    updated_at: NaiveDatetime


class Timer(SQLModel, table=True):
    """A pending deadline is a row; APScheduler only wakes the sweep that reads them."""

    __table_args__ = (
        Index(
            "ix_timer_due",
            "fire_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_timer_case", "case_id", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id")
    kind: str = Field(max_length=48)
    level: int = 1
    fire_at: NaiveDatetime
    status: str = Field(default="pending", max_length=16)  # pending|fired|cancelled|parked
    fired_at: NaiveDatetime | None = None
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: NaiveDatetime | None = None
    last_error: str | None = None


class Event(SQLModel, table=True):
    """The append-only history of a case: what an inspector reads."""

    __table_args__ = (Index("ix_event_case_at", "case_id", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id")
    event: str = Field(max_length=48)
    from_state: str | None = Field(default=None, max_length=32)
    to_state: str | None = Field(default=None, max_length=32)
    actor: str = Field(max_length=128)
    at: NaiveDatetime  # when it happened (business time, UTC)
    recorded_at: NaiveDatetime  # when it was written
    reason: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class OutboxMessage(SQLModel, table=True):
    """A notice to send, written in the transaction that caused it.

    The idempotency ``key`` (case, notice kind, deadline, level) is unique: the same
    notice never yields a second row. The Message-ID derives from it.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index(
            "ix_outbox_due",
            "next_attempt_at",
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_outbox_case", "case_id"),
        Index("ix_outbox_status", "status"),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=255, unique=True)
    kind: str = Field(max_length=48)
    case_id: int | None = Field(default=None, foreign_key="case.id")
    level: int = 0
    language: str = Field(default="vi", max_length=8)
    to_addrs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    cc_addrs: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    context: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # pending → sending → sent; held = waits for a coordinator's approval; parked =
    # refused for good (5xx), cannot be rendered or routed, shown to coordinators;
    # withdrawn = no longer true when it was to leave; superseded = a later notice
    # of the same case went instead; failed = (before 0003) given up.
    status: str = Field(default="pending", max_length=16)
    attempts: int = 0
    next_attempt_at: NaiveDatetime  # not before the send window opens
    last_error: str | None = None
    refused: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    message_id: str = Field(max_length=255)
    letter_number: str | None = Field(default=None, max_length=64)
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: NaiveDatetime | None = None
    created_at: NaiveDatetime
    sent_at: NaiveDatetime | None = None
    # What made the notice true when it was written (checked again when it leaves;
    # a notice no longer true is ``withdrawn`` with the reason in ``last_error``):
    # the case's state, escalation level and deadline, and the step that caused it.
    for_state: str | None = Field(default=None, max_length=32)
    for_level: int | None = None
    for_deadline: date | None = None
    caused_at: NaiveDatetime | None = None


class MailServer(SQLModel, table=True):
    """The sender's circuit breaker, readable by every process (the dashboard): while
    the mail server does not answer, ``down_since`` is set and nothing is attempted
    before ``next_probe_at``."""

    __tablename__ = "mail_server"

    name: str = Field(primary_key=True, max_length=32)
    down_since: NaiveDatetime | None = None
    last_error: str | None = None
    failures: int = 0  # probes failed in a row
    next_probe_at: NaiveDatetime | None = None
    checked_at: NaiveDatetime | None = None
    up_since: NaiveDatetime | None = None


class LetterSequence(SQLModel, table=True):
    """Per-year numbering of outgoing letters (Số: 15/SNgV-LSHTQT)."""

    __tablename__ = "letter_sequence"

    year: int = Field(primary_key=True)
    last_number: int = 0


class CalendarDay(SQLModel, table=True):
    """An admin's overlay on the statutory calendar: a closure or a make-up working day."""

    __tablename__ = "calendar_day"

    day: date = Field(primary_key=True)
    kind: str = Field(max_length=16)  # closure | working
    source: str = Field(max_length=255)
    created_at: NaiveDatetime


class PeriodicRun(SQLModel, table=True):
    """Once-per-period jobs (weekly digest): the unique key makes several workers safe."""

    __tablename__ = "periodic_run"

    key: str = Field(primary_key=True, max_length=128)
    ran_at: NaiveDatetime
    worker: str = Field(max_length=64)


class User(SQLModel, table=True):
    __tablename__ = "app_user"

    id: int | None = Field(default=None, primary_key=True)
    email: str = Field(max_length=255, unique=True)
    role: str = Field(max_length=16)  # admin | coordinator | unit | leader
    unit_id: int | None = Field(default=None, foreign_key="unit.id")
    password_hash: str | None = Field(default=None, max_length=255)
    api_token_hash: str | None = Field(default=None, max_length=255, index=True)
    api_token_expires_at: NaiveDatetime | None = None  # a token without it is refused
    api_token_scope: str | None = Field(default=None, max_length=8)  # read | write
    language: str = Field(default="vi", max_length=8)
    active: bool = True
    created_at: NaiveDatetime
    # Raised to end every session of the user at once (logout, password, role, deactivation):
    # a session cookie carries the value it was started with and is refused once it differs.
    session_epoch: int = Field(default=0, sa_column_kwargs={"server_default": text("0")})


class Attachment(SQLModel, table=True):
    """A file attached to a case (a filed report), kept in the database with the case."""

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    event_id: int | None = Field(default=None, foreign_key="event.id")
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=128)
    size: int
    content: bytes
    uploaded_by: str = Field(max_length=128)
    uploaded_at: NaiveDatetime


class AppSecret(SQLModel, table=True):
    """Keys generated once per database (the link-signing key when none is configured)."""

    __tablename__ = "app_secret"

    name: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=255)
    created_at: NaiveDatetime
