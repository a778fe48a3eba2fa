"""``theodoi import ngo_projects FILE``: foreign-NGO aid projects.

Same rules as the trip import: every row validated first (all problems listed,
nothing written when there is one), one transaction, idempotent (the project code
is the identity: a re-import of the same file changes nothing; changed values go
through ``Engine.update_fields`` with a history entry). Backfill: a project is
created as of its approval (or start) date and caught up to now; ``reports_filed``
(``2020-H1:2020-07-10; 2020:2021-01-20; final:2022-03-15``; a bare year is the
annual report ``YYYY-Y``) records filings that each report replays at its date,
so a report filed late is late in the history too. No notice for the past unless
``--notify``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

import storage.cases
import storage.units
from engine.app import App
from engine.creation import open_ngo_project
from engine.imports import ImportOptions, ImportRefused, register_kind
from engine.imports import parsing as p
from engine.imports.columns import Column
from engine.imports.problems import Problem
from engine.imports.reading import Table
from engine.imports.trips import UnitIndex
from engine.imports.units import RowReader
from engine.imports.writer import RowResult, WriteResult
from kernel.clock import local_date
from kernel.dates import parse_date
from kernel.text import name_key
from storage.db import Session

NGO_COLUMNS: tuple[Column, ...] = (
    Column("ngo_name", "Tên tổ chức", aliases=("tổ chức PCPNN", "ngo", "tên tổ chức PCPNN")),
    Column("project_name", "Tên dự án", aliases=("dự án", "project")),
    Column("project_code", "Mã dự án", aliases=("mã", "project code")),
    Column("receiving_agency", "Chủ khoản viện trợ", aliases=("cơ quan tiếp nhận",)),
    Column("managing_agency", "Cơ quan chủ quản", required=False),
    Column("unit", "Đơn vị theo dõi", aliases=("đơn vị", "mã đơn vị")),
    Column("approval_number", "Số quyết định phê duyệt", required=False, aliases=("số QĐ",)),
    Column("approval_date", "Ngày phê duyệt", required=False, aliases=("ngày QĐ",)),
    Column("approving_body", "Cơ quan phê duyệt", required=False),
    Column("value", "Giá trị", required=False, aliases=("giá trị viện trợ",)),
    Column("currency", "Loại tiền", required=False, aliases=("tiền tệ",)),
    Column("start_date", "Ngày bắt đầu", aliases=("bắt đầu", "start")),
    Column("end_date", "Ngày kết thúc", aliases=("kết thúc", "end")),
    Column("location", "Địa bàn", required=False),
    Column("contact_email", "Email tổ chức", required=False, aliases=("email liên hệ",)),
    Column("receiving_agency_email", "Email chủ khoản viện trợ", required=False),
    Column("reports_filed", "Báo cáo đã nộp", required=False, aliases=("đã báo cáo",)),
)

_KEY = re.compile(r"^(\d{4})(?:-(\w+))?$")


def parse_filings(value: object) -> dict[str, str]:
    """``2020-H1:2020-07-10; 2020:21/01/2021`` → {"2020-H1": "2020-07-10", "2020-Y": …}."""
    out: dict[str, str] = {}
    for part in re.split(r"[;\n]", p.text(value)):
        if not part.strip():
            continue
        key, sep, day = part.strip().partition(":")
        key = key.strip()
        match = _KEY.match(key)
        if not sep or not (match or key.lower() == "final"):
            raise ValueError(f"'{part.strip()}' is not period:date (e.g. 2020-H1:10/07/2020)")
        if key.lower() == "final":
            key = "final"
        elif match and match.group(2) is None:
            key = f"{match.group(1)}-Y"
        out[key] = parse_date(day.strip(), "reports_filed").isoformat()
    return out


def _number(value: object) -> float:
    try:
        return float(p.text(value).replace(",", ""))
    except ValueError:
        raise ValueError("not a number") from None


@dataclass(frozen=True)
class ProjectRow:
    row: int
    values: dict[str, Any]  # create_project's keyword arguments

    @property
    def code(self) -> str:
        return self.values["project_code"]


def parse_projects(
    table: Table, units: UnitIndex, today: date
) -> tuple[list[ProjectRow], list[Problem]]:
    problems: list[Problem] = []
    reader = RowReader(table, NGO_COLUMNS, problems)
    rows: list[ProjectRow] = []
    seen: dict[str, int] = {}
    for number, cells in table.rows:
        reader.start(number, cells)
        before = len(problems)
        values = {
            "ngo_name": reader.get("ngo_name", required=True),
            "name": reader.get("project_name", required=True),
            "project_code": reader.get("project_code", required=True),
            "receiving_agency": reader.get("receiving_agency", required=True),
            "managing_agency": reader.get("managing_agency"),
            "unit_id": reader.get("unit", units.find, required=True),
            "approval_number": reader.get("approval_number", p.decision_number),
            "approval_date": reader.date("approval_date"),
            "approving_body_text": reader.get("approving_body"),
            "value": reader.get("value", _number),
            "currency": reader.get("currency"),
            "start": reader.date("start_date", required=True),
            "end": reader.date("end_date", required=True),
            "location": reader.get("location"),
            "contact_email": reader.get("contact_email", p.parse_email),
            "receiving_agency_email": reader.get("receiving_agency_email", p.parse_email),
            "reports_filed": reader.get("reports_filed", parse_filings),
        }
        start, end = values["start"], values["end"]
        if start and end and end <= start:
            reader.fail(
                "end_date", reader.raw("end_date"), f"not after the start ({start:%d/%m/%Y})"
            )
        if values["approval_number"] and not values["approval_date"]:
            reader.fail("approval_date", None, "an approval number needs its date")
        for key, day in (values["reports_filed"] or {}).items():
            if date.fromisoformat(day) > today:
                reader.fail(
                    "reports_filed", reader.raw("reports_filed"), f"{key}: date in the future"
                )
        code = values["project_code"]
        if code and code.lower() in seen:
            reader.fail(
                "project_code", code, f"project code repeated (first in row {seen[code.lower()]})"
            )
        elif code:
            seen[code.lower()] = number
        if len(problems) == before:
            rows.append(ProjectRow(number, values))
    return rows, problems


def write_projects(
    app: App, session: Session, rows: list[ProjectRow], options: ImportOptions
) -> WriteResult:
    result = WriteResult()
    existing = {c.name_key: c for c in storage.cases.find_cases(session, workflow="ngo_project")}
    for row in rows:
        values = dict(row.values)
        label = f"{values['project_code']}: {values['name']}"
        case = existing.get(name_key(values["project_code"]))
        if case is None:
            created = open_ngo_project(
                app.engine, session, actor=options.actor, notify=options.notify, **values
            )
            result.rows.append(RowResult(row.row, "created", label, created.state, case=created))
            continue
        changes = _changes(case, values)
        if not changes:
            result.rows.append(RowResult(row.row, "unchanged", label, case.state, case=case))
            continue
        moved = app.engine.update_fields(
            session, case.id, changes, actor=options.actor, reason="import", notify=options.notify
        )
        _file_open_reports(app, session, case.id, values.get("reports_filed") or {}, options)
        shown = {
            k: ["…", "…"] if k == "data" else [getattr(case, k), v] for k, v in changes.items()
        }
        result.rows.append(RowResult(row.row, "updated", label, moved.state, shown, case=moved))
    return result


def _changes(case: Any, values: dict[str, Any]) -> dict[str, Any]:
    data = dict(case.data or {})
    for key in (
        "ngo_name",
        "receiving_agency",
        "managing_agency",
        "value",
        "currency",
        "location",
        "contact_email",
        "receiving_agency_email",
        "reports_filed",
    ):
        if values.get(key) is not None:
            data[key] = values[key]
    wanted = {
        "name": values["name"],
        "unit_id": values["unit_id"],
        "planned_start": values["start"],
        "planned_end": values["end"],
        "data": data,
    }
    return {k: v for k, v in wanted.items() if getattr(case, k) != v}


def _file_open_reports(
    app: App, session: Session, project_id: int, filings: dict[str, str], options: ImportOptions
) -> None:
    """Filings for reports already open: recorded now, dated as the file says."""
    for child in storage.cases.find_cases(session, parent_id=project_id):
        day = filings.get(child.data.get("key"))
        phase = app.registry[child.workflow].workflow.phase(child.state)
        if day and phase in ("due", "late"):
            app.engine.fire(
                session,
                child.id,
                "file",
                actor=options.actor,
                reason="import",
                params={"on": date.fromisoformat(day)},
                notify=options.notify,
            )


def _handler(app: App, session: Session, table: Table, options: ImportOptions) -> WriteResult:
    index = UnitIndex((u.id, u.code, u.name) for u in storage.units.units_by_id(session).values())
    today = local_date(app.clock.now(), app.config.organisation.tz)
    rows, problems = parse_projects(table, index, today)
    if problems:
        raise ImportRefused(problems)
    return write_projects(app, session, rows, options)


register_kind("ngo_projects", NGO_COLUMNS, _handler)
