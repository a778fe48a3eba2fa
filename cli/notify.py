"""Commands for notices: ``theodoi send``, ``theodoi mail …`` (the catcher) and
``theodoi outbox …`` (list, show, approve, hold, resend)."""

import json
import signal
import threading
from typing import Annotated, Any

import typer

from cli import main as core
from kernel.errors import TheodoiError
from notifications import approval, store
from notifications.catcher import MailStore, catcher_folder, start_catcher
from notifications.message import MessageBuilder
from notifications.smtp import deliver_due

ConfigOpt = core.ConfigOpt
FormatOpt = core.FormatOpt
mail_app = typer.Typer(help="The local mail catcher: what theodoi sent.", no_args_is_help=True)
outbox_app = typer.Typer(help="Notices waiting, sent, failed or held.", no_args_is_help=True)

FolderOpt = Annotated[
    str | None,
    typer.Option("--folder", help="Catcher folder (default [notifications] catcher_dir)."),
]


def register(app: typer.Typer) -> None:
    app.command("send")(core.cli_errors(send))
    app.add_typer(mail_app, name="mail")
    app.add_typer(outbox_app, name="outbox")


def send(
    limit: Annotated[int | None, typer.Option(help="Send at most this many.")] = None,
    config: ConfigOpt = None,
) -> None:
    """Deliver the notices that are due now, once (what `theodoi run` does every few seconds)."""

    with core.open_app(config, upgrade=True) as application:
        report = deliver_due(
            application.db,
            application.config,
            application.clock.now(),
            worker_id=application.worker_id,
            calendar=application.engine.calendar,
            limit=limit,
        )
    for line in report.lines:
        typer.echo(line)
    typer.echo(str(report))


# -- the catcher ----------------------------------------------------------------------------


def _store(config: str | None, folder: str | None) -> Any:

    return MailStore(folder or catcher_folder(core.get_config(config)))


@mail_app.command("list")
@core.cli_errors
def mail_list(
    limit: Annotated[int, typer.Option(help="Newest N messages.")] = 50,
    fmt: FormatOpt = "table",
    folder: FolderOpt = None,
    config: ConfigOpt = None,
) -> None:
    """The messages the catcher received, newest first."""
    rows = []
    for m in _store(config, folder).list(limit):
        row = m.as_dict()
        row["to"] = ", ".join(m.to)
        row["attachments"] = ", ".join(m.attachments)
        rows.append(row if fmt != "json" else m.as_dict())
    core.emit(rows, fmt, ["id", "date", "to", "subject", "attachments"])


@mail_app.command("show")
@core.cli_errors
def mail_show(
    mail_id: Annotated[str, typer.Argument(metavar="ID")],
    raw: Annotated[bool, typer.Option("--raw", help="The message exactly as received.")] = False,
    html: Annotated[
        bool, typer.Option("--html", help="The HTML part instead of the text.")
    ] = False,
    folder: FolderOpt = None,
    config: ConfigOpt = None,
) -> None:
    """One caught message: headers, text and the list of attachments."""
    store = _store(config, folder)
    if raw:
        typer.echo(store.raw(mail_id).decode("utf-8", "replace"))
        return
    detail = store.show(mail_id)
    s = detail.summary
    for name, value in (
        ("Date", s.date),
        ("From", s.sender),
        ("To", ", ".join(s.to)),
        ("Cc", ", ".join(s.cc)),
        ("Subject", s.subject),
        ("Message-ID", s.message_id),
    ):
        if value:
            typer.echo(f"{name}: {value}")
    typer.echo("")
    typer.echo(detail.html if html else detail.text)
    for a in detail.attachments:
        typer.echo(f"[attachment] {a.filename} ({a.content_type}, {a.size} bytes)")


