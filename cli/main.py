"""The ``theodoi`` command line: the edge where configuration and the wall clock are read.

Every command takes ``--config FILE`` (or ``THEODOI_CONFIG``); environment variables
``THEODOI_<SECTION>__<KEY>`` override the file. Bad input prints one clear line naming
the field and exits with status 2, writing nothing.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from functools import wraps
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

import storage.cases
import storage.decisions
import storage.events
import storage.outbox
import storage.timers
import storage.units
from cli import wiring
from cli.demo import load_demo
from cli.simulation import simulate as run_simulation
from engine import creation, limits, sanitize
from engine.app import App
from engine.creation import Traveller
from engine.cycle import run_cycle
from kernel import deadlines
from kernel.clock import Clock, ManualClock, from_local, to_local
from kernel.countries import country_names, parse_countries
from kernel.dates import parse_date
from kernel.errors import ConfigError, InvalidInput, StorageError, TheodoiError
from kernel.settings import Config, load_config
from notifications.smtp import deliver_due
from storage import decisions
from workflows import catalog
from workflows.decision import ISSUER
from workflows.obligation import SUSPENSIONS, suspended_days
from workflows.trip import CATEGORY, PURPOSE
from workflows.trip_passport import PASSPORT

app = typer.Typer(
    name="theodoi",
    help="Theo dõi: trips, NGO projects and agreements, their deadlines and reminders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
unit_app = typer.Typer(help="Units (đơn vị) that owe reports.", no_args_is_help=True)
trip_app = typer.Typer(help="Outbound trips (đoàn ra).", no_args_is_help=True)
app.add_typer(unit_app, name="unit")
app.add_typer(trip_app, name="trip")

ConfigOpt = Annotated[
    str | None,
    typer.Option(
        "--config", "-c", help="Configuration file (or THEODOI_CONFIG).", show_default=False
    ),
]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table, json or csv.")]
out = Console()


# -- the edge: configuration, clock, errors ------------------------------------------


def get_config(path: str | None) -> Config:
    """The whole configuration, each case type's section checked by its own model."""
    return load_config(path, os.environ, workflows=catalog.settings_models())


_FIXED_NOW: dict[str, str] = {}


@app.callback()
def _global_options(
    now: Annotated[
        str | None,
        typer.Option(
            "--now",
            envvar="THEODOI_NOW",
            help="Pretend the current instant is this local date-time (demos, backfills).",
        ),
    ] = None,
) -> None:
    if now:
        _FIXED_NOW["now"] = now


@contextmanager
def open_app(
    config_path: str | None, clock: Clock | None = None, upgrade: bool = False
) -> Iterator[App]:
    config = get_config(config_path)
    if clock is None and _FIXED_NOW:
        clock = ManualClock(parse_instant(_FIXED_NOW["now"], "now", config))
    application = wiring.open_app(config, clock, upgrade=upgrade)
    if not upgrade and not application.db.has_schema():
        application.close()
        raise StorageError(
            f"{config.storage.url} has no theodoi tables yet: run `theodoi init` first"
        )
    try:
        yield application
    finally:
        application.close()


def cli_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn theodoi's errors into one line on stderr and exit status 2."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TheodoiError as exc:
            fail(exc)

    return wrapper


def fail(exc: TheodoiError) -> None:
    """One line on stderr, exit status 2 (a configuration error says so)."""
    prefix = "configuration error" if isinstance(exc, ConfigError) else "error"
    typer.echo(f"{prefix}: {exc}", err=True)
    raise typer.Exit(2) from None


def parse_instant(text: str, field: str, config: Config) -> datetime:
    """A local date or date-time (organisation's zone) as a naive UTC instant."""
    tz = config.organisation.tz
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        day = parse_date(text, field)  # 23/11/2021 and the other forms of a day
        return from_local(day, time(0, 0), tz)
    if value.tzinfo is None:
        return from_local(value.date(), value.time(), tz)
    return value.astimezone(UTC).replace(tzinfo=None)


def local(instant: datetime | None, config: Config) -> str:
    if instant is None:
        return ""
    return to_local(instant, config.organisation.tz).strftime("%Y-%m-%d %H:%M")


def choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise InvalidInput(field, f"'{value}' is not one of {', '.join(allowed)}")
    return value


# -- commands ----------------------------------------------------------------------------


@app.command()
@cli_errors
def init(config: ConfigOpt = None) -> None:
    """Create or upgrade the database to the latest schema."""
    with open_app(config, upgrade=True) as application:
        out.print(f"database ready: {application.config.storage.url}")


