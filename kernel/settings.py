"""Configuration: loaded once at the edge (CLI, web) into one frozen object.

Order: the project's ``config.toml`` (defaults) ← a file named by ``--config`` or
``THEODOI_CONFIG`` ← environment variables ``THEODOI_<SECTION>__<KEY>``.
Secrets (the SMTP password, the web secret key) come only from the environment.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from kernel.calendar import BusinessCalendar, Duration
from kernel.errors import ConfigError

DEFAULTS_FILE = Path(__file__).resolve().parent.parent / "config.toml"
ENV_PREFIX = "THEODOI_"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow")


def _check_duration(value: str) -> str:
    Duration.parse(value)
    return value


def parse_window(text: str) -> tuple[time, time]:
    """``"07:30-17:00"`` → (07:30, 17:00)."""
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError as exc:
        raise ValueError(f"'{text}' is not a window like '07:30-17:00'") from exc
    if end <= start:
        raise ValueError(f"'{text}': the window must end after it starts")
    return start, end


class Organisation(_Section):
    parent_body: str = "UBND TỈNH TÂY NINH"
    name: str = "SỞ NGOẠI VỤ"
    short_name: str = "SNgV"
    office_code: str = "LSHTQT"
    place: str = "Tây Ninh"
    signer_title: str = "KT. GIÁM ĐỐC"
    signer_position: str = "PHÓ GIÁM ĐỐC"
    signer_name: str = ""
    display_name: str = "Sở Ngoại vụ tỉnh Tây Ninh"  # in sentences of notices
    display_name_en: str = "Tay Ninh Department of Foreign Affairs"
    base_url: str = "http://127.0.0.1:8000"
    timezone: str = "Asia/Ho_Chi_Minh"

    @field_validator("timezone")
    @classmethod
    def _tz(cls, value: str) -> str:
        ZoneInfo(value)
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class DayEntry(_Section):
    date: date
    source: str = ""


class CalendarSettings(_Section):
    country: str = "VN"
    office_hours: str = "07:30-17:00"
    extra_holidays: tuple[DayEntry, ...] = ()
    extra_working_days: tuple[DayEntry, ...] = ()

    @field_validator("office_hours")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_window(value)
        return value

    @property
    def office_start(self) -> time:
        return parse_window(self.office_hours)[0]


class StorageSettings(_Section):
    url: str = "sqlite:///theodoi.db"
    sweep_batch: int = Field(default=500, ge=1)


class SchedulerSettings(_Section):
    sweep_interval_s: float = Field(default=5, gt=0)
    send_interval_s: float = Field(default=5, gt=0)


class TripSettings(_Section):
    official_report_due: str = "15 days"
    private_report_due: str = "7 working days"
    reminders: tuple[str, ...] = ("-5 working days", "-1 working days")
    escalation: tuple[str, ...] = ("5 working days", "15 working days")
    reject_new_deadline: str = "5 working days"

    @field_validator("official_report_due", "private_report_due", "reject_new_deadline")
    @classmethod
    def _duration(cls, value: str) -> str:
        return _check_duration(value)

    @field_validator("reminders", "escalation")
    @classmethod
    def _durations(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            _check_duration(item)
        return value


class SmtpSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8025
    starttls: bool = False
    tls: bool = False
    username: str = ""
    password: str = ""  # only from THEODOI_SMTP__PASSWORD
    timeout_s: float = 10
    connections: int = Field(default=4, ge=1)
    from_address: str = "theodoi@localhost"
    max_attempts: int = Field(default=12, ge=1)
    retry_base_s: float = Field(default=60, gt=0)  # first retry delay, doubled each time
    retry_max_s: float = Field(default=6 * 3600, gt=0)
    ca_file: str = ""  # extra CA bundle for a server with a private certificate


class Recipients(_Section):
    coordinators: tuple[str, ...] = ()
    leadership: tuple[str, ...] = ()
    provincial_leadership: tuple[str, ...] = ()


class NotificationSettings(_Section):
    send_window: str = "07:30-17:00"
    language: str = "vi"
    template_dir: str = ""
    digest_cron: str = "mon 07:30"
    approval: dict[str, str] = Field(default_factory=dict)
    catcher_dir: str = "var/mail"  # where `theodoi mail catcher` keeps what it receives

    @field_validator("send_window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_window(value)
        return value


class WebSettings(_Section):
    host: str = "127.0.0.1"
    port: int = 8000
    session_hours: float = 12
    link_days: float = 30
    secret_key: str = ""  # only from THEODOI_WEB__SECRET_KEY; generated per database otherwise
    report_min_chars: int = Field(default=30, ge=1)  # each section of a filed report
    upload_max_mb: float = Field(default=10, gt=0)  # the signed report file
    password_time_cost: int = Field(default=3, ge=1)  # argon2id cost of new password hashes
    password_memory_kib: int = Field(default=65536, ge=8)


class WorkerSettings(_Section):
    lease_s: float = 60
    id: str = ""
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)  # 0: no metrics server
    ready_max_lag_s: float = Field(default=900, gt=0)  # /readyz fails beyond this sweep lag
    backoff_max_s: float = Field(default=30, gt=0)  # database lost: retry at most this apart


class Config(_Section):
    organisation: Organisation = Organisation()
    calendar: CalendarSettings = CalendarSettings()
    storage: StorageSettings = StorageSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    workflows: dict[str, dict[str, Any]] = Field(default_factory=dict)
    smtp: SmtpSettings = SmtpSettings()
    recipients: Recipients = Recipients()
    notifications: NotificationSettings = NotificationSettings()
    web: WebSettings = WebSettings()
    worker: WorkerSettings = WorkerSettings()

    @property
    def trip(self) -> TripSettings:
        return TripSettings(**self.workflows.get("trip", {}))

    def workflow_settings(self, name: str) -> dict[str, Any]:
        return dict(self.workflows.get(name, {}))

    def business_calendar(self) -> BusinessCalendar:
        """The statutory calendar with the configured overlay (the database adds more)."""
        return BusinessCalendar(self.calendar.country).with_overlay(
            (entry.date for entry in self.calendar.extra_holidays),
            (entry.date for entry in self.calendar.extra_working_days),
        )


_SECRETS = {("smtp", "password"), ("web", "secret_key")}


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load defaults, then the override file, then the environment; validate once."""
    env = {} if env is None else env
    data: dict[str, Any] = _read(DEFAULTS_FILE) if DEFAULTS_FILE.exists() else {}
    override = path or env.get(ENV_PREFIX + "CONFIG")
    if override:
        data = _merge(data, _read(Path(override)))
    for section, key in _SECRETS:
        if key in data.get(section, {}):
            raise ConfigError(
                f"[{section}] {key} must not be written in a file; "
                f"set {ENV_PREFIX}{section.upper()}__{key.upper()} in the environment"
            )
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
        node = data
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = _env_value(value)
    try:
        config = Config(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"configuration {where}: {first['msg']}") from exc
    config.trip  # validate the trip section early  # noqa: B018
    return config


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: configuration file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _merge(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _env_value(text: str) -> Any:
    """Environment values may be JSON (lists, numbers, booleans); else a plain string."""
    try:
        return json.loads(text)
    except ValueError:
        return text
