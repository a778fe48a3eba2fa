"""The whole command line: the root app of ``cli.main`` with every command group added.

``theodoi`` (the console script) and ``python -m cli`` run :func:`main`. The command
groups import ``cli.main`` for the root app and the shared options, so they are added
here, above it, not by ``cli.main`` itself.
"""

from __future__ import annotations

import sys

import typer

from cli import backup, doctor, imports, main, ngo, notify, rules, web, worker
from kernel.errors import ConfigError

GROUPS = (notify, rules, imports, web, ngo, worker, doctor, backup)
_added: list[bool] = []


def full_app() -> typer.Typer:
    """The root app with every group's commands (added once)."""
    if not _added:
        _added.append(True)
        for group in GROUPS:
            group.register(main.app)
    return main.app


def main_entry() -> None:
    try:
        full_app()()
    except ConfigError as exc:  # a command that reads the configuration outside cli_errors
        typer.echo(f"configuration error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        sys.exit(130)
