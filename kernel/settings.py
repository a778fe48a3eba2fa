"""Configuration: loaded once at the edge (CLI, web) into one frozen object.

Order: the project's ``config.toml`` (defaults) ← a file named by ``--config`` or
``THEODOI_CONFIG`` ← environment variables ``THEODOI_<SECTION>__<KEY>``.
Secrets (the SMTP password, the web secret key) come only from the environment.

This module is the schema of the kernel-level sections and holds their only
defaults; ``config.toml`` repeats them (a test keeps the two equal). Each case type
declares its own ``[workflows.<name>]`` section as a :class:`Section` model in its
module (durations typed :data:`DurationText`, ladders :data:`Offsets`,
:data:`BeforeOffsets`, :data:`AfterOffsets`); the edge passes those models to
:func:`load_config`, which validates the whole configuration at once. Every section
forbids unknown keys. A refusal is a :class:`ConfigError` of one line naming where
the value came from (the file or the environment variable) and the key.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Mapping
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from zoneinfo import ZoneInfo

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from kernel.calendar import BusinessCalendar, Duration
from kernel.errors import ConfigError, InvalidInput

DEFAULTS_FILE = Path(__file__).resolve().parent.parent / "config.toml"
ENV_PREFIX = "THEODOI_"


class Section(BaseModel):
    """A configuration section: frozen, and an unknown key is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def _duration(value: str) -> Duration:
    try:
        return Duration.parse(value)
    except InvalidInput as exc:  # pydantic reports ValueError, not our errors
        raise ValueError(exc.message) from None


def _is_duration(value: str) -> str:
    _duration(value)
    return value


def _before(value: tuple[str, ...]) -> tuple[str, ...]:
    for item in value:
        if _duration(item).amount > 0:
            raise ValueError(f"'{item}' must count back from the deadline (e.g. '-5 working days')")
    return value


def _after(value: tuple[str, ...]) -> tuple[str, ...]:
    for item in value:
        if _duration(item).amount <= 0:
            raise ValueError(f"'{item}' must count on from the deadline (e.g. '5 working days')")
    return value


# A duration as the rules write it ("15 working days", "-1 month"), checked by the
# kernel's parser and kept as written (workflow functions pass it to the calendar).
DurationText = Annotated[str, AfterValidator(_is_duration)]
Offsets = tuple[DurationText, ...]  # a ladder of durations
BeforeOffsets = Annotated[Offsets, AfterValidator(_before)]  # reminders: before a deadline
AfterOffsets = Annotated[Offsets, AfterValidator(_after)]  # escalation levels: after it


class RuleVersion(BaseModel):
    """One version of a deadline rule: how long (``due``), under which text
    (``legal_basis``), from which day on (``effective_from``; None: before any case)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    due: DurationText
    legal_basis: str = ""
    effective_from: date | None = None

    def record(self, key: str = "") -> dict[str, Any]:
        """The version as kept in a case's data when its obligation opens."""
        out: dict[str, Any] = {"due": self.due, "legal_basis": self.legal_basis}
        out["effective_from"] = self.effective_from.isoformat() if self.effective_from else None
        if key:
            out["key"] = key
        return out


