"""Web commands: ``theodoi user add|password|token`` and ``theodoi web``.

Passwords never appear on the command line: on a terminal they are prompted for
(twice); from a script (``--password-stdin`` or a non-terminal stdin) one line is read
from standard input.
"""

import sys
from typing import Annotated

import typer

from kernel.errors import InvalidInput
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
    from cli.main import ConfigOpt, cli_errors, open_app

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
        from web import users

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
        from web import users

        password = read_password(password_stdin, required=True) or ""
        with open_app(config) as application, application.db.session() as session:
            configure_passwords(application.config.web)
            user = users.set_password(session, email, password)
            typer.echo(f"password set for {user.email}")

    @user_app.command("token")
    @cli_errors
    def user_token(email: str, config: ConfigOpt = None) -> None:
        """Print a new API token (shown once; the previous one stops working)."""
        from web import users

        with open_app(config) as application, application.db.session() as session:
            typer.echo(users.issue_token(session, email))

    @user_app.command("list")
    @cli_errors
    def user_list(config: ConfigOpt = None) -> None:
        """List the users."""
        from storage import pages
        from storage import users as user_store

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
        import secrets

        from storage import pages
        from web import users

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

    @app.command("web")
    @cli_errors
    def web(
        host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
        port: Annotated[int | None, typer.Option(help="Port.")] = None,
        config: ConfigOpt = None,
    ) -> None:
        """Serve only the web pages (the sweeps and the sender run elsewhere)."""
        import uvicorn

        from web.app import create_app

        with open_app(config) as application:
            cfg = application.config.web
            uvicorn.run(
                create_app(application),
                host=host or cfg.host,
                port=port or cfg.port,
                log_level="info",
            )
