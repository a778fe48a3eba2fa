"""The checks of ``theodoi doctor`` and the admin page ``/admin/doctor``: each returns a :class:`Check` with a level and,
when something is wrong, how to fix it in one line (Vietnamese and English).

The configuration checks are pure functions of a :class:`Config`; the others take
the database, the clock or the network they check.
"""

from __future__ import annotations

import shutil
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

import storage.timers
from kernel.clock import Clock, to_local
from kernel.errors import StorageError, TheodoiError
from kernel.settings import Config
from notifications import links
from storage.db import Database, head_revision

Level = Literal["ok", "warning", "error"]
RANK = {"ok": 0, "warning": 1, "error": 2}
PLACEHOLDER_SIGNER = "(chưa cấu hình)"
DISK_WARN = 1 << 30  # 1 GiB free
DISK_ERROR = 100 << 20  # 100 MiB free


@dataclass(frozen=True)
class Check:
    name: str
    level: Level
    message: str
    fix_vi: str = ""
    fix_en: str = ""

    def fix(self, language: str) -> str:
        return self.fix_en if language == "en" else self.fix_vi


def ok(name: str, message: str) -> Check:
    return Check(name, "ok", message)


def exit_status(checks: list[Check]) -> int:
    """0 all well, 1 a warning, 2 an error."""
    return max((RANK[c.level] for c in checks), default=0)


# -- configuration (pure) ------------------------------------------------------------------


def check_sender(config: Config) -> Check:
    address = config.smtp.from_address.strip()
    if "@" not in address or address.startswith("@") or address.endswith("@"):
        return Check(
            "sender", "error", f"[smtp] from_address {address!r} is not an e-mail address",
            "Đặt [smtp] from_address là địa chỉ thư gửi đi của Sở",
            "Set [smtp] from_address to the department's sending address",
        )
    return ok("sender", f"sender {address}")


def check_signer(config: Config) -> Check:
    org = config.organisation
    if not org.signer_name.strip() or org.signer_name.strip() == PLACEHOLDER_SIGNER:
        return Check(
            "signer", "warning", f"[organisation] signer_name is not configured ({org.signer_name!r})",
            "Đặt [organisation] signer_name là họ tên người ký công văn",
            "Set [organisation] signer_name to the name of the person who signs letters",
        )
    if not org.signer_title.strip() or not org.signer_position.strip():
        return Check(
            "signer", "warning", "[organisation] signer_title or signer_position is empty",
            "Đặt [organisation] signer_title và signer_position",
            "Set [organisation] signer_title and signer_position",
        )
    return ok("signer", f"signer {org.signer_title} {org.signer_position} {org.signer_name}")


def check_letter_symbol(config: Config) -> Check:
    org = config.organisation
    if not org.short_name.strip() or not org.office_code.strip():
        return Check(
            "letter_symbol", "error", "[organisation] short_name or office_code is empty",
            "Đặt [organisation] short_name và office_code (ký hiệu công văn, vd. SNgV-LSHTQT)",
            "Set [organisation] short_name and office_code (the letter symbol, e.g. SNgV-LSHTQT)",
        )
    return ok("letter_symbol", f"letter symbol …/{org.short_name}-{org.office_code}")


def check_calendar(config: Config, now: datetime) -> Check:
    calendar = config.business_calendar()
    year = to_local(now, config.organisation.tz).year
    provisional = [y for y in (year, year + 1) if not calendar.year_confirmed(y)]
    if provisional:
        years = ", ".join(map(str, provisional))
        return Check(
            "calendar", "warning", f"the calendar of {years} is provisional (no swap decision known)",
            f"Khi có quyết định hoán đổi ngày nghỉ {years}: nhập trên /admin/calendar hoặc "
            "thêm năm vào [calendar] confirmed_years",
            f"When the day-off swap decision for {years} is out: enter it on /admin/calendar "
            "or add the year to [calendar] confirmed_years",
        )
    return ok("calendar", f"calendar confirmed for {year} and {year + 1}")


