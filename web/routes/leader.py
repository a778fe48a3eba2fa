"""Leadership pages: the compliance report with charts and its workbook, escalations."""

from __future__ import annotations

import tempfile
from datetime import date
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from engine import export, reports
from kernel.clock import local_date
from kernel.dates import optional_date
from kernel.errors import InvalidInput
from storage import pages
from web import charts, i18n
from web.deps import READERS, Principal, language, render, require, theodoi

router = APIRouter(include_in_schema=False)

# What the escalations page shows of each case's history.
ESCALATION_EVENTS = ("deadline_passed", "escalate", "extend", "file", "note")


def period_from(request: Request) -> dict[str, Any]:
    """The report's period from the query (default: the current and previous year)."""
    app = theodoi(request)
    today = local_date(app.clock.now(), app.config.organisation.tz)
    p = request.query_params

    def day(name: str, default: date) -> date:
        try:
            return optional_date(p.get(name), name) or default
        except InvalidInput:
            return default

    start = day("from", date(today.year - 1, 1, 1))
    end = day("to", today)
    if end < start:
        start, end = end, start
    by = p.get("by") if p.get("by") in ("decision", "return") else "decision"
    return {"start": start, "end": end, "by": by, "as_of": day("as_of", today)}


def compliance_report(request: Request, with_cases: bool = False) -> dict[str, Any]:
    app = theodoi(request)
    params = period_from(request)
    period = reports.Period(params["start"], params["end"], params["by"])
    with app.db.session(write=False) as s:
        return reports.compliance(
            s,
            period,
            params["as_of"],
            app.config.organisation.tz,
            with_cases=with_cases,
            language=language(request),
        )


def _month_label(month: str | None) -> str:
    if not month:
        return "—"
    year, mon = month.split("-")
    return f"{mon}/{year}"


@router.get("/compliance")
def compliance_page(
    request: Request, principal: Principal = Depends(require(*READERS))
) -> Response:
    lang = language(request)
    params = period_from(request)
    report = compliance_report(request)
    by_category = [
        (i18n.label("category", r["category"], lang), r["filed_pct"]) for r in report["by_category"]
    ]
    by_unit = [(r["name"] or r["unit"] or "—", r["filed_pct"]) for r in report["by_unit"]]
    by_month = [(_month_label(r["month"]), r["filed_pct"]) for r in report["by_month"]]
    context = {
        "report": report,
        "params": params,
        "query": request.url.query,
        "chart_category": charts.rate_bars(i18n.gettext("comp.by_category", lang), by_category),
        "chart_unit": charts.rate_bars(i18n.gettext("comp.by_unit", lang), by_unit),
        "chart_month": charts.month_line(i18n.gettext("comp.by_month", lang), by_month),
    }
    return render(request, "compliance.html", context)


@router.get("/compliance.xlsx")
def compliance_xlsx(
    request: Request, principal: Principal = Depends(require(*READERS))
) -> Response:
    report = compliance_report(request, with_cases=True)
    content = _workbook(theodoi(request), report)
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    headers = {"Content-Disposition": 'attachment; filename="bao-cao-tuan-thu.xlsx"'}
    return Response(content, media_type=media, headers=headers)


def _workbook(app: Any, report: dict[str, Any]) -> bytes:
    """The workbook engine/export.py lays out like the inspection's conclusion."""
    org = app.config.organisation
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bao-cao.xlsx"
        export.compliance_xlsx(report, path, parent_body=org.parent_body, organisation=org.name)
        return path.read_bytes()


@router.get("/escalations")
def escalations(request: Request, principal: Principal = Depends(require(*READERS))) -> Response:
    app = theodoi(request)
    today = local_date(app.clock.now(), app.config.organisation.tz)
    with app.db.session(write=False) as s:
        rows = pages.cases_in_state(s, app.registry.states_tagged("escalated"))
        history = pages.events_of(s, [r["id"] for r in rows], ESCALATION_EVENTS)
    return render(request, "escalations.html", {"rows": rows, "history": history, "today": today})
