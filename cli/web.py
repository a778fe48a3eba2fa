"""Web users (``theodoi user add|password|token|list|demo``) and serving a web app.

Passwords never appear on the command line: on a terminal they are prompted for
(twice); from a script (``--password-stdin`` or a non-terminal stdin) one line is read
from standard input.

:class:`ServerThread` serves an ASGI app (the web UI, or the probes alone) with
uvicorn on a thread of the runner's process; ``theodoi web`` itself is a runner
command (cli/worker.py).
"""

from __future__ import annotations

import secrets
import socket
import sys
import threading
import time
from typing import Annotated, Any

import typer
import uvicorn

from cli.main import ConfigOpt, cli_errors, open_app
from kernel.errors import ConfigError, InvalidInput
from storage import pages
from storage import users as user_store
from web import users
from web.security import configure_passwords

user_app = typer.Typer(help="Web users (người dùng) and their API tokens.", no_args_is_help=True)

StdinOpt = Annotated[
    bool, typer.Option("--password-stdin", help="Read the password as one line from stdin.")
]


def read_password(from_stdin: bool, required: bool) -> str | None:
    """The password from stdin (scripts) or a prompt (terminals); None when a script
    gives none and none is required."""
    if from_stdin or not sys.stdin.isatty():
        line = sys.stdin.readline().rstrip("\r\n")
        if not line and required:
            raise InvalidInput("password", "standard input gave no password")
        return line or None
    return typer.prompt("Password", hide_input=True, confirmation_prompt=True)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")

    @user_app.command("add")
    @cli_errors
    def user_add(
        email: str,
        role: Annotated[str, typer.Option(help="admin, coordinator, unit or leader.")],
        unit: Annotated[str | None, typer.Option(help="Unit code (unit users only).")] = None,
        password_stdin: StdinOpt = False,
        language: Annotated[str, typer.Option(help="vi or en.")] = "vi",
        config: ConfigOpt = None,
    ) -> None:
        """Add a user (or update the one with this e-mail)."""
        password = read_password(password_stdin, required=False)
        with open_app(config) as application, application.db.session() as session:
            configure_passwords(application.config.web)
            user = users.add_user(
                session,
                email,
                role,
                now=application.clock.now(),
                unit_code=unit,
                password=password,
                language=language,
            )
            note = "" if user.password_hash else " (no password: API token only)"
            typer.echo(f"user {user.email}: {user.role}{note}")

    @user_app.command("password")
    @cli_errors
    def user_password(
        email: str, password_stdin: StdinOpt = False, config: ConfigOpt = None
    ) -> None:
        """Set a user's password."""
        password = read_password(password_stdin, required=True) or ""
        with open_app(config) as application, application.db.session() as session:
            configure_passwords(application.config.web)
            user = users.set_password(session, email, password)
            typer.echo(f"password set for {user.email}")

    @user_app.command("token")
    @cli_errors
    def user_token(
        email: str,
        scope: Annotated[str, typer.Option(help="read, or write (read and write).")] = "read",
        days: Annotated[
            float | None, typer.Option(help="Valid this many days (default [web] token_days).")
        ] = None,
        config: ConfigOpt = None,
    ) -> None:
        """Print a new API token (shown once; the previous one stops working)."""
        with open_app(config) as application, application.db.session() as session:
            valid = days if days is not None else application.config.web.token_days
            token = users.issue_token(
                session, email, now=application.clock.now(), days=valid, scope=scope
            )
            typer.echo(token)

    @user_app.command("list")
    @cli_errors
    def user_list(config: ConfigOpt = None) -> None:
        """List the users."""
        with open_app(config) as application, application.db.session(write=False) as session:
            units = {u.id: u.code for u in pages.units(session)}
            for user in user_store.list_users(session):
                unit = units.get(user.unit_id, "")
                state = "" if user.active else " (inactive)"
                typer.echo(f"{user.email}\t{user.role}\t{unit}{state}")

    @user_app.command("demo")
    @cli_errors
    def user_demo(config: ConfigOpt = None) -> None:
        """Create (or reset) one demo account per role and print them (``make run``)."""
        with open_app(config) as application, application.db.session() as session:
            configure_passwords(application.config.web)
            units = pages.units(session)
            for role in users.ROLES:
                if role == "unit" and not units:
                    typer.echo("unit: no unit yet (theodoi unit add / theodoi demo)")
                    continue
                email = f"{role}@demo.theodoi"
                password = secrets.token_urlsafe(9)
                users.add_user(
                    session,
                    email,
                    role,
                    now=application.clock.now(),
                    unit_code=units[0].code if role == "unit" else None,
                    password=password,
                )
                unit = f" ({units[0].code})" if role == "unit" else ""
                typer.echo(f"{role:<12} {email:<28} {password}{unit}")


class ServerThread:
    """An ASGI app served by uvicorn on a daemon thread. The socket is bound at once,
    so a port in use is refused at start, and port 0 takes any free port."""

    def __init__(
        self, asgi: Any, host: str, port: int, *, name: str, log_level: str = "warning"
    ) -> None:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self.socket = socket.create_server((host, port), family=family)
        except OSError as exc:
            raise ConfigError(f"{name}: cannot listen on {host}:{port}: {exc.strerror}") from exc
        self.name = name
        config = uvicorn.Config(
            asgi,
            log_level=log_level,
            access_log=log_level == "info",
            timeout_graceful_shutdown=5,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name=name, daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.socket.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> ServerThread:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError(f"the {self.name} server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.socket.close()
