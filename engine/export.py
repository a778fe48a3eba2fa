"""Files a coordinator can open or forward: the case list (CSV or Excel) and the
compliance report as a formatted workbook laid out like the inspection's conclusion.

Labels are Vietnamese (the workbook goes to leadership and inspectors); dates are
real Excel dates shown as ``23/11/2021``; percentages are real percentages.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from engine import sanitize
from engine.reports import extra_keys
from kernel.countries import country_names
from workflows.decision import ISSUER
from workflows.trip import CATEGORY, PURPOSE

STATE_VI = {
    "approved": "Đã duyệt",
    "travelling": "Đang đi",
    "returned": "Đã về",
    "report_due": "Chờ báo cáo",
    "report_filed": "Đã nộp báo cáo",
    "overdue": "Quá hạn",
    "escalated": "Đã kiến nghị xử lý",
    "closed": "Hoàn thành",
    "cancelled": "Đã hủy",
}
STATUS_VI = {
    "on_time": "Đã báo cáo đúng hạn",
    "late": "Đã báo cáo trễ hạn",
    "outstanding": "Chưa báo cáo (quá hạn)",
    "not_yet_due": "Chưa đến hạn",
    "not_due": "",
}
COUNT_HEADERS = (
    ("cases", "Số trường hợp"),
    ("due", "Phải báo cáo"),
    ("filed", "Đã báo cáo"),
    ("on_time", "Đúng hạn"),
    ("late", "Trễ hạn"),
    ("outstanding", "Chưa báo cáo"),
    ("not_yet_due", "Chưa đến hạn"),
    ("filed_pct", "Tỷ lệ"),
)

_BOLD = Font(name="Times New Roman", bold=True, size=12)
_NORMAL = Font(name="Times New Roman", size=12)
_TITLE = Font(name="Times New Roman", bold=True, size=14)
_ITALIC = Font(name="Times New Roman", italic=True, size=12)
_HEAD_FILL = PatternFill("solid", fgColor="DDEBF7")
_THIN = Side(style="thin", color="000000")
_BOX = Border(left=_THIN, right=_THIN, top=_THIN, bottom=_THIN)
_WRAP = Alignment(wrap_text=True, vertical="center")
_CENTER = Alignment(horizontal="center", vertical="center", wrap_text=True)
DATE_FORMAT = "DD/MM/YYYY"


def dmy(value: date | str | None) -> str:
    if not value:
        return ""
    day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
    return day.strftime("%d/%m/%Y")


def long_vi(day: date) -> str:
    return f"ngày {day.day:02d} tháng {day.month:02d} năm {day.year}"


def _issuer(item: dict[str, Any]) -> str:
    """The issuer's formal name (the vocabulary's), else the report's label."""
    issuer = item["issuer"]
    return ISSUER.label(issuer, formal=True) if issuer in ISSUER else item.get("label") or issuer


def _category(item: dict[str, Any]) -> str:
    category = item["category"]
    return CATEGORY.label(category) if category in CATEGORY else item.get("label") or category


def _as_date(value: Any) -> Any:
    if isinstance(value, str) and len(value) == 10 and value[4] == "-":
        return date.fromisoformat(value)
    return value


# -- the case list ----------------------------------------------------------------------

CASE_COLUMNS = (
    ("id", "Mã hồ sơ"),
    ("workflow", "Loại hồ sơ"),
    ("decision", "Số quyết định"),
    ("decision_date", "Ngày quyết định"),
    ("name", "Họ và tên"),
    ("unit", "Đơn vị"),
    ("category", "Diện quản lý"),
    ("purpose", "Mục đích"),
    ("departure", "Ngày đi"),
    ("return", "Ngày về"),
    ("deadline", "Hạn báo cáo"),
    ("report_filed_on", "Ngày nộp báo cáo"),
    ("filed_late", "Trễ hạn"),
    ("state", "Tình trạng"),
    ("escalation_level", "Mức kiến nghị"),
)


def cases_csv(rows: Sequence[dict[str, Any]], *, bom: bool = False) -> str:
    """The case list as CSV text with the English column names (a BOM for Excel)."""
    buf = io.StringIO()
    fields = list(rows[0]) if rows else [key for key, _ in CASE_COLUMNS]
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow(sanitize.csv_row(row))
    return ("\ufeff" if bom else "") + buf.getvalue()


