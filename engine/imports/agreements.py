"""``theodoi import agreements FILE``: international agreements.

Same rules as the other imports: every row validated first (nothing written when one
is wrong), one transaction, the reference is the identity (a re-import changes
nothing; changed values go through ``Engine.update_fields``). An agreement is
created as of its signing (or start) date and caught up to now: reviews owed since
open, an agreement past its end is expired. No notice for the past unless --notify.
"""

from __future__ import annotations

from typing import Any

import storage.cases
import storage.units
from engine.app import App
from engine.creation import open_agreement
from engine.imports import ImportOptions, ImportRefused, register_kind
from engine.imports import parsing as p
from engine.imports.columns import Column
from engine.imports.problems import Problem
from engine.imports.reading import Table
from engine.imports.trips import UnitIndex
from engine.imports.units import RowReader
from engine.imports.writer import RowResult, WriteResult
from kernel.calendar import Duration
from kernel.errors import InvalidInput
from kernel.text import name_key
from storage.db import Session

AGREEMENT_COLUMNS: tuple[Column, ...] = (
    Column("partner", "Đối tác", aliases=("đối tác nước ngoài",)),
    Column("partner_country", "Quốc gia đối tác", required=False, aliases=("nước",)),
    Column("title", "Tên thỏa thuận", aliases=("thỏa thuận",)),
    Column("reference", "Số hiệu", aliases=("số thỏa thuận", "reference no")),
    Column("signing_date", "Ngày ký", aliases=("signed",)),
    Column("start_date", "Ngày hiệu lực", aliases=("ngày bắt đầu", "start")),
    Column("end_date", "Ngày hết hiệu lực", aliases=("ngày kết thúc", "end")),
    Column("review_every", "Chu kỳ tổng kết", required=False, aliases=("tổng kết",)),
    Column("unit", "Đơn vị theo dõi", aliases=("đơn vị", "mã đơn vị")),
)


def _duration(value: object) -> str:
    raw = p.text(value)
    try:
        Duration.parse(raw)
    except InvalidInput:
        raise ValueError("not a duration like '3 years'") from None
    return raw


def parse_agreements(
    table: Table, units: UnitIndex
) -> tuple[list[tuple[int, dict]], list[Problem]]:
    problems: list[Problem] = []
    reader = RowReader(table, AGREEMENT_COLUMNS, problems)
    rows: list[tuple[int, dict[str, Any]]] = []
    seen: dict[str, int] = {}
    for number, cells in table.rows:
        reader.start(number, cells)
        before = len(problems)
        signed = reader.date("signing_date", required=True)
        values = {
            "partner": reader.get("partner", required=True),
            "partner_country": ",".join(reader.countries("partner_country") or ()) or None,
            "title": reader.get("title", required=True),
            "reference": reader.get("reference", required=True),
            "signed_on": signed.isoformat() if signed else None,
            "start": reader.date("start_date", required=True),
            "end": reader.date("end_date", required=True),
            "review_every": reader.get("review_every", _duration),
            "unit_id": reader.get("unit", units.find, required=True),
        }
        if values["start"] and values["end"] and values["end"] <= values["start"]:
            reader.fail("end_date", reader.raw("end_date"), "not after the start date")
        ref = (values["reference"] or "").lower()
        if ref and ref in seen:
            reader.fail("reference", values["reference"], f"repeated (first in row {seen[ref]})")
        elif ref:
            seen[ref] = number
        if len(problems) == before:
            rows.append((number, values))
    return rows, problems


def _changes(case: Any, values: dict[str, Any]) -> dict[str, Any]:
    data = dict(case.data or {})
    for key in ("partner", "signed_on", "review_every"):
        if values.get(key) is not None:
            data[key] = values[key]
    wanted = {
        "name": values["title"],
        "unit_id": values["unit_id"],
        "country_codes": values["partner_country"],
        "planned_start": values["start"],
        "planned_end": values["end"],
        "data": data,
    }
    return {k: v for k, v in wanted.items() if getattr(case, k) != v}


def _handler(app: App, session: Session, table: Table, options: ImportOptions) -> WriteResult:
    index = UnitIndex((u.id, u.code, u.name) for u in storage.units.units_by_id(session).values())
    rows, problems = parse_agreements(table, index)
    if problems:
        raise ImportRefused(problems)
    result = WriteResult()
    existing = {c.name_key: c for c in storage.cases.find_cases(session, workflow="agreement")}
    for number, values in rows:
        label = f"{values['reference']}: {values['title']}"
        case = existing.get(name_key(values["reference"]))
        if case is None:
            made = open_agreement(
                app.engine, session, actor=options.actor, notify=options.notify, **values
            )
            result.rows.append(RowResult(number, "created", label, made.state, case=made))
            continue
        changes = _changes(case, values)
        if not changes:
            result.rows.append(RowResult(number, "unchanged", label, case.state, case=case))
            continue
        moved = app.engine.update_fields(
            session, case.id, changes, actor=options.actor, reason="import", notify=options.notify
        )
        result.rows.append(RowResult(number, "updated", label, moved.state, case=moved))
    return result


register_kind("agreements", AGREEMENT_COLUMNS, _handler)