def check_https(config: Config) -> Check:
    base_url = config.organisation.base_url
    https = base_url.lower().startswith("https://")
    if config.web.secure_cookies and not https:
        return Check(
            "https", "error", f"[web] secure_cookies is on but base_url {base_url} is not https",
            "Đặt [organisation] base_url là địa chỉ https:// mà người dùng mở",
            "Set [organisation] base_url to the https:// address users open",
        )
    if https and not config.web.secure_cookies:
        return Check(
            "https", "warning", f"base_url {base_url} is https but [web] secure_cookies is off",
            "Bật [web] secure_cookies = true (và hsts = true) khi chạy sau HTTPS",
            "Turn on [web] secure_cookies = true (and hsts = true) behind HTTPS",
        )
    return ok("https", f"base_url {base_url}")


# -- files, database, network ------------------------------------------------------------


def sqlite_file(config: Config) -> Path | None:
    url = config.storage.url
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        return Path(url.removeprefix("sqlite:///"))
    return None


def check_database(db: Database) -> Check:
    try:
        db.ping()
        revision = db.revision()
    except TheodoiError as exc:
        return Check(
            "database", "error", f"database unreachable: {exc}",
            "Kiểm tra [storage] url và máy chủ cơ sở dữ liệu",
            "Check [storage] url and the database server",
        )
    head = head_revision()
    if revision is None:
        return Check(
            "database", "error", f"{db.safe_url} has no theodoi tables",
            "Chạy `theodoi init`", "Run `theodoi init`",
        )
    if revision != head:
        return Check(
            "database", "error", f"schema at {revision}, this version needs {head}",
            "Sao lưu (`theodoi backup`) rồi chạy `theodoi init` để nâng cấp",
            "Back up (`theodoi backup`), then run `theodoi init` to upgrade",
        )
    return ok("database", f"{db.safe_url} at revision {revision}")


def _private(path: Path, name: str, what: str) -> Check | None:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        return Check(
            name, "error", f"{what} {path} can be read by others (mode {mode:o})",
            f"chmod 600 {path}", f"chmod 600 {path}",
        )
    return None


def check_database_file(config: Config) -> Check:
    path = sqlite_file(config)
    if path is None:
        return ok("database_file", "PostgreSQL: file permissions are the server's")
    if not path.exists():
        return Check(
            "database_file", "error", f"{path} does not exist",
            "Chạy `theodoi init`", "Run `theodoi init`",
        )
    for candidate in (path, Path(f"{path}-wal")):
        if candidate.exists() and (bad := _private(candidate, "database_file", "database")):
            return bad
    return ok("database_file", f"{path} is private")


def check_key_file(db: Database, config: Config) -> Check:
    if config.web.secret_key:
        return ok("key_file", "signing key from THEODOI_WEB__SECRET_KEY")
    path = links.key_file(db, config)
    if not path.exists():
        return Check(
            "key_file", "warning", f"no signing key file {path} yet",
            "Chạy `theodoi web` hoặc `theodoi run` một lần (tạo khóa, chế độ 600)",
            "Start `theodoi web` or `theodoi run` once (it creates the key, mode 600)",
        )
    if bad := _private(path, "key_file", "key file"):
        return bad
    if not path.read_text(encoding="ascii", errors="replace").strip():
        return Check(
            "key_file", "error", f"key file {path} is empty",
            f"Xóa {path} để tạo khóa mới (phiên và liên kết cũ mất hiệu lực)",
            f"Remove {path} so a new key is made (old sessions and links stop working)",
        )
    return ok("key_file", f"{path} is private")