@unit_app.command("add")
@cli_errors
def unit_add(
    code: str,
    name: Annotated[str, typer.Option(help="Tên đơn vị.")],
    email: Annotated[str | None, typer.Option(help="The unit's address.")] = None,
    head_email: Annotated[str | None, typer.Option(help="The head of the unit.")] = None,
    language: Annotated[str, typer.Option(help="vi or en.")] = "vi",
    config: ConfigOpt = None,
) -> None:
    """Add a unit, or update the one with this code."""
    for field, value in (("email", email), ("head-email", head_email)):
        if value and "@" not in value:
            raise InvalidInput(field, f"'{value}' is not an e-mail address")
    choice(language, ("vi", "en"), "language")
    limits.check_unit({"code": code, "name": name, "email": email, "head_email": head_email})
    with open_app(config) as application, application.db.session() as session:
        unit = storage.units.unit_by_code(session, code) or decisions.add_unit(session, code)
        unit.name, unit.email, unit.head_email, unit.language = name, email, head_email, language
        decisions.save(session, [unit])
        session.flush()
        out.print(f"unit {unit.code}: {unit.name}")


@unit_app.command("list")
@cli_errors
def unit_list(config: ConfigOpt = None) -> None:
    """List the units."""
    with open_app(config) as application, application.db.session(write=False) as session:
        table = Table("code", "name", "email", "head_email")
        for unit in sorted(storage.units.units_by_id(session).values(), key=lambda u: u.code):
            table.add_row(unit.code, unit.name, unit.email or "", unit.head_email or "")
        out.print(table)