class DeadlineRule(BaseModel):
    """A deadline rule as the configuration writes it: a duration (``"15 days"``, the
    simple form), one version (``{ due = …, legal_basis = …, effective_from = … }``)
    or a list of versions in order of their dates. An obligation keeps the version in
    force when it opened (:meth:`in_force`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    versions: tuple[RuleVersion, ...]

    @model_validator(mode="before")
    @classmethod
    def _forms(cls, value: Any) -> Any:
        if isinstance(value, str):  # the simple form: refused as the key's own value
            return {"versions": [{"due": _is_duration(value)}]}
        if isinstance(value, list | tuple):
            return {"versions": list(value)}
        if isinstance(value, Mapping) and "versions" not in value:
            return {"versions": [dict(value)]}
        return value

    @model_validator(mode="after")
    def _ordered(self) -> DeadlineRule:
        if not self.versions:
            raise ValueError("a rule needs at least one version")
        dates = [v.effective_from for v in self.versions]
        if any(d is None for d in dates[1:]):
            raise ValueError("only the first version may leave effective_from out")
        known = [d for d in dates if d is not None]
        if known != sorted(set(known)):
            raise ValueError("versions must be in order of effective_from, one per day")
        return self

    def in_force(self, day: date | None = None) -> RuleVersion:
        """The version in force on ``day`` (the latest that took effect on or before
        it; the first if ``day`` is before them all; the newest if ``day`` is None)."""
        if day is None:
            return self.versions[-1]
        chosen = self.versions[0]
        for version in self.versions:
            if version.effective_from is None or version.effective_from <= day:
                chosen = version
        return chosen


def rule(due: str, legal_basis: str = "", effective_from: date | None = None) -> DeadlineRule:
    """A rule of one version (for settings models' defaults)."""
    return DeadlineRule(
        versions=(RuleVersion(due=due, legal_basis=legal_basis, effective_from=effective_from),)
    )


def parse_window(text: str) -> tuple[time, time]:
    """``"07:30-17:00"`` → (07:30, 17:00)."""
    try:
        start, end = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError as exc:
        raise ValueError(f"'{text}' is not a window like '07:30-17:00'") from exc
    if end <= start:
        raise ValueError(f"'{text}': the window must end after it starts")
    return start, end


class Organisation(Section):
    parent_body: str = "UBND TỈNH TÂY NINH"
    name: str = "SỞ NGOẠI VỤ"
    short_name: str = "SNgV"
    office_code: str = "LSHTQT"
    place: str = "Tây Ninh"
    signer_title: str = "KT. GIÁM ĐỐC"
    signer_position: str = "PHÓ GIÁM ĐỐC"
    signer_name: str = "(chưa cấu hình)"  # "(not configured)", printed until it is
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


S = TypeVar("S", bound=Section)


class DayEntry(Section):
    date: date
    source: str = ""


class CalendarSettings(Section):
    country: str = "VN"
    office_hours: str = "07:30-17:00"
    # the overlay on what the holidays package knows (its swaps and make-up Saturdays
    # are not repeated here): closures and make-up working days, each with its source
    extra_holidays: tuple[DayEntry, ...] = ()
    extra_working_days: tuple[DayEntry, ...] = ()
    # years whose official swap decision is known although the package lists no swap
    # for them (a decision that swapped nothing); other such years are provisional
    confirmed_years: tuple[int, ...] = ()

    @field_validator("office_hours")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_window(value)
        return value

    @property
    def office_start(self) -> time:
        return parse_window(self.office_hours)[0]


class StorageSettings(Section):
    url: str = "sqlite:///theodoi.db"
    sweep_batch: int = Field(default=500, ge=1)


class SchedulerSettings(Section):
    sweep_interval_s: float = Field(default=5, gt=0)
    send_interval_s: float = Field(default=5, gt=0)


class SmtpSettings(Section):
    host: str = "127.0.0.1"
    port: int = 8025
    starttls: bool = False
    tls: bool = False
    username: str = ""
    password: str = ""  # only from THEODOI_SMTP__PASSWORD
    timeout_s: float = 10
    connections: int = Field(default=4, ge=1)
    from_address: str = "theodoi@songoaivu.local"
    # temporary refusals of one message (4xx while the server takes others) after
    # which the coordinators get one alert; the message keeps waiting, it never fails
    max_attempts: int = Field(default=12, ge=1)
    retry_base_s: float = Field(default=60, gt=0)  # first retry delay, doubled each time
    retry_max_s: float = Field(default=6 * 3600, gt=0)
    ca_file: str = ""  # extra CA bundle for a server with a private certificate
    # outcomes written per transaction, at most: after a crash, fewer than this many
    # accepted messages (plus one per connection) can be sent a second time
    record_every: int = Field(default=16, ge=1)
    # while the server is down, it is tried again after 60 s, 120 s … at most this
    probe_max_s: float = Field(default=300, gt=0)


class Recipients(Section):
    coordinators: tuple[str, ...] = ("lshtqt@songoaivu.local",)
    leadership: tuple[str, ...] = ("bangiamdoc@songoaivu.local",)
    provincial_leadership: tuple[str, ...] = ("ubnd@tayninh.local", "thanhtra@tayninh.local")


class NotificationSettings(Section):
    send_window: str = "07:30-17:00"
    language: str = "vi"
    template_dir: str = ""
    digest_cron: str = "mon 07:30"
    # notice kind → who releases it: "auto" (sent as it comes) or "coordinator"
    approval: dict[str, Literal["auto", "coordinator"]] = Field(
        default_factory=lambda: {"urging_letter": "auto", "escalation": "auto"}
    )
    catcher_dir: str = "var/mail"  # where `theodoi mail catcher` keeps what it receives

    @field_validator("send_window")
    @classmethod
    def _window(cls, value: str) -> str:
        parse_window(value)
        return value


class WebSettings(Section):
    host: str = "127.0.0.1"
    port: int = 8000
    session_hours: float = 12
    link_days: float = 30
    secret_key: str = ""  # only from THEODOI_WEB__SECRET_KEY; else read from secret_key_file
    secret_key_file: str = ""  # "" = beside the SQLite database (theodoi.db.key), mode 0600
    report_min_chars: int = Field(default=30, ge=1)  # each section of a filed report
    upload_max_mb: float = Field(default=10, gt=0)  # the signed report file
    password_time_cost: int = Field(default=3, ge=1)  # argon2id cost of new password hashes
    password_memory_kib: int = Field(default=65536, ge=8)
    token_days: float = Field(default=90, gt=0)  # API tokens expire after this
    trusted_proxies: list[str] = Field(default_factory=list)  # X-Forwarded-For only from these
    secure_cookies: bool = False  # served over HTTPS: cookies carry Secure
    hsts: bool = False  # served over HTTPS only: Strict-Transport-Security on every answer


class WorkerSettings(Section):
    lease_s: float = 60
    id: str = ""
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=0, ge=0, le=65535)  # 0: no metrics server
    ready_max_lag_s: float = Field(default=900, gt=0)  # /readyz fails beyond this sweep lag
    backoff_max_s: float = Field(default=30, gt=0)  # database lost: retry at most this apart