def check_smtp(config: Config, connect: Callable[..., smtplib.SMTP] | None = None) -> Check:
    """Connect, EHLO, STARTTLS or TLS as configured, AUTH when a user is set; sends nothing."""
    cfg = config.smtp
    where = f"{cfg.host}:{cfg.port}"
    context = ssl.create_default_context(cafile=cfg.ca_file or None)
    try:
        if cfg.tls:
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                cfg.host, cfg.port, timeout=cfg.timeout_s, context=context
            )
        else:
            client = (connect or smtplib.SMTP)(cfg.host, cfg.port, timeout=cfg.timeout_s)
        with client:
            client.ehlo()
            if cfg.starttls:
                client.starttls(context=context)
                client.ehlo()
            if cfg.username:
                client.login(cfg.username, cfg.password)
            steps = "EHLO" + (", STARTTLS" if cfg.starttls else "") + (", TLS" if cfg.tls else "")
            steps += ", AUTH" if cfg.username else ""
    except smtplib.SMTPAuthenticationError as exc:
        return Check(
            "smtp", "error", f"SMTP {where}: AUTH refused ({exc.smtp_code})",
            "Kiểm tra [smtp] username và THEODOI_SMTP__PASSWORD",
            "Check [smtp] username and THEODOI_SMTP__PASSWORD",
        )
    except (OSError, smtplib.SMTPException) as exc:
        return Check(
            "smtp", "error", f"SMTP {where} unreachable: {type(exc).__name__}: {exc}",
            "Kiểm tra [smtp] host, port, starttls/tls và tường lửa tới máy chủ thư",
            "Check [smtp] host, port, starttls/tls and the firewall to the mail server",
        )
    return ok("smtp", f"SMTP {where}: {steps}")


def check_runner(db: Database, config: Config, clock: Clock) -> Check:
    """The sweep lag as /readyz sees it: how long the oldest due timer has waited."""
    now = clock.now()
    try:
        with db.session(write=False, doing="reading the due timers") as session:
            due = storage.timers.due_timer_count(session, now)
            oldest = storage.timers.next_timer_at(session, until=now)
    except StorageError as exc:
        return Check("runner", "error", f"cannot read the timers: {exc}",
                     "Xem kiểm tra database", "See the database check")
    lag = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    limit = config.worker.ready_max_lag_s
    if lag > limit:
        return Check(
            "runner", "warning",
            f"{due} due timers, the oldest waits {lag:.0f} s "
            f"(> {limit:.0f} s): the runner is not sweeping",
            "Khởi động `theodoi run` hoặc `theodoi worker` (systemd: theodoi-runner.service)",
            "Start `theodoi run` or `theodoi worker` (systemd: theodoi-runner.service)",
        )
    return ok("runner", f"sweep lag {lag:.0f} s, {due} due timers")


def check_disk(folder: Path) -> Check:
    folder = folder if folder.exists() else Path(".")
    free = shutil.disk_usage(folder).free
    shown = f"{free / (1 << 30):.1f} GiB free in {folder.resolve()}"
    if free < DISK_ERROR:
        level: Level = "error"
    elif free < DISK_WARN:
        level = "warning"
    else:
        return ok("disk", shown)
    return Check(
        "disk", level, f"only {shown} (attachments are kept in the database)",
        "Giải phóng dung lượng hoặc chuyển cơ sở dữ liệu sang ổ lớn hơn",
        "Free disk space or move the database to a larger disk",
    )


def run_checks(config: Config, clock: Clock) -> list[Check]:
    """Every check, in order; the database checks only when its file exists."""
    checks = [ok("config", "configuration valid")]
    checks += [check_sender(config), check_signer(config), check_letter_symbol(config)]
    checks += [check_calendar(config, clock.now()), check_https(config)]
    file_check = check_database_file(config)
    checks.append(file_check)
    path = sqlite_file(config)
    if path is None or path.exists():  # Database() would create a missing SQLite file
        db = Database(config.storage.url)
        try:
            database = check_database(db)
            checks.append(database)
            checks.append(check_key_file(db, config))
            if database.level == "ok":
                checks.append(check_runner(db, config, clock))
        finally:
            db.dispose()
    checks.append(check_smtp(config))
    checks.append(check_disk(path.parent if path else Path(".")))
    return checks
