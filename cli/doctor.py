"""``theodoi doctor``: check an installation, one line per check and how to fix it.

Exit status 0 when all is well, 1 with warnings, 2 with errors (a configuration that
does not load is an error: the other checks need it).
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli import main as base
from engine.doctor import Check, exit_status, run_checks
from kernel.clock import SystemClock
from kernel.errors import ConfigError

MARK = {"ok": "OK  ", "warning": "WARN", "error": "ERR "}


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    language: Annotated[str, typer.Option("--lang", help="vi or en (the fixes).")] = "vi",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document.")] = False,
    config: base.ConfigOpt = None,
) -> None:
    """Kiểm tra cài đặt / Check the installation: exit 0 all well, 1 warnings, 2 errors."""
    try:
        cfg = base.get_config(config)
    except ConfigError as exc:
        checks = [Check("config", "error", str(exc), "Sửa tệp cấu hình hoặc biến môi trường "
                        "đã nêu", "Fix the file or environment variable named")]
    else:
        checks = run_checks(cfg, SystemClock())
    if as_json:
        typer.echo(json.dumps([c.__dict__ for c in checks], ensure_ascii=False, indent=2))
    else:
        for check in checks:
            typer.echo(f"{MARK[check.level]} {check.name}: {check.message}")
            if check.level != "ok":
                typer.echo(f"     → {check.fix(language)}")
    status = exit_status(checks)
    if not as_json:
        summary = {0: "mọi thứ ổn / all well", 1: "có cảnh báo / warnings", 2: "có lỗi / errors"}
        typer.echo(summary[status])
    raise typer.Exit(status)