@trip_app.command("add")
@cli_errors
def trip_add(
    decision: Annotated[str, typer.Option(help="Decision number, e.g. 36/QĐ-SNgV.")],
    decision_date: Annotated[str, typer.Option(help="Decision date (dd/mm/yyyy or ISO).")],
    issuer: Annotated[str, typer.Option(help=f"{ISSUER.vi}: {ISSUER.allowed()}.")],
    name: Annotated[str, typer.Option(help="The traveller's full name.")],
    unit: Annotated[str, typer.Option(help="Unit code.")],
    category: Annotated[str, typer.Option(help=f"{CATEGORY.vi}: {CATEGORY.allowed()}.")],
    destination: Annotated[
        str, typer.Option(help="Countries: ISO codes or names (Lào, Nhật Bản), comma-separated.")
    ],
    depart: Annotated[str, typer.Option(help="Planned departure date.")],
    return_: Annotated[str, typer.Option("--return", help="Planned return date.")],
    position: Annotated[str | None, typer.Option(help="Position (chức vụ).")] = None,
    purpose: Annotated[str, typer.Option(help=f"{PURPOSE.vi}: {PURPOSE.allowed()}.")] = "official",
    email: Annotated[str | None, typer.Option(help="The traveller's address (cc).")] = None,
    passport: Annotated[
        str | None,
        typer.Option(help="official, diplomatic or ordinary (official/diplomatic: hand it back)."),
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Record a traveller sent abroad by a decision; prints the new case id.

    The trip is opened as of its decision day and caught up to now, as an import
    opens it: a trip entered after its dates lands in report_due, overdue or
    escalated, and gets only the notice that fits it now."""
    issuer = creation.term(ISSUER, issuer)
    category = creation.term(CATEGORY, category)
    purpose = creation.term(PURPOSE, purpose)
    if passport is not None:
        passport = creation.term(PASSPORT, passport, "passport")
    decided_on = parse_date(decision_date, "decision-date")
    departure = parse_date(depart, "depart")
    arrival = parse_date(return_, "return")
    country_codes = ",".join(parse_countries(destination, "destination"))
    with open_app(config) as application, application.db.session() as session:
        traveller = Traveller(
            name=name,
            unit_id=creation.unit_id(session, unit),
            category=category,
            country_codes=country_codes,
            purpose=purpose,
            departure=departure,
            return_=arrival,
            position=position,
            email=email,
            passport=passport,
        )
        [case] = creation.open_trips(
            application.engine,
            session,
            number=decision,
            decided_on=decided_on,
            issuer=issuer,
            travellers=[traveller],
            actor=_user(),
        )
        typer.echo(case.id)


@app.command()
@cli_errors
def event(
    case_id: int,
    event_name: Annotated[str, typer.Argument(metavar="EVENT")],
    reason: Annotated[
        str | None, typer.Option(help="Why (required for reject, extend, cancel).")
    ] = None,
    at: Annotated[str | None, typer.Option(help="When it happened (local date-time).")] = None,
    by: Annotated[str | None, typer.Option(help="Who did it.")] = None,
    on: Annotated[str | None, typer.Option(help="The date the event refers to.")] = None,
    until: Annotated[str | None, typer.Option(help="New deadline (extend).")] = None,
    config: ConfigOpt = None,
) -> None:
    """Apply an event to a case (depart, return, file, accept, reject, extend, cancel, note)."""
    cfg = get_config(config)
    params: dict[str, Any] = {}
    if on:
        params["on"] = parse_date(on, "on")
    if until:
        params["until"] = parse_date(until, "until")
    instant = parse_instant(at, "at", cfg) if at else None
    if instant and "on" not in params:
        params["on"] = to_local(instant, cfg.organisation.tz).date()
    with open_app(config) as application, application.db.session() as session:
        if event_name == "note":
            application.engine.note(session, case_id, reason or "", actor=by or _user())
            typer.echo(f"case {case_id}: note added")
            return
        case = application.engine.fire(
            session,
            case_id,
            event_name,
            actor=by or _user(),
            at=instant,
            reason=reason,
            params=params,
        )
        typer.echo(f"case {case.id}: {case.state}")


@app.command()
@cli_errors
def tick(
    now: Annotated[str | None, typer.Option(help="Fire what is due at this instant.")] = None,
    send: Annotated[
        bool, typer.Option("--send/--no-send", help="Then deliver the outbox that is due.")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Fire every timer due now (or at --now), once; with --send, then deliver the mail."""
    cfg = get_config(config)
    clock: Clock | None = ManualClock(parse_instant(now, "now", cfg)) if now else None
    with open_app(config, clock) as application:
        report = run_cycle(application, deliver_due if send else None)
        for line in report.swept.lines:
            typer.echo(line)
        typer.echo(f"fired {report.swept.fired} timers on {report.swept.cases} cases")
        if report.delivered is not None:
            for line in report.delivered.lines:
                typer.echo(line)
            typer.echo(str(report.delivered))


@app.command()
@cli_errors
def simulate(
    until: Annotated[str, typer.Option(help="Move the clock up to this instant.")],
    send: Annotated[
        bool, typer.Option("--send/--no-send", help="Deliver the outbox at each instant.")
    ] = True,
    config: ConfigOpt = None,
) -> None:
    """Move a manual clock forward from the latest recorded instant, firing timers in order."""
    cfg = get_config(config)
    end = parse_instant(until, "until", cfg)
    with open_app(config, ManualClock(end)) as application:
        for line in run_simulation(application, end, send=send):
            typer.echo(line)


@app.command()
@cli_errors
def cases(
    state: Annotated[str | None, typer.Option(help="Only this state.")] = None,
    workflow: Annotated[str | None, typer.Option(help="Only this workflow.")] = None,
    unit: Annotated[str | None, typer.Option(help="Only this unit's cases.")] = None,
    fmt: FormatOpt = "table",
    config: ConfigOpt = None,
) -> None:
    """List cases."""
    choice(fmt, ("table", "json", "csv"), "format")
    with open_app(config) as application, application.db.session(write=False) as session:
        rows = case_rows(session, state=state, workflow=workflow, unit=unit)
        emit(rows, fmt, ["id", "workflow", "state", "unit", "name", "deadline", "escalation_level"])


def case_rows(session: Any, **filters: Any) -> list[dict[str, Any]]:
    units = storage.units.units_by_id(session)
    unit_id = None
    if filters.get("unit"):
        found = storage.units.unit_by_code(session, filters["unit"])
        if found is None:
            raise InvalidInput("unit", f"unknown unit '{filters['unit']}'")
        unit_id = found.id
    found_cases = storage.cases.find_cases(
        session, workflow=filters.get("workflow"), state=filters.get("state"), unit_id=unit_id
    )
    decisions = storage.decisions.decisions_by_id(session, {c.decision_id for c in found_cases})
    rows = []
    for case in found_cases:
        decision = decisions.get(case.decision_id)
        rows.append(
            {
                "id": case.id,
                "workflow": case.workflow,
                "state": case.state,
                "unit": units[case.unit_id].code if case.unit_id in units else None,
                "name": case.name,
                "decision": decision.number if decision else None,
                "decision_date": decision.decided_on.isoformat() if decision else None,
                "category": case.category,
                "purpose": case.purpose,
                "departure": _iso(case.actual_start or case.planned_start),
                "return": _iso(case.actual_end or case.planned_end),
                "deadline": _iso(case.deadline),
                "report_filed_on": _iso(case.report_filed_on),
                "filed_late": case.filed_late,
                "escalation_level": case.escalation_level,
                "parent_id": case.parent_id,
            }
        )
    return rows


@app.command()
@cli_errors
def show(case_id: int, fmt: FormatOpt = "table", config: ConfigOpt = None) -> None:
    """A case and its whole timeline."""
    choice(fmt, ("table", "json"), "format")
    with open_app(config) as application, application.db.session(write=False) as session:
        case = storage.cases.get_case(session, case_id)
        if case is None:
            raise InvalidInput("case", f"case {case_id} does not exist")
        cfg = application.config
        events = storage.events.case_events(session, case_id)
        history = [
            {
                "at": e.at.isoformat(),
                "event": e.event,
                "from": e.from_state,
                "to": e.to_state,
                "actor": e.actor,
                "reason": e.reason,
                "data": e.data,
            }
            for e in events
        ]
        timers = [
            {"kind": t.kind, "level": t.level, "fire_at": t.fire_at.isoformat()}
            for t in storage.timers.pending_timers(session, case_id)
        ]
        notices = [
            {"kind": m.kind, "level": m.level, "status": m.status, "to": m.to_addrs}
            for m in storage.outbox.outbox_for_case(session, case_id)
        ]
        body = json.loads(case.model_dump_json())
        body["history"], body["timers"], body["notices"] = history, timers, notices
        application.engine.reload_calendar(session)  # the admins' closures too
        explained = deadlines.case_explanations(case, application.engine.calendar)
        body["deadlines"] = [
            {**ex.to_dict("vi"), "sentence_en": ex.sentence("en"), "lines_en": ex.lines("en")}
            for ex in explained
        ]
        body["suspension"] = suspension_summary(case, application)
        if fmt == "json":
            typer.echo(json.dumps(body, ensure_ascii=False, indent=2))
            return
        out.print(f"[bold]case {case.id}[/] {case.workflow} — {case.name} — [bold]{case.state}[/]")
        if case.country_codes:
            out.print(f"  destinations: {country_names(case.country_codes)}")  # keep name: label
        for key in ("deadline", "actual_end", "report_filed_on", "escalation_level"):
            out.print(f"  {key}: {body[key]}")
        for ex in explained:
            title = deadlines.NAMES.get(ex.name, (ex.name, ex.name))[0]
            steps = Table(f"{title}: {ex.result.strftime('%d/%m/%Y')}", show_header=True)
            for line in ex.lines("vi"):
                steps.add_row(line)
            out.print(steps)
        if body["suspension"]["suspensions"]:
            out.print(f"  days suspended / số ngày tạm dừng: {body['suspension']['days']}")
        pending = (case.data or {}).get("extension_request")
        if pending:
            out.print(f"  extension requested until {pending['until']}: {pending.get('reason')}")
        table = Table("at (local)", "event", "from", "to", "actor", "reason")
        for e in events:
            table.add_row(
                local(e.at, cfg),
                e.event,
                e.from_state or "",
                e.to_state or "",
                e.actor,
                e.reason or "",
            )
        out.print(table)
        for t in timers:
            out.print(f"  pending timer {t['kind']} {t['level']} at {t['fire_at']} UTC")


def suspension_summary(case: Any, application: App) -> dict[str, Any]:
    """The case's suspensions and the calendar days suspended (an open one up to today)."""
    items = (case.data or {}).get(SUSPENSIONS, [])
    today = to_local(application.clock.now(), application.config.organisation.tz).date()
    return {"days": suspended_days(items, today), "suspensions": items}


@app.command()
@cli_errors
def demo(config: ConfigOpt = None) -> None:
    """Load demo data shaped like the inspection report (an empty database only)."""
    with open_app(config, upgrade=True) as application:
        for line in load_demo(application):
            typer.echo(line)


# -- output helpers --------------------------------------------------------------------


def emit(rows: list[dict[str, Any]], fmt: str, columns: list[str]) -> None:
    if fmt == "json":
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else columns)
        writer.writeheader()
        writer.writerows(sanitize.csv_rows(rows))
        typer.echo(buf.getvalue(), nl=False)
    else:
        table = Table(*columns)
        for row in rows:
            table.add_row(*("" if row.get(c) is None else str(row.get(c)) for c in columns))
        out.print(table)


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _user() -> str:
    return f"cli:{os.environ.get('USER') or os.environ.get('USERNAME') or 'operator'}"


if __name__ == "__main__":
    raise SystemExit("run `theodoi` or `python -m cli`: this module is the root app only")
