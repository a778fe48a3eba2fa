"""The units template: validation of its rows (pure; the writer stores them)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from engine.imports import parsing
from engine.imports.columns import UNIT_COLUMNS, Column
from engine.imports.problems import Problem
from engine.imports.reading import Table
from kernel.countries import parse_countries
from kernel.dates import parse_date
from kernel.errors import InvalidInput

LANGUAGES = ("vi", "en")


@dataclass(frozen=True)
class UnitRow:
    row: int
    code: str
    name: str
    email: str | None
    head_email: str | None
    language: str


class RowReader:
    """Reads one row's fields, collecting every problem instead of stopping."""

    def __init__(self, table: Table, columns: tuple[Column, ...], problems: list[Problem]):
        self.table = table
        self.columns = {c.name: c for c in columns}
        self.problems = problems
        self.row = 0
        self.values: tuple[Any, ...] = ()

    def start(self, row: int, values: tuple[Any, ...]) -> None:
        self.row, self.values = row, values

    def raw(self, name: str) -> Any:
        index = self.table.headers.index.get(name)
        if index is None or index >= len(self.values):
            return None
        value = self.values[index]
        return None if isinstance(value, str) and not value.strip() else value

    def fail(self, name: str, value: Any, problem: str) -> None:
        shown = "" if value is None else parsing.text(value)
        self.problems.append(Problem(self.table.file, self.row, name, shown, problem))

    def get(self, name: str, parse: Callable[[Any], Any] = parsing.text, required: bool = False):
        """The parsed value, None when empty (a problem when required) or invalid."""
        value = self.raw(name)
        if value is None:
            if required:
                self.fail(name, None, f"missing ({self.columns[name].label})")
            return None
        try:
            return parse(value)
        except ValueError as exc:
            self.fail(name, value, str(exc))
        except InvalidInput as exc:  # the kernel's parsers name the field; the column says it
            self.fail(name, value, exc.message)
        return None

    def date(self, name: str, required: bool = False) -> date | None:
        """The column as a date (:func:`kernel.dates.parse_date`, as everywhere)."""
        return self.get(name, lambda value: parse_date(value, name), required)

    def countries(self, name: str, required: bool = False) -> tuple[str, ...] | None:
        """The column as ISO alpha-2 codes (:func:`kernel.countries.parse_countries`)."""
        return self.get(name, lambda value: parse_countries(value, name), required)


def parse_units(table: Table) -> tuple[list[UnitRow], list[Problem]]:
    problems: list[Problem] = []
    reader = RowReader(table, UNIT_COLUMNS, problems)
    rows: list[UnitRow] = []
    seen: dict[str, int] = {}
    for number, values in table.rows:
        reader.start(number, values)
        before = len(problems)
        code = reader.get("code", required=True)
        name = reader.get("name", required=True)
        email = reader.get("email", parsing.parse_email)
        head = reader.get("head_email", parsing.parse_email)
        language = (reader.get("language") or "vi").lower()
        if language not in LANGUAGES:
            reader.fail("language", language, "unknown language; use vi or en")
        if code and code.lower() in seen:
            reader.fail("code", code, f"unit code repeated (first in row {seen[code.lower()]})")
        elif code:
            seen[code.lower()] = number
        if len(problems) == before:
            rows.append(UnitRow(number, code, name, email, head, language))
    return rows, problems
