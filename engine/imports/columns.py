"""Header rows: which column holds which field.

A header cell may be the English field name (``decision_number``), its Vietnamese
label (``Số quyết định``), a common variant, or both (``decision_number (số quyết
định)``); case, diacritics, spacing and order do not matter. Columns nobody asked
for are ignored with a warning (a leading ``STT`` numbering column silently).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from kernel.text import fold


@dataclass(frozen=True)
class Column:
    name: str  # the English field name
    label: str  # the Vietnamese label shown in templates and messages
    required: bool = True
    aliases: tuple[str, ...] = ()

    def spellings(self) -> set[str]:
        return {fold(s) for s in (self.name, self.label, *self.aliases)}


TRIP_COLUMNS: tuple[Column, ...] = (
    Column("decision_number", "Số quyết định", aliases=("số QĐ", "quyết định số", "decision no")),
    Column("decision_date", "Ngày quyết định", aliases=("ngày QĐ", "ngày ký quyết định")),
    Column("issuer", "Cơ quan quyết định", aliases=("cơ quan ban hành", "cấp quyết định")),
    Column("full_name", "Họ và tên", aliases=("họ tên", "name", "traveller")),
    Column("position", "Chức vụ", required=False, aliases=("chức danh",)),
    Column("unit", "Đơn vị", aliases=("mã đơn vị", "unit code", "cơ quan, đơn vị")),
    Column("category", "Diện quản lý", aliases=("management category",)),
    Column("destination", "Nước đến", aliases=("destinations", "quốc gia", "nước đi")),
    Column("purpose", "Mục đích", required=False, aliases=("mục đích chuyến đi",)),
    Column("departure_date", "Ngày đi", aliases=("ngày xuất cảnh", "departure")),
    Column("return_date", "Ngày về", aliases=("ngày nhập cảnh", "return")),
    Column(
        "report_filed_date",
        "Ngày nộp báo cáo",
        required=False,
        aliases=("ngày báo cáo", "report filed", "report date"),
    ),
    Column(
        "report_accepted",
        "Báo cáo đạt",
        required=False,
        aliases=("đã duyệt báo cáo", "báo cáo được chấp nhận", "accepted"),
    ),
    Column("email", "Email", required=False, aliases=("email người đi", "e-mail")),
    Column(
        "passport",
        "Loại hộ chiếu",
        required=False,
        aliases=("hộ chiếu", "passport type", "loại HC"),
    ),
)

UNIT_COLUMNS: tuple[Column, ...] = (
    Column("code", "Mã đơn vị", aliases=("mã", "unit code")),
    Column("name", "Tên đơn vị", aliases=("đơn vị", "unit name")),
    Column("email", "Email", required=False, aliases=("email đơn vị", "e-mail")),
    Column(
        "head_email",
        "Email thủ trưởng",
        required=False,
        aliases=("email lãnh đạo", "email thủ trưởng đơn vị", "head email"),
    ),
    Column("language", "Ngôn ngữ", required=False, aliases=("lang",)),
)

_SILENT = {"stt", "tt", "no", "#"}


@dataclass
class HeaderMap:
    """Field name → 0-based column index, plus what was left over."""

    index: dict[str, int] = field(default_factory=dict)
    missing: list[Column] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)  # header cells ignored
    duplicates: list[str] = field(default_factory=list)  # a field named twice


def _lookup(columns: Sequence[Column]) -> Mapping[str, Column]:
    table: dict[str, Column] = {}
    for column in columns:
        for spelling in column.spellings():
            table.setdefault(spelling, column)
    return table


def _candidates(cell: str) -> list[str]:
    """``"decision_number (số quyết định)"`` → the whole, the outside, the inside."""
    whole = fold(cell)
    out = [whole]
    if "(" in cell and cell.rstrip().endswith(")"):
        outside, _, inside = cell.rstrip()[:-1].partition("(")
        out += [fold(outside), fold(inside)]
    return [c for c in out if c]


def map_headers(cells: Sequence[object], columns: Sequence[Column]) -> HeaderMap:
    """Match a header row against the expected columns."""
    table = _lookup(columns)
    result = HeaderMap()
    for i, cell in enumerate(cells):
        text = "" if cell is None else str(cell).strip()
        if not text:
            continue
        column = next((table[c] for c in _candidates(text) if c in table), None)
        if column is None:
            if fold(text) not in _SILENT:
                result.unknown.append(text)
        elif column.name in result.index:
            result.duplicates.append(text)
        else:
            result.index[column.name] = i
    result.missing = [c for c in columns if c.required and c.name not in result.index]
    return result


def score(cells: Sequence[object], columns: Sequence[Column]) -> int:
    """How many cells of a row name a known column (to find the header row)."""
    return len(map_headers(cells, columns).index)