class Config(Section):
    organisation: Organisation = Organisation()
    calendar: CalendarSettings = CalendarSettings()
    storage: StorageSettings = StorageSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    # [workflows.<name>] as written; each case type's model validates its own section
    # (load_config with ``workflows=``, and the engine's registry when it builds rules)
    workflows: dict[str, dict[str, Any]] = Field(default_factory=dict)
    smtp: SmtpSettings = SmtpSettings()
    recipients: Recipients = Recipients()
    notifications: NotificationSettings = NotificationSettings()
    web: WebSettings = WebSettings()
    worker: WorkerSettings = WorkerSettings()

    def workflow_settings(self, name: str) -> dict[str, Any]:
        """``[workflows.<name>]`` as written (a mapping; typed: :func:`workflow_section`)."""
        return dict(self.workflows.get(name, {}))

    def business_calendar(self) -> BusinessCalendar:
        """The statutory calendar with the configured overlay (the database adds more)."""
        entries = (*self.calendar.extra_holidays, *self.calendar.extra_working_days)
        return BusinessCalendar(self.calendar.country).with_overlay(
            (entry.date for entry in self.calendar.extra_holidays),
            (entry.date for entry in self.calendar.extra_working_days),
            {entry.date: entry.source for entry in entries},
            self.calendar.confirmed_years,
        )


def workflow_section(model: type[S], name: str, raw: Mapping[str, Any]) -> S:
    """``[workflows.<name>]`` validated by its case type's model (ConfigError if bad)."""
    try:
        return model.model_validate(dict(raw))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, ("workflows", name), {})) from None


_SECRETS = {("smtp", "password"), ("web", "secret_key")}
Sources = dict[tuple[str, ...], str]  # key path → the file or variable that set it


def load_config(
    path: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    *,
    workflows: Mapping[str, type[Section]] | None = None,
) -> Config:
    """Load defaults, then the override file, then the environment; validate once.

    ``workflows`` maps each case type's name to its settings model: given (as the
    edge does), an unknown ``[workflows.<name>]`` is refused and each section is
    validated by its model; without it the workflow sections are kept as written
    and checked when the engine builds its rules.
    """
    env = {} if env is None else env
    sources: Sources = {}
    data: dict[str, Any] = {}
    if DEFAULTS_FILE.exists():
        data = _layer(data, _read(DEFAULTS_FILE), str(DEFAULTS_FILE), sources)
    override = path or env.get(ENV_PREFIX + "CONFIG")
    if override:
        data = _layer(data, _read(Path(override)), str(override), sources)
    for section, key in sorted(_SECRETS):
        if key in data.get(section, {}):
            raise ConfigError(
                f"{sources[(section, key)]}: [{section}] {key} must not be written in a file; "
                f"set {ENV_PREFIX}{section.upper()}__{key.upper()} in the environment"
            )
    for name, value in env.items():
        if name.startswith(ENV_PREFIX) and "__" in name:
            _set_from_env(data, name, value, sources)
    try:
        config = Config(**data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, (), sources)) from None
    if workflows is not None:
        for name, raw in config.workflows.items():
            if name not in workflows:
                where = _source(("workflows", name), sources)
                known = ", ".join(sorted(workflows))
                raise ConfigError(
                    f"{where}: unknown section [workflows.{name}] (case types: {known})"
                )
            try:
                workflows[name].model_validate(raw)
            except ValidationError as exc:
                raise ConfigError(_describe(exc, ("workflows", name), sources)) from None
    return config


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: configuration file not found") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc


