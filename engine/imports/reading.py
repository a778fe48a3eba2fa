"""Reading a spreadsheet into rows of raw cell values: ``.xlsx`` (openpyxl, read-only)
or ``.csv`` (UTF-8 with or without BOM; the delimiter, comma, semicolon or tab, is
taken from the header line).

The header row is the first of the top rows that names at least two expected
columns, so a title line above the table ("DANH SÁCH ĐOÀN RA …") does no harm.
Fully empty rows are skipped. Row numbers are the spreadsheet's own (1-based).
"""

from __future__ import annotations

import csv
import io
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.imports.columns import Column, HeaderMap, map_headers, score
from engine.imports.problems import ImportRefused, Problem

HEADER_SEARCH_ROWS = 10
# A sheet's declared size (its <dimension> tag) is not trusted: only the cells the file
# holds are read, and a sheet with more rows or columns than these is refused.
MAX_ROWS = 200_000
MAX_COLUMNS = 200


@dataclass
class Table:
    file: str  # the name shown in problems
    header_row: int
    headers: HeaderMap
    rows: list[tuple[int, tuple[Any, ...]]]  # (spreadsheet row number, cell values)


def _refuse(file: str, problem: str, row: int = 0, column: str = "", value: str = "") -> None:
    raise ImportRefused([Problem(file, row, column, value, problem)])


def _is_empty(values: Sequence[Any]) -> bool:
    return all(v is None or (isinstance(v, str) and not v.strip()) for v in values)


def _csv_rows(path: Path) -> Iterator[tuple[int, tuple[Any, ...]]]:
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        _refuse(
            path.name,
            f"the file is not UTF-8 text (byte {exc.start}); save it as 'CSV UTF-8' or use .xlsx",
        )
    first_line = text.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for number, values in enumerate(reader, start=1):
        yield number, tuple(values)


def _xlsx_rows(path: Path) -> Iterator[tuple[int, tuple[Any, ...]]]:
    import openpyxl  # imported here: reading a CSV should not pay for it

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        _refuse(path.name, f"not a readable .xlsx workbook ({exc})")
    try:
        sheet = book.worksheets[0]
        rows, columns = sheet.max_row or 0, sheet.max_column or 0  # what <dimension> claims
        if rows > MAX_ROWS + HEADER_SEARCH_ROWS or columns > MAX_COLUMNS:
            _refuse(
                path.name,
                f"Tệp {path.name} khai báo trang tính {rows:,} dòng × {columns:,} cột, "
                f"vượt giới hạn {MAX_ROWS:,} dòng × {MAX_COLUMNS} cột: hãy xóa các dòng, cột "
                f"thừa hoặc chia thành nhiều tệp (the sheet declares {rows:,} × {columns:,} "
                f"cells, over the limit of {MAX_ROWS:,} rows × {MAX_COLUMNS} columns)",
            )
        sheet.reset_dimensions()  # and read only the cells the file holds, whatever it says
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            yield number, tuple(values)
    finally:
        book.close()


def _bounded(
    file: str, source: Iterator[tuple[int, tuple[Any, ...]]]
) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """``source``, refused as soon as it goes past :data:`MAX_ROWS` rows or a row past
    :data:`MAX_COLUMNS` cells (trailing empty cells do not count)."""
    for number, values in source:
        if number > MAX_ROWS + HEADER_SEARCH_ROWS:
            _refuse(
                file,
                f"Tệp {file} có quá {MAX_ROWS:,} dòng, vượt giới hạn cho một lần nhập: "
                f"hãy chia thành nhiều tệp (more than {MAX_ROWS:,} rows: split the file)",
                row=number,
            )
        width = len(values)
        while width and (values[width - 1] is None or values[width - 1] == ""):
            width -= 1
        if width > MAX_COLUMNS:
            _refuse(
                file,
                f"Tệp {file} có quá {MAX_COLUMNS} cột ở dòng {number}, vượt giới hạn "
                f"{MAX_COLUMNS} cột (more than {MAX_COLUMNS} columns)",
                row=number,
            )
        yield number, values[:width]


def read_table(path: str | Path, columns: Sequence[Column]) -> Table:
    """The header and data rows of the file's first sheet. Raises ImportRefused when the
    file cannot be read or lacks a header row or required columns."""
    path = Path(path)
    if not path.is_file():
        _refuse(str(path), "file not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        source = _csv_rows(path)
    elif suffix in (".xlsx", ".xlsm"):
        source = _xlsx_rows(path)
    else:
        _refuse(path.name, f"unsupported file type '{suffix}': use .xlsx or .csv")
    source = _bounded(path.name, source)
    header: tuple[int, tuple[Any, ...]] | None = None
    rows: list[tuple[int, tuple[Any, ...]]] = []
    for number, values in source:
        if header is None:
            if number > HEADER_SEARCH_ROWS:
                break
            if score(values, columns) >= 2:
                header = (number, values)
            continue
        if not _is_empty(values):
            rows.append((number, values))
    if header is None:
        expected = ", ".join(c.name for c in columns if c.required)
        _refuse(
            path.name,
            f"no header row found in the first {HEADER_SEARCH_ROWS} rows; "
            f"expected columns: {expected}",
        )
    mapping = map_headers(header[1], columns)
    problems = [
        Problem(path.name, header[0], c.name, "", f"required column missing ({c.label})")
        for c in mapping.missing
    ]
    problems += [
        Problem(path.name, header[0], name, name, "column named twice")
        for name in mapping.duplicates
    ]
    if problems:
        raise ImportRefused(problems)
    return Table(path.name, header[0], mapping, rows)
