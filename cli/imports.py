"""``theodoi import``, ``theodoi report compliance`` and ``theodoi export cases``.

    theodoi import trips FILE [--dry-run] [--notify]
    theodoi report compliance --from 2020-01-01 --to 2021-08-31 [--by decision|return]
                              [--as-of DATE] [--format table|json|csv|xlsx] [--output FILE]
    theodoi export cases --format csv|xlsx [--state S] [--workflow W] [--unit CODE]
                         [--output FILE]

A refused import prints every problem (file, row, column, value, what is wrong) and
exits with status 2, having written nothing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from cli import main as core
from cli.main import ConfigOpt
from engine import export, reports, sanitize
from engine.imports import ImportOptions, ImportRefused, import_file
from kernel.clock import local_date
from kernel.errors import InvalidInput, TheodoiError

report_app = typer.Typer(help="Reports (compliance figures).", no_args_is_help=True)
export_app = typer.Typer(help="Export data to CSV or Excel.", no_args_is_help=True)


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # Off a terminal (pipes, CI logs, tests) use a wide page: rows must not wrap.
    return Console(file=stream, width=None if stream.isatty() else 200)


def register(app: typer.Typer) -> None:
    app.command("import")(import_command)
    app.add_typer(report_app, name="report")
    app.add_typer(export_app, name="export")


# -- import -------------------------------------------------------------------------------


def import_command(
    kind: Annotated[str, typer.Argument(help="What the file holds: units or trips.")],
    file: Annotated[Path, typer.Argument(help="An .xlsx or .csv file.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would change; write nothing.")
    ] = False,
    notify: Annotated[
        bool,
        typer.Option("--notify", help="Send each case the one notice that fits it now."),
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Import units or trips from a spreadsheet: all rows or none."""

    user = os.environ.get("USER") or os.environ.get("USERNAME") or "operator"
    try:
        with core.open_app(config, upgrade=True) as application, _progress_bar() as bar:
            options = ImportOptions(
                dry_run=dry_run, notify=notify, actor=f"import:{user}", progress=bar
            )
            result = import_file(application, kind, file, options)
    except ImportRefused as exc:
        _print_problems(exc)
        raise typer.Exit(2) from None
    except TheodoiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    _print_import(result)


@contextmanager
def _progress_bar() -> Iterator[Any]:
    """A progress bar on a terminal; nothing when output goes to a file or a pipe."""
    if not sys.stdout.isatty():
        yield None
        return

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        transient=True,
    ) as progress:

        def start(total: int):
            task = progress.add_task("importing", total=total)
            return lambda n: progress.advance(task, n)

        yield start


SHOWN_PROBLEMS = 1000  # a file with a wrong header row can have one problem per cell


def _print_problems(exc: Any) -> None:
    console = _console(stderr=True)
    table = Table("file", "row", "column", "value", "problem", title="Import refused")
    for p in exc.problems[:SHOWN_PROBLEMS]:
        table.add_row(p.file, str(p.row or ""), p.column, p.value, p.problem)
    console.print(table)
    count = len(exc.problems)
    if count > SHOWN_PROBLEMS:
        console.print(f"… and {count - SHOWN_PROBLEMS} more not shown.")
    console.print(f"{count} problem{'s' if count != 1 else ''}: nothing was written.")


def _print_import(report: Any) -> None:
    console = _console()
    for warning in report.warnings:
        console.print(f"warning: {warning}")
    result = report.result
    verb = "would be" if report.dry_run else "were"
    if report.dry_run:
        for row in result.rows:
            if row.action == "unchanged":
                continue
            state = f" → {row.state}" if row.state else ""
            console.print(f"row {row.row}: {row.action[:-1]} {row.what}{state}", markup=False)
            for key, (old, new) in row.changes.items():
                console.print(f"    {key}: {old} → {new}", markup=False)
    else:
        for row in result.rows:
            if row.action == "updated":
                changed = ", ".join(f"{k}: {old} → {new}" for k, (old, new) in row.changes.items())
                console.print(f"row {row.row}: updated {row.what} ({changed})", markup=False)
    for row in result.rows:
        for note in row.notes:
            console.print(f"row {row.row}: note: {note}", markup=False)
    summary = (
        f"{report.kind} from {report.file}: {result.count('created')} created, "
        f"{result.count('updated')} updated, {result.count('unchanged')} unchanged"
    )
    if report.kind == "trips":
        summary += (
            f"; decisions: {result.decisions_created} created, {result.decisions_updated} corrected"
        )
        states = result.states()
        if states:
            summary += "; states: " + ", ".join(f"{k} {v}" for k, v in states.items())
    console.print(
        f"{summary}" + (f" ({verb} not written: dry run)" if report.dry_run else ""), markup=False
    )


# -- report compliance ---------------------------------------------------------------------