@mail_app.command("catcher")
@core.cli_errors
def mail_catcher(
    port: Annotated[int | None, typer.Option(help="Port (default [smtp] port).")] = None,
    folder: FolderOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Run the mail catcher on 127.0.0.1 until Ctrl-C."""

    cfg = core.get_config(config)
    where = folder or catcher_folder(cfg)
    try:
        catcher = start_catcher(cfg, where, port)
    except (OSError, RuntimeError) as exc:
        where_to = f"127.0.0.1:{port or cfg.smtp.port}"
        raise TheodoiError(f"cannot start the catcher on {where_to}: {exc}") from exc
    typer.echo(f"mail catcher on {catcher.host}:{catcher.port}, keeping messages in {where}")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        while not stop.wait(0.5):
            pass
    finally:
        catcher.stop()
        typer.echo("mail catcher stopped")


# -- the outbox -------------------------------------------------------------------------------


@outbox_app.command("list")
@core.cli_errors
def outbox_list(
    status: Annotated[
        str | None,
        typer.Option(
            help="pending, held, sending, sent, parked (refused for good: the server's "
            "words in last_error), withdrawn (no longer true), superseded or failed."
        ),
    ] = None,
    case: Annotated[int | None, typer.Option(help="Only this case's notices.")] = None,
    limit: Annotated[int, typer.Option(help="Newest N rows.")] = 100,
    fmt: FormatOpt = "table",
    config: ConfigOpt = None,
) -> None:
    """Notices in the outbox, newest first."""

    with core.open_app(config) as application:
        rows = store.list_rows(application.db, status, limit, case)
        cfg = application.config
        now_of = store.current_states(application.db, (r["case_id"] for r in rows))
    out = [
        {
            "id": r["id"],
            "kind": r["kind"],
            "case_id": r["case_id"],
            "level": r["level"],
            "status": r["status"],
            "case_now": _case_now(now_of.get(r["case_id"])),
            "to": ", ".join(r["to_addrs"]),
            "attempts": r["attempts"],
            "next_attempt_at": core.local(r["next_attempt_at"], cfg),
            "sent_at": core.local(r["sent_at"], cfg),
            "letter_number": r["letter_number"],
            "last_error": r["last_error"],
            "message_id": r["message_id"],
        }
        for r in rows
    ]
    columns = ["id", "kind", "case_id", "status", "to", "next_attempt_at", "last_error"]
    if status == "held":  # the approval queue: each draft beside its case as it is now
        columns.insert(4, "case_now")
    core.emit(out, fmt, columns)


def _case_now(case: dict[str, Any] | None) -> str:
    """The case as it is now, for the approval queue: ``report_filed (nộp 20/10/2026)``."""
    if case is None:
        return ""
    text = str(case["state"])
    if case.get("escalation_level"):
        text += f" (cấp {case['escalation_level']})"
    if case.get("report_filed_on"):
        text += f" (nộp {case['report_filed_on']:%d/%m/%Y})"
    return text


@outbox_app.command("show")
@core.cli_errors
def outbox_show(outbox_id: int, config: ConfigOpt = None) -> None:
    """One outbox row as JSON."""

    with core.open_app(config) as application:
        row = store.get_row(application.db, outbox_id)
    typer.echo(json.dumps(row, ensure_ascii=False, indent=2, default=str))


@outbox_app.command("preview")
@core.cli_errors
def outbox_preview(
    outbox_id: int,
    html: Annotated[
        bool, typer.Option("--html", help="The HTML part instead of the text.")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Render a notice as it would go out now (a sent one: as it went), without sending."""

    with core.open_app(config) as application:
        # As when it leaves: a notice no longer true is withdrawn, not shown.
        reason = approval.recheck(application.db, outbox_id, application.clock.now())
        if reason is not None:
            typer.echo(f"outbox {outbox_id}: withdrawn (thông báo không gửi: {reason})")
            return
        row = store.get_row(application.db, outbox_id)
        if not row.get("letter_number"):
            row["letter_number"] = "…/" + application.config.organisation.short_name
        builder = MessageBuilder(application.config, application.engine.calendar)
        # A sent notice is shown as it went out; any other as it would go out now.
        built = builder.build(row, row.get("sent_at") or application.clock.now())
    msg = built.message
    typer.echo(f"Subject: {built.subject}")
    typer.echo(f"To: {msg['To']}")
    if msg["Cc"]:
        typer.echo(f"Cc: {msg['Cc']}")
    typer.echo("")
    part = msg.get_body(preferencelist=("html",) if html else ("plain",))
    typer.echo(part.get_content() if part is not None else "")
    for a in msg.iter_attachments():
        typer.echo(f"[attachment] {a.get_filename()} ({a.get_content_type()})")


def _act(action: str, outbox_id: int, by: str | None, config: str | None) -> None:

    with core.open_app(config) as application:
        db, cfg, now = application.db, application.config, application.clock.now()
        actor = by or core._user()
        if action == "approve":
            row = approval.approve(
                db, cfg, outbox_id, actor, now, calendar=application.engine.calendar
            )
        elif action == "hold":
            row = approval.hold(db, outbox_id, actor, now)
        else:
            row = approval.resend(
                db, cfg, outbox_id, actor, now, calendar=application.engine.calendar
            )
        when = core.local(row["next_attempt_at"], cfg)
    typer.echo(f"outbox {outbox_id}: {row['status']} (next attempt {when})")


ByOpt = Annotated[str | None, typer.Option("--by", help="Who does it.")]


@outbox_app.command("approve")
@core.cli_errors
def outbox_approve(outbox_id: int, by: ByOpt = None, config: ConfigOpt = None) -> None:
    """Release a held notice (a letter waiting for a coordinator's approval)."""
    _act("approve", outbox_id, by, config)


@outbox_app.command("hold")
@core.cli_errors
def outbox_hold(outbox_id: int, by: ByOpt = None, config: ConfigOpt = None) -> None:
    """Keep a pending notice from going out until it is approved."""
    _act("hold", outbox_id, by, config)


@outbox_app.command("resend")
@core.cli_errors
def outbox_resend(outbox_id: int, by: ByOpt = None, config: ConfigOpt = None) -> None:
    """Send a failed or parked notice again (its recipients are worked out again)."""
    _act("resend", outbox_id, by, config)
