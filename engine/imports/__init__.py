"""Importing spreadsheets: ``theodoi import KIND FILE``.

The pipeline is the same for every kind: read the file (:mod:`.reading`), map its
header (:mod:`.columns`), validate every row collecting all problems (:mod:`.trips`,
:mod:`.units`, values in :mod:`.parsing`), and only when there is none write it all
in one transaction (:mod:`.writer`). A dry run does the same work and rolls it back,
on SQLite in a copy of the database, so that it holds no write lock and writes nothing.

Later case types add their own kinds with :func:`register_kind`.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import storage.units
from engine.app import App
from engine.imports.columns import TRIP_COLUMNS, UNIT_COLUMNS, Column
from engine.imports.problems import ImportRefused, Problem
from engine.imports.reading import Table, read_table
from engine.imports.trips import UnitIndex, parse_trips
from engine.imports.units import parse_units
from engine.imports.writer import Progress, TripWriter, WriteResult, write_units
from kernel.clock import local_date
from kernel.text import name_key
from storage.db import Session

__all__ = [
    "ImportOptions",
    "ImportRefused",
    "ImportReport",
    "Problem",
    "import_file",
    "kinds",
    "name_key",
    "register_kind",
]


@dataclass(frozen=True)
class ImportOptions:
    dry_run: bool = False
    notify: bool = False
    actor: str = "import"
    progress: Callable[[int], Progress | None] | None = None  # total rows → advance fn
    bulk: bool = True  # new trips through the batched backfill (off: the engine, case by case)


@dataclass
class ImportReport:
    kind: str
    file: str
    dry_run: bool
    rows: int
    result: WriteResult
    warnings: list[str] = field(default_factory=list)


Handler = Callable[[App, Session, Table, ImportOptions], WriteResult]


@dataclass(frozen=True)
class Kind:
    name: str
    columns: tuple[Column, ...]
    handler: Handler


_KINDS: dict[str, Kind] = {}


def register_kind(name: str, columns: tuple[Column, ...], handler: Handler) -> None:
    _KINDS[name] = Kind(name, columns, handler)


def kinds() -> list[str]:
    return sorted(_KINDS)


class _RollBack(Exception):
    """Raised inside the transaction to undo a dry run."""


def import_file(app: App, kind: str, path: str | Path, options: ImportOptions) -> ImportReport:
    """Validate the whole file, then write it in one transaction (or roll it back for a
    dry run). Raises ImportRefused, listing every problem, when anything is wrong."""
    if kind not in _KINDS:
        raise ImportRefused(
            [Problem(str(path), 0, "", kind, f"unknown kind; use {', '.join(kinds())}")]
        )
    spec = _KINDS[kind]
    table = read_table(path, spec.columns)
    warnings = [
        f"column '{name}' is not part of the {kind} template: ignored"
        for name in table.headers.unknown
    ]
    report = ImportReport(
        kind, table.file, options.dry_run, len(table.rows), WriteResult(), warnings
    )
    with tempfile.TemporaryDirectory(prefix="theodoi-dry-run-") as folder:
        # A dry run writes nothing here and holds no write lock: on SQLite it works on
        # a copy (read under a read transaction); elsewhere it is rolled back.
        scratch = app.db.scratch_copy(Path(folder)) if options.dry_run else None
        db = scratch or app.db
        try:
            with db.session() as session:
                report.result = spec.handler(app, session, table, options)
                if options.dry_run:
                    raise _RollBack
        except _RollBack:
            pass
        finally:
            if scratch is not None:
                scratch.dispose()
    return report


def _units(app: App, session: Session, table: Table, options: ImportOptions) -> WriteResult:
    rows, problems = parse_units(table)
    if problems:
        raise ImportRefused(problems)
    return write_units(session, rows)


def _trips(app: App, session: Session, table: Table, options: ImportOptions) -> WriteResult:
    index = UnitIndex((u.id, u.code, u.name) for u in storage.units.units_by_id(session).values())
    today = local_date(app.clock.now(), app.config.organisation.tz)
    rows, problems = parse_trips(table, index, today)
    if problems:
        raise ImportRefused(problems)
    writer = TripWriter(app, session, actor=options.actor, source=table.file, bulk=options.bulk)
    advance = options.progress(len(rows)) if options.progress else None
    writer.write(rows, options.notify, advance)
    return writer.result


register_kind("units", UNIT_COLUMNS, _units)
register_kind("trips", TRIP_COLUMNS, _trips)


# Case types that bring their own kinds (imported last: they use register_kind).
from engine.imports import agreements, ngo  # noqa: E402, F401