def cases_xlsx(rows: Sequence[dict[str, Any]], path: str | Path, *, title: str) -> None:
    """The case list as a workbook with Vietnamese headers and real dates."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Danh sách hồ sơ"
    sheet.append([title])
    sheet["A1"].font = _TITLE
    sheet.append([])
    headers = ["STT", *[label for _, label in CASE_COLUMNS]]
    _header_row(sheet, 3, headers)
    for number, row in enumerate(rows, start=1):
        values: list[Any] = [number]
        for key, _ in CASE_COLUMNS:
            value = row.get(key)
            if key == "state":
                value = STATE_VI.get(value, value)
            elif key == "category" and value:
                value = CATEGORY.label(value)
            elif key == "purpose" and value:
                value = PURPOSE.label(value)
            elif key == "filed_late":
                value = {True: "Có", False: "Không"}.get(value, "")
            values.append(_as_date(value))
        _data_row(sheet, sheet.max_row + 1, values)
    _widths(sheet, [6, 9, 12, 16, 14, 26, 12, 30, 11, 12, 12, 13, 15, 9, 18, 10])
    sheet.freeze_panes = "C4"
    sheet.auto_filter.ref = f"A3:{get_column_letter(len(headers))}{max(sheet.max_row, 3)}"
    _save(book, path)


# -- the compliance workbook ---------------------------------------------------------------


def compliance_xlsx(
    report: dict[str, Any],
    path: str | Path,
    *,
    parent_body: str = "UBND TỈNH TÂY NINH",
    organisation: str = "SỞ NGOẠI VỤ",
) -> None:
    """Summary sheet laid out like the inspection (decisions by issuer, reports by
    management category, the sentences it writes), then sheets by unit, country and
    month, and the list of every trip with its dates and state."""
    book = Workbook()
    summary = book.active
    summary.title = "Tổng hợp"
    _summary_sheet(summary, report, parent_body, organisation)
    _count_sheet(
        book.create_sheet("Theo đơn vị"),
        "Tình hình báo cáo theo đơn vị",
        [("Đơn vị", lambda r: r["name"] or r["unit"] or "(không rõ)")],
        report["by_unit"],
    )
    _count_sheet(
        book.create_sheet("Theo nước đến"),
        "Tình hình báo cáo theo nước đến",
        [("Nước đến", lambda r: r["name"] or r["country"] or "(không rõ)")],
        report["by_country"],
    )
    _count_sheet(
        book.create_sheet("Theo tháng"),
        "Tình hình báo cáo theo tháng",
        [("Tháng", lambda r: _month_vi(r["month"])), ("Số quyết định", lambda r: r["decisions"])],
        report["by_month"],
    )
    for key in (k for k in extra_keys(report) if report[k]):
        _extra_sheet(book.create_sheet(EXTRA_TITLES.get(key, key)[:31]), key, report[key])
    _case_sheet(book.create_sheet("Danh sách trường hợp"), report.get("case_list", []))
    _save(book, path)


EXTRA_TITLES = {
    "ngo_by_agency": "PCPNN theo chủ khoản",
    "ngo_by_ngo": "PCPNN theo tổ chức",
    "follow_ups": "Nghĩa vụ khác sau chuyến đi",
    "suspensions": "Thời gian tạm dừng",
}
FIELD_LABELS = {
    **dict(COUNT_HEADERS),
    "receiving_agency": "Chủ khoản viện trợ",
    "agency": "Chủ khoản viện trợ",
    "ngo": "Tổ chức phi chính phủ nước ngoài",
    "obligations": "Số báo cáo",
    "workflow": "Loại hồ sơ",
    "case_id": "Số hồ sơ",
    "days_suspended": "Số ngày tạm dừng",
}


def _extra_sheet(ws: Worksheet, key: str, rows: list[dict[str, Any]]) -> None:
    """A section another case type added: its own columns, labelled when known."""
    ws["A1"] = EXTRA_TITLES.get(key, key).upper()
    ws["A1"].font = _TITLE
    fields = list(dict.fromkeys(k for row in rows for k in row)) or ["(trống)"]
    _header_row(ws, 3, ["STT", *[FIELD_LABELS.get(f, f) for f in fields]])
    for number, row in enumerate(rows, start=1):
        values = [row.get(f) for f in fields]
        if "filed_pct" in fields:
            i = fields.index("filed_pct")
            values[i] = None if values[i] is None else values[i] / 100
        _data_row(ws, 3 + number, [number, *values])
    if "filed_pct" in fields:
        _percent_column(ws, fields.index("filed_pct") + 2)
    _widths(ws, [6, 34, *[13] * (len(fields) - 1)])


def _summary_sheet(ws: Worksheet, report: dict[str, Any], parent: str, org: str) -> None:
    start = date.fromisoformat(report["period"]["from"])
    end = date.fromisoformat(report["period"]["to"])
    as_of = date.fromisoformat(report["as_of"])
    basis = (
        "ngày quyết định"
        if report["period"].get("by", "decision") == "decision"
        else ("ngày về nước")
    )
    ws["A1"], ws["A2"] = parent, org
    ws["A1"].font, ws["A2"].font = _NORMAL, _BOLD
    ws.merge_cells("A4:H4")
    ws["A4"] = "TÌNH HÌNH THỰC HIỆN CHẾ ĐỘ BÁO CÁO KẾT QUẢ SAU CHUYẾN ĐI NƯỚC NGOÀI"
    ws["A4"].font, ws["A4"].alignment = _TITLE, _CENTER
    ws.merge_cells("A5:H5")
    ws["A5"] = (
        f"Từ ngày {dmy(start)} đến ngày {dmy(end)} (tính theo {basis}); "
        f"số liệu tính đến {long_vi(as_of)}"
    )
    ws["A5"].font, ws["A5"].alignment = _ITALIC, _CENTER

    row = 7
    ws.cell(row, 1, "1. Quyết định cử cán bộ, công chức, viên chức đi nước ngoài").font = _BOLD
    row += 1
    ws.cell(
        row,
        1,
        (
            f"Từ ngày {dmy(start)} đến ngày {dmy(end)}, đã ban hành {_n(report['decisions'])} "
            f"quyết định với {_n(report['cases'])} trường hợp, trong đó:"
        ),
    ).font = _NORMAL
    for item in report["by_issuer"]:
        if not item["decisions"] and item["issuer"] not in ISSUER:
            continue
        row += 1
        name = _issuer(item)
        ws.cell(
            row,
            1,
            (
                f"- {name} ban hành {_n(item['decisions'])} quyết định với "
                f"{_n(item['cases'])} trường hợp."
            ),
        ).font = _NORMAL
    row += 2
    _header_row(ws, row, ["STT", "Cơ quan ban hành", "Số quyết định", "Số trường hợp"])
    for number, item in enumerate(report["by_issuer"], start=1):
        name = _issuer(item)
        _data_row(ws, row + number, [number, name, item["decisions"], item["cases"]])
    row += len(report["by_issuer"]) + 1
    _data_row(ws, row, ["", "Tổng cộng", report["decisions"], report["cases"]], bold=True)

    row += 2
    ws.cell(row, 1, "2. Việc báo cáo kết quả sau chuyến đi").font = _BOLD
    for item in report["by_category"]:
        row += 1
        name = _category(item)
        pct = "–" if item["filed_pct"] is None else f"{item['filed_pct']}%"
        ws.cell(
            row, 1, (f"- {name}: {_n(item['filed'])}/{_n(item['due'])} trường hợp (đạt {pct}).")
        ).font = _NORMAL
    row += 2
    _header_row(ws, row, ["STT", "Diện quản lý", *[label for _, label in COUNT_HEADERS]])
    for number, item in enumerate(report["by_category"], start=1):
        name = _category(item)
        _data_row(ws, row + number, [number, name, *_counts(item)])
    row += len(report["by_category"]) + 1
    _data_row(ws, row, ["", "Tổng cộng", *_counts(report["totals"])], bold=True)
    _percent_column(ws, 10)
    row += 2
    notes = (
        "Ghi chú: “Phải báo cáo” gồm các trường hợp đã đến hạn báo cáo hoặc đã nộp báo cáo; "
        "“Tỷ lệ” = Đã báo cáo / Phải báo cáo, làm tròn đến số nguyên. Số liệu được tính lại "
        "từ lịch sử hồ sơ trên hệ thống theo ngày tính số liệu."
    )
    ws.merge_cells(start_row=row, start_column=1, end_row=row + 1, end_column=10)
    ws.cell(row, 1, notes).font = _ITALIC
    ws.cell(row, 1).alignment = _WRAP
    _widths(ws, [6, 38, 14, 14, 12, 11, 11, 13, 13, 9])


def _count_sheet(
    ws: Worksheet, title: str, keys: list[tuple[str, Any]], rows: list[dict[str, Any]]
) -> None:
    ws["A1"] = title.upper()
    ws["A1"].font = _TITLE
    headers = ["STT", *[label for label, _ in keys], *[label for _, label in COUNT_HEADERS]]
    _header_row(ws, 3, headers)
    for number, item in enumerate(rows, start=1):
        _data_row(ws, 3 + number, [number, *[fn(item) for _, fn in keys], *_counts(item)])
    _percent_column(ws, len(headers))
    _widths(ws, [6, *[34 if i == 0 else 14 for i in range(len(keys))], *[13] * 8])
    ws.freeze_panes = "B4"


def _case_sheet(ws: Worksheet, cases: list[dict[str, Any]]) -> None:
    ws["A1"] = "DANH SÁCH TRƯỜNG HỢP"
    ws["A1"].font = _TITLE
    headers = [
        "STT",
        "Số quyết định",
        "Ngày quyết định",
        "Cơ quan quyết định",
        "Họ và tên",
        "Chức vụ",
        "Đơn vị",
        "Diện quản lý",
        "Nước đến",
        "Mục đích",
        "Ngày đi",
        "Ngày về",
        "Hạn báo cáo",
        "Ngày nộp báo cáo",
        "Tình trạng",
        "Kết quả báo cáo",
    ]
    _header_row(ws, 3, headers)
    for number, case in enumerate(cases, start=1):
        _data_row(
            ws,
            3 + number,
            [
                number,
                case["decision"],
                _as_date(case["decision_date"]),
                ISSUER.label(case["issuer"], formal=True),
                case["name"],
                case["position"],
                case["unit_name"] or case["unit"],
                CATEGORY.label(case["category"]),
                country_names(case["country_codes"]),
                PURPOSE.label(case["purpose"]),
                _as_date(case["departure"]),
                _as_date(case["return"]),
                _as_date(case["deadline"]),
                _as_date(case["report_filed_on"]),
                STATE_VI.get(case["state"], case["state"]),
                STATUS_VI.get(case["status"], case["status"]),
            ],
        )
    _widths(ws, [6, 15, 12, 18, 24, 22, 26, 22, 16, 10, 11, 11, 12, 13, 18, 22])
    ws.freeze_panes = "F4"
    ws.auto_filter.ref = f"A3:{get_column_letter(len(headers))}{max(ws.max_row, 3)}"


# -- cell helpers -----------------------------------------------------------------------------


def _n(value: int) -> str:
    """Numbers under ten with a leading zero, as the inspection writes them (01, 19)."""
    return f"{value:02d}"


def _month_vi(month: str | None) -> str:
    if not month:
        return "(không rõ)"
    year, number = month.split("-")
    return f"Tháng {int(number):02d}/{year}"


def _counts(item: dict[str, Any]) -> list[Any]:
    out: list[Any] = [item[key] for key, _ in COUNT_HEADERS[:-1]]
    pct = item.get("filed_pct")
    out.append(None if pct is None else pct / 100)
    return out


def _header_row(ws: Worksheet, row: int, headers: Sequence[str]) -> None:
    for col, text in enumerate(headers, start=1):
        cell = sanitize.write(ws, row, col, text)
        cell.font, cell.fill, cell.border, cell.alignment = _BOLD, _HEAD_FILL, _BOX, _CENTER


def _data_row(ws: Worksheet, row: int, values: Sequence[Any], *, bold: bool = False) -> None:
    for col, value in enumerate(values, start=1):
        cell = sanitize.write(ws, row, col, value)
        cell.font, cell.border = (_BOLD if bold else _NORMAL), _BOX
        if isinstance(value, date):
            cell.number_format = DATE_FORMAT
            cell.alignment = _CENTER
        elif isinstance(value, int | float):
            cell.alignment = _CENTER
        else:
            cell.alignment = _WRAP


def _percent_column(ws: Worksheet, col: int) -> None:
    for (cell,) in ws.iter_rows(min_col=col, max_col=col):
        if isinstance(cell.value, float | int) and not isinstance(cell.value, bool):
            cell.number_format = "0%"


def _widths(ws: Worksheet, widths: Sequence[float]) -> None:
    for col, width in enumerate(widths, start=1):
        ws.column_dimensions[get_column_letter(col)].width = width


def _save(book: Workbook, path: str | Path) -> None:
    for ws in book.worksheets:  # printable as it is: A4 landscape, one page wide
        sanitize.neutralise_sheet(ws)  # no formula anywhere, whatever a sentence embeds
        ws.page_setup.paperSize = ws.PAPERSIZE_A4
        ws.page_setup.orientation = ws.ORIENTATION_LANDSCAPE
        ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
