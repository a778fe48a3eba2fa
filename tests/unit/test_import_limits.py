"""A sheet's declared size is not trusted, and a file past the limits is refused with a
Vietnamese message naming the file and the limit (issue 14)."""

from __future__ import annotations

import re
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest

from engine.imports import reading
from engine.imports.columns import UNIT_COLUMNS
from engine.imports.problems import ImportRefused

HEADER = ("Mã đơn vị", "Tên đơn vị", "Email")


def workbook(path: Path, rows: list[tuple], dimension: str | None = None) -> Path:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    plain = path.with_suffix(".plain.xlsx")
    book.save(plain)
    with zipfile.ZipFile(plain) as src, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml" and dimension is not None:
                text = re.sub(r'<dimension ref="[^"]*"\s*/>', "", data.decode())
                tag = f'<dimension ref="{dimension}"/>' if dimension else ""
                data = text.replace("<sheetViews>", f"{tag}<sheetViews>", 1).encode()
            out.writestr(item, data)
    return path


def refusal(path: Path) -> str:
    with pytest.raises(ImportRefused) as caught:
        reading.read_table(path, UNIT_COLUMNS)
    return caught.value.problems[0].problem


def test_a_sheet_declaring_the_full_grid_is_refused_at_once(tmp_path: Path) -> None:
    rows = [HEADER, ("SYT", "Sở Y tế", "syt@example.vn")]
    path = workbook(tmp_path / "khai-man.xlsx", rows, dimension="A1:XFD1048576")
    assert path.stat().st_size < 10_000
    started = time.monotonic()
    message = refusal(path)
    assert time.monotonic() - started < 5
    assert "khai-man.xlsx" in message and "vượt giới hạn 200,000 dòng × 200 cột" in message


def test_a_sheet_that_understates_its_size_is_bounded_while_read(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.append(HEADER)
    book.active.cell(row=300_000, column=1, value="x")  # a stray cell far below
    book.save(tmp_path / "xa.xlsx")
    path = workbook(tmp_path / "xa-sai.xlsx", [HEADER], dimension="A1:C2")
    with zipfile.ZipFile(tmp_path / "xa.xlsx") as src:  # the far cell, the small claim
        sheet = src.read("xl/worksheets/sheet1.xml")
    sheet = re.sub(rb'<dimension ref="[^"]*"\s*/>', b'<dimension ref="A1:C2"/>', sheet)
    with zipfile.ZipFile(tmp_path / "xa.xlsx") as src, zipfile.ZipFile(path, "w") as out:
        for item in src.infolist():
            data = sheet if item.filename == "xl/worksheets/sheet1.xml" else src.read(item)
            out.writestr(item, data)
    started = time.monotonic()
    message = refusal(path)
    assert time.monotonic() - started < 5
    assert "xa-sai.xlsx" in message and "quá 200,000 dòng" in message


def test_a_sheet_that_only_lies_small_is_read_whole(tmp_path: Path) -> None:
    rows = [HEADER] + [(f"U{i}", f"Đơn vị {i}", f"u{i}@example.vn") for i in range(5)]
    path = workbook(tmp_path / "dung.xlsx", rows, dimension="A1:A1")
    assert len(reading.read_table(path, UNIT_COLUMNS).rows) == 5


def test_too_many_columns_or_rows_in_a_csv_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wide = tmp_path / "rong.csv"
    wide.write_text(",".join(HEADER) + "\nSYT,Sở Y tế,a@b.vn" + ",x" * 300 + "\n")
    assert "rong.csv" in refusal(wide) and "quá 200 cột" in refusal(wide)
    monkeypatch.setattr(reading, "MAX_ROWS", 3)
    long = tmp_path / "dai.csv"
    long.write_text(",".join(HEADER) + "\n" + "SYT,Sở Y tế,a@b.vn\n" * 20)
    assert "dai.csv" in refusal(long) and "quá 3 dòng" in refusal(long)