@report_app.command("compliance")
def compliance_command(
    start: Annotated[str, typer.Option("--from", help="First day of the period.")],
    end: Annotated[str, typer.Option("--to", help="Last day of the period.")],
    by: Annotated[
        str, typer.Option("--by", help="decision: by decision date; return: by return date.")
    ] = "decision",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The situation on this day (default today).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, json, csv or xlsx.")] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Post-trip report compliance for a period, recomputed from the case history."""

    @core.cli_errors
    def run() -> None:
        core.choice(fmt, ("table", "json", "csv", "xlsx"), "format")
        core.choice(by, reports.BASES, "by")
        if fmt == "xlsx" and output is None:
            raise InvalidInput("output", "an .xlsx report needs --output FILE")
        try:
            period = reports.Period(core.parse_date(start, "from"), core.parse_date(end, "to"), by)
        except ValueError as exc:
            raise InvalidInput("to", str(exc)) from None
        with core.open_app(config) as application, application.db.session(write=False) as s:
            tz = application.config.organisation.tz
            day = (
                core.parse_date(as_of, "as-of")
                if as_of
                else local_date(application.clock.now(), tz)
            )
            report = reports.compliance(s, period, day, tz, with_cases=fmt in ("xlsx", "json"))
            org = application.config.organisation
        if fmt == "xlsx":
            export.compliance_xlsx(
                report, output, parent_body=org.parent_body, organisation=org.name
            )
            typer.echo(f"wrote {output}")
            return
        if fmt == "json":
            text = json.dumps(report, ensure_ascii=False, indent=2) + "\n"
        elif fmt == "csv":
            text = _compliance_csv(report)
        else:
            _print_compliance(report, output)
            return
        _emit_text(text, output)

    run()


def _emit_text(text: str, output: Path | None) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    # A BOM lets Excel open a CSV with Vietnamese text correctly.
    encoding = "utf-8-sig" if output.suffix.lower() == ".csv" else "utf-8"
    output.write_text(text, encoding=encoding)
    typer.echo(f"wrote {output}")


_CSV_FIELDS = [
    "section",
    "key",
    "label",
    "decisions",
    *[k for k, _ in export.COUNT_HEADERS],
    "obligations",
]


def _compliance_csv(report: dict[str, Any]) -> str:
    """One flat table: a row per group of every section."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerow(
        {
            "section": "total",
            "key": "",
            "label": "",
            "decisions": report["decisions"],
            **report["totals"],
        }
    )
    sections = [
        ("by_issuer", "issuer", "label"),
        ("by_category", "category", "label"),
        ("by_unit", "unit", "name"),
        ("by_country", "country", "name"),
        ("by_month", "month", "month"),
    ]
    for extra in reports.extra_keys(report):  # e.g. ngo_by_agency: keyed by its first field
        first = next(iter(report[extra][0])) if report[extra] else ""
        sections.append((extra, first, first))
    for section, key, label in sections:
        for item in report[section]:
            writer.writerow(
                sanitize.csv_row(
                    {**item, "section": section, "key": item[key] or "", "label": item.get(label) or ""}
                )
            )
    return buf.getvalue()


def _print_compliance(report: dict[str, Any], output: Path | None) -> None:
    console = _console() if output is None else Console(file=io.StringIO(), width=160, record=True)
    period = report["period"]
    console.print(
        f"[bold]Compliance {export.dmy(period['from'])} – {export.dmy(period['to'])}[/] "
        f"(by {period['by']} date, as of {export.dmy(report['as_of'])}): "
        f"{report['decisions']} decisions, {report['cases']} cases"
    )
    issuers = Table("issuer", "decisions", "cases", title="By issuer")
    for item in report["by_issuer"]:
        issuers.add_row(
            f"{item['issuer']} ({item['label']})", str(item["decisions"]), str(item["cases"])
        )
    console.print(issuers)
    for section, key, title in (
        ("by_category", "category", "By management category"),
        ("by_unit", "unit", "By unit"),
        ("by_country", "country", "By destination country"),
        ("by_month", "month", "By month"),
    ):
        table = Table(key, *[k for k, _ in export.COUNT_HEADERS], title=title)
        for item in report[section]:
            name = item.get("name") or item.get("label")
            head = f"{item[key] or '-'}" + (f" ({name})" if name and name != item[key] else "")
            cells = [str(item[k]) for k, _ in export.COUNT_HEADERS[:-1]]
            pct = item["filed_pct"]
            table.add_row(head, *cells, "–" if pct is None else f"{pct}%")
        console.print(table)
    for extra in reports.extra_keys(report):
        rows = report[extra]
        if not rows:
            continue
        fields = list(dict.fromkeys(k for row in rows for k in row))
        table = Table(*fields, title=extra)
        for item in rows:
            table.add_row(*["" if item.get(f) is None else str(item.get(f)) for f in fields])
        console.print(table)
    if output is not None:
        _emit_text(console.export_text(), output)


# -- export cases ---------------------------------------------------------------------------


@export_app.command("cases")
def export_cases(
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or xlsx.")] = "csv",
    state: Annotated[str | None, typer.Option(help="Only this state.")] = None,
    workflow: Annotated[str | None, typer.Option(help="Only this workflow.")] = None,
    unit: Annotated[str | None, typer.Option(help="Only this unit's cases.")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to this file.")
    ] = None,
    config: ConfigOpt = None,
) -> None:
    """Export the case list (same filters as ``theodoi cases``)."""

    @core.cli_errors
    def run() -> None:
        core.choice(fmt, ("csv", "xlsx"), "format")
        if fmt == "xlsx" and output is None:
            raise InvalidInput("output", "an .xlsx export needs --output FILE")
        with core.open_app(config) as application, application.db.session(write=False) as s:
            rows = core.case_rows(s, state=state, workflow=workflow, unit=unit)
            today = local_date(application.clock.now(), application.config.organisation.tz)
        if fmt == "xlsx":
            title = f"DANH SÁCH HỒ SƠ (đến {export.long_vi(today)})"
            export.cases_xlsx(rows, output, title=title)
            typer.echo(f"wrote {output} ({len(rows)} cases)")
            return
        if output is None:
            typer.echo(export.cases_csv(rows), nl=False)
            return
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(export.cases_csv(rows, bom=True), encoding="utf-8")
        typer.echo(f"wrote {output} ({len(rows)} cases)")

    run()
