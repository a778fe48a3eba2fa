"""``theodoi ngo …``, ``theodoi agreement …`` and ``theodoi workflow …``.

theodoi ngo add --ngo "World Vision" --name "…" --code WV-01 --unit SKHDT
                --receiving-agency "UBND huyện Tân Biên" --start 2020-03-01 --end 2022-02-28 …
theodoi ngo obligations [PROJECT_ID]      the reports owed, with their deadlines
theodoi agreement add --title "…" --reference TTQT-01 --partner "…" --country KH
                      --unit SNgV --signed 2018-12-17 --start 2018-12-17 --end 2021-12-17
theodoi workflow list
theodoi workflow show NAME [--format text|mermaid|dot]
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import typer

import storage.cases
import storage.units
from cli import main as core
from cli.main import ConfigOpt, FormatOpt
from engine import diagram
from engine.creation import open_agreement, open_ngo_project
from engine.registry import Registry
from kernel.calendar import Duration
from kernel.countries import parse_countries
from kernel.dates import optional_date, parse_date
from kernel.errors import InvalidInput
from workflows.decision import ISSUER

ngo_app = typer.Typer(help="Foreign-NGO aid projects (dự án viện trợ PCPNN).", no_args_is_help=True)
agreement_app = typer.Typer(
    help="International agreements (thỏa thuận quốc tế).", no_args_is_help=True
)
workflow_app = typer.Typer(
    help="Case types: their states, transitions and timers.", no_args_is_help=True
)


def register(app: typer.Typer) -> None:
    app.add_typer(ngo_app, name="ngo")
    app.add_typer(agreement_app, name="agreement")
    app.add_typer(workflow_app, name="workflow")


def _email(value: str | None, field: str) -> str | None:
    if value and "@" not in value:
        raise InvalidInput(field, f"'{value}' is not an e-mail address")
    return value or None


def _unit_id(session: Any, code: str) -> int:
    found = storage.units.unit_by_code_or_name(session, code)
    if found is None:
        raise InvalidInput("unit", f"unknown unit '{code}' (add it with: theodoi unit add)")
    return found.id


# -- ngo --------------------------------------------------------------------------------


@ngo_app.command("add")
def ngo_add(
    ngo: Annotated[str, typer.Option(help="The foreign NGO (tên tổ chức).")],
    name: Annotated[str, typer.Option(help="Project name (tên dự án).")],
    code: Annotated[str, typer.Option(help="Project code (mã dự án), its identity.")],
    unit: Annotated[str, typer.Option(help="The unit following it (code).")],
    receiving_agency: Annotated[str, typer.Option(help="Chủ khoản viện trợ.")],
    start: Annotated[str, typer.Option(help="Implementation start date.")],
    end: Annotated[str, typer.Option(help="Implementation end date.")],
    managing_agency: Annotated[str | None, typer.Option(help="Cơ quan chủ quản.")] = None,
    approval_number: Annotated[str | None, typer.Option(help="Số quyết định phê duyệt.")] = None,
    approval_date: Annotated[str | None, typer.Option(help="Date of the approval.")] = None,
    approving_body: Annotated[
        str | None, typer.Option(help=f"Who approved it: {ISSUER.allowed()}, or its name.")
    ] = None,
    value: Annotated[float | None, typer.Option(help="Aid value.")] = None,
    currency: Annotated[str | None, typer.Option(help="USD, EUR, VND…")] = None,
    location: Annotated[str | None, typer.Option(help="Địa bàn.")] = None,
    contact_email: Annotated[str | None, typer.Option(help="The NGO's contact.")] = None,
    receiving_agency_email: Annotated[
        str | None, typer.Option(help="The agency's address.")
    ] = None,
    notify: Annotated[
        bool, typer.Option("--notify/--no-notify", help="Send the notices that fit it now.")
    ] = True,
    config: ConfigOpt = None,
) -> None:
    """Record an approved aid project; its reports open on their own. Prints the case id."""
    cli = core

    @cli.cli_errors
    def run() -> None:
        started, ended = parse_date(start, "start"), parse_date(end, "end")
        approved = optional_date(approval_date, "approval-date")
        for field, text in (("ngo", ngo), ("name", name), ("code", code)):
            if not text.strip():
                raise InvalidInput(field, "is empty")
        with cli.open_app(config) as application, application.db.session() as session:
            case = open_ngo_project(
                application.engine,
                session,
                actor=cli._user(),
                notify=notify,
                approval_number=approval_number,
                approval_date=approved,
                approving_body_text=approving_body,
                name=name.strip(),
                project_code=code.strip(),
                unit_id=_unit_id(session, unit),
                start=started,
                end=ended,
                ngo_name=ngo.strip(),
                receiving_agency=receiving_agency.strip(),
                managing_agency=managing_agency,
                value=value,
                currency=currency,
                location=location,
                contact_email=_email(contact_email, "contact-email"),
                receiving_agency_email=_email(receiving_agency_email, "receiving-agency-email"),
            )
            typer.echo(case.id)

    run()


@ngo_app.command("obligations")
def ngo_obligations(
    project: Annotated[int | None, typer.Argument(help="One project's case id.")] = None,
    fmt: FormatOpt = "table",
    config: ConfigOpt = None,
) -> None:
    """The reports projects owe: period, deadline, state, filing."""
    _obligations("ngo_report", project, fmt, config)


def _obligations(workflow: str, parent: int | None, fmt: str, config: str | None) -> None:
    cli = core

    @cli.cli_errors
    def run() -> None:
        cli.choice(fmt, ("table", "json", "csv"), "format")
        with cli.open_app(config) as application, application.db.session(write=False) as session:
            found = storage.cases.find_cases(session, workflow=workflow, parent_id=parent)
            rows = [
                {
                    "id": c.id,
                    "parent_id": c.parent_id,
                    "period": c.data.get("key"),
                    "name": c.name,
                    "state": c.state,
                    "deadline": c.deadline.isoformat() if c.deadline else None,
                    "filed_on": c.report_filed_on.isoformat() if c.report_filed_on else None,
                    "filed_late": c.filed_late,
                    "escalation_level": c.escalation_level,
                }
                for c in sorted(found, key=lambda c: (c.parent_id or 0, c.deadline or date.min))
            ]
            columns = [
                "id",
                "parent_id",
                "period",
                "state",
                "deadline",
                "filed_on",
                "escalation_level",
            ]
            cli.emit(rows, fmt, columns)

    run()


# -- agreements -------------------------------------------------------------------------


@agreement_app.command("add")
def agreement_add(
    title: Annotated[str, typer.Option(help="Tên thỏa thuận.")],
    reference: Annotated[str, typer.Option(help="Its number or reference, its identity.")],
    partner: Annotated[str, typer.Option(help="Đối tác, e.g. Ủy ban hành chính tỉnh Prey Veng.")],
    unit: Annotated[str, typer.Option(help="The responsible unit (code).")],
    start: Annotated[str, typer.Option(help="Start of the term.")],
    end: Annotated[str, typer.Option(help="End of the term.")],
    country: Annotated[
        str | None, typer.Option(help="The partner's country: ISO code or name (Lào, Japan).")
    ] = None,
    signed: Annotated[str | None, typer.Option(help="Signing date.")] = None,
    review_every: Annotated[
        str | None, typer.Option(help="e.g. '3 years' (config default).")
    ] = None,
    notify: Annotated[
        bool, typer.Option("--notify/--no-notify", help="Send the notices that fit it now.")
    ] = True,
    config: ConfigOpt = None,
) -> None:
    """Record an international agreement; its reviews and expiry follow. Prints the case id."""
    cli = core

    @cli.cli_errors
    def run() -> None:
        started, ended = parse_date(start, "start"), parse_date(end, "end")
        signed_on = optional_date(signed, "signed") or started
        if review_every:
            Duration.parse(review_every)
        with cli.open_app(config) as application, application.db.session() as session:
            case = open_agreement(
                application.engine,
                session,
                actor=cli._user(),
                notify=notify,
                title=title.strip(),
                reference=reference.strip(),
                unit_id=_unit_id(session, unit),
                start=started,
                end=ended,
                partner_country=",".join(parse_countries(country, "country")) if country else None,
                partner=partner.strip(),
                signed_on=signed_on.isoformat(),
                review_every=review_every,
            )
            typer.echo(case.id)

    run()


@agreement_app.command("reviews")
def agreement_reviews(
    agreement: Annotated[int | None, typer.Argument(help="One agreement's case id.")] = None,
    fmt: FormatOpt = "table",
    config: ConfigOpt = None,
) -> None:
    """The reviews agreements owe: deadline, state, filing."""
    _obligations("agreement_review", agreement, fmt, config)


# -- workflows --------------------------------------------------------------------------


@workflow_app.command("list")
def workflow_list() -> None:
    """The case types this installation knows."""
    registry = Registry.load()
    for name in registry.names():
        typer.echo(f"{name}\t{registry[name].workflow.title}")


@workflow_app.command("show")
def workflow_show(
    name: Annotated[str, typer.Argument(help="A workflow name (theodoi workflow list).")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="text, mermaid or dot.")] = "text",
) -> None:
    """A case type's states, transitions and timers, or its diagram."""
    registry = Registry.load()
    if name not in registry:
        typer.echo(
            f"error: name: unknown workflow '{name}'; use {', '.join(registry.names())}", err=True
        )
        raise typer.Exit(2)
    wf = registry[name].workflow
    if fmt == "text":
        typer.echo(diagram.text(wf), nl=False)
    elif fmt == "mermaid":
        typer.echo(diagram.mermaid(wf), nl=False)
    elif fmt == "dot" and diagram.graphviz_available():
        typer.echo(diagram.graphviz_source(wf))
    else:
        hint = " (dot needs the graphviz Python package)" if fmt == "dot" else ""
        typer.echo(f"error: format: '{fmt}' is not one of text, mermaid, dot{hint}", err=True)
        raise typer.Exit(2)