def _layer(
    base: dict[str, Any], over: Mapping[str, Any], source: str, sources: Sources, at: tuple = ()
) -> dict[str, Any]:
    """``over`` merged into ``base`` (tables deeply, anything else replaced); every key
    ``over`` sets is recorded in ``sources`` as coming from ``source``."""
    out = dict(base)
    for key, value in over.items():
        here = (*at, key)
        if isinstance(value, Mapping) and isinstance(out.get(key), dict):
            out[key] = _layer(out[key], value, source, sources, here)
        else:
            out[key] = value
            _record(value, source, sources, here)
    return out


def _record(value: Any, source: str, sources: Sources, at: tuple[str, ...]) -> None:
    """``value`` replaced whatever was at ``at``: it and its keys come from ``source``."""
    for stale in [key for key in sources if key[: len(at)] == at]:
        del sources[stale]
    sources[at] = source
    if isinstance(value, Mapping):
        for key, item in value.items():
            _record(item, source, sources, (*at, key))


def _set_from_env(data: dict[str, Any], name: str, value: str, sources: Sources) -> None:
    """``THEODOI_SMTP__PORT=25`` → ``data["smtp"]["port"] = 25``."""
    parts = tuple(p.lower() for p in name[len(ENV_PREFIX) :].split("__"))
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            where = f"{_section_name(parts[:depth])} {part}" if depth else f"[{part}]"
            raise ConfigError(f"{name}: {where} is a value, not a section")
        node = child
    node[parts[-1]] = _env_value(value)
    _record(node[parts[-1]], name, sources, parts)


def _env_value(text: str) -> Any:
    """Environment values may be JSON (lists, numbers, booleans); else a plain string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def _source(loc: tuple[str, ...], sources: Sources) -> str:
    """The file or variable that set ``loc``, else the last that set a key inside it,
    else the one that set the nearest table around it."""
    if loc in sources:
        return sources[loc]
    inside = [source for key, source in sources.items() if key[: len(loc)] == loc]
    if inside:
        return inside[-1]
    for end in range(len(loc) - 1, 0, -1):
        if loc[:end] in sources:
            return sources[loc[:end]]
    return "configuration"


def _section_name(loc: tuple[str, ...]) -> str:
    return "[" + ".".join(loc) + "]"


def _describe(exc: ValidationError, prefix: tuple[str, ...], sources: Sources) -> str:
    """The first problem of ``exc`` as one line: where the value came from, the
    section, the key and what is wrong with it."""
    errors = exc.errors()
    first = errors[0]
    loc = (*prefix, *first["loc"])
    where = _source(tuple(str(p) for p in loc), sources)
    depth = len(prefix) or 1  # the section: [smtp], or the prefix [workflows.trip]
    section, keys = _section_name(tuple(map(str, loc[:depth]))), loc[depth:]
    if first["type"] == "extra_forbidden" and not keys:
        text = f"unknown section {section}"
    elif first["type"] == "extra_forbidden":
        around = f"{section[:-1]}.{_key_path(keys[:-1])}]" if len(keys) > 1 else section
        text = f"unknown key '{keys[-1]}' in {around}"
    else:
        message = first["msg"].removeprefix("Value error, ")
        if keys and "input" in first and repr(first["input"]) not in message:
            message += f" (got {first['input']!r})"
        text = f"{section} {_key_path(keys)}: {message}" if keys else f"{section}: {message}"
    if len(errors) > 1:
        text += f" (and {len(errors) - 1} more)"
    return f"{where}: {text}"


def _key_path(keys: tuple) -> str:
    """``("periods", 0, "due")`` → ``periods[0].due``."""
    out = ""
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out
