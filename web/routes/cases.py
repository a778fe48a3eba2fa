"""The case list (filters, search, sorting, keyset pages, export) and the case page
(fields, timeline, notices, files, and the actions its state allows)."""

from __future__ import annotations

import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

import storage.events
import storage.outbox
import storage.timers
import storage.units
from engine import export
from kernel import deadlines
from kernel.clock import local_date
from kernel.countries import country_names
from kernel.dates import optional_date, parse_date
from kernel.errors import InvalidInput, TheodoiError
from storage import pages
from web import i18n, services
from web.deps import (
    READERS,
    ROLES,
    STAFF,
    Principal,
    case_filter,
    case_for,
    check_csrf,
    flash,
    language,
    render,
    require,
    theodoi,
)
from workflows.decision import ISSUER
from workflows.obligation import SUSPENSIONS, suspended_days
from workflows.trip import CATEGORY, PURPOSE

router = APIRouter(include_in_schema=False)

# Events the engine fires by itself (timers, automatic steps): never offered as buttons.
SYSTEM_EVENTS = frozenset(
    {
        "open_report",
        "deadline_passed",
        "escalate",
        "open_final_report",
        "expiring",
        "expire",
        "obligation_filed",
        "obligation_reopened",
        "obligation_closed",
        "reopen",
    }
)


def _optional_day(value: str | None) -> date | None:
    try:
        return optional_date(value, "date")
    except InvalidInput:
        return None


def filter_from(request: Request, principal: Principal) -> pages.CaseFilter:
    p = request.query_params
    unit_id = None
    if p.get("unit"):
        with theodoi(request).db.session(write=False) as s:
            unit = storage.units.unit_by_code(s, p["unit"])
        unit_id = unit.id if unit else -1
    return case_filter(
        request,
        principal,
        workflow=p.get("workflow") or None,
        state=p.get("state") or None,
        unit_id=unit_id,
        category=p.get("category") or None,
        issuer=p.get("issuer") or None,
        decision=p.get("decision") or None,
        period_from=_optional_day(p.get("from")),
        period_to=_optional_day(p.get("to")),
        q=p.get("q") or None,
        sort=p.get("sort") or "id",
    )


def _choices(request: Request) -> dict[str, Any]:
    app = theodoi(request)
    with app.db.session(write=False) as s:
        units = pages.units(s)
    states: list[str] = []
    for name in app.registry.names():
        for st in app.registry[name].workflow.states:
            if st not in states:
                states.append(st)
    return {
        "workflows": app.registry.names(),
        "states": states,
        "units": units,
        "categories": CATEGORY.values,
        "issuers": ISSUER.values,
        "purposes": PURPOSE.values,
        "sorts": tuple(pages.SORTS),
    }


@router.get("/cases")
def case_list(request: Request, principal: Principal = Depends(require(*READERS))) -> Response:
    flt = filter_from(request, principal)
    with theodoi(request).db.session(write=False) as s:
        page = pages.case_page(s, flt, request.query_params.get("after"))
    params = {k: v for k, v in request.query_params.items() if k != "after" and v}
    next_url = None
    if page.next_cursor:
        next_url = "/cases?" + urlencode({**params, "after": page.next_cursor})
    query = urlencode(params)
    context = {
        "page": page,
        "params": params,
        "query": query,
        "next_url": next_url,
        "first_url": "/cases?" + query if request.query_params.get("after") else None,
        "today": local_date(theodoi(request).clock.now(), theodoi(request).config.organisation.tz),
        **_choices(request),
    }
    return render(request, "cases.html", context)


def export_rows(request: Request, flt: pages.CaseFilter) -> list[dict[str, Any]]:
    """The filtered list in the shape engine/export.py writes (the CLI's columns)."""
    with theodoi(request).db.session(write=False) as s:
        return [
            {
                "id": r["id"],
                "workflow": r["workflow"],
                "decision": r["decision_number"],
                "decision_date": _iso(r["decision_date"]),
                "name": r["name"],
                "unit": r["unit_code"],
                "category": r["category"],
                "purpose": r["purpose"],
                "departure": _iso(r["planned_start"]),
                "return": _iso(r["actual_end"] or r["planned_end"]),
                "deadline": _iso(r["deadline"]),
                "report_filed_on": _iso(r["report_filed_on"]),
                "filed_late": r["filed_late"],
                "state": r["state"],
                "escalation_level": r["escalation_level"],
            }
            for r in pages.iter_cases(s, flt)
        ]


def _iso(value: date | None) -> str | None:
    return value.isoformat() if value else None


@router.get("/cases.csv")
def export_csv(request: Request, principal: Principal = Depends(require(*READERS))) -> Response:
    text = export.cases_csv(export_rows(request, filter_from(request, principal)), bom=True)
    headers = {"Content-Disposition": 'attachment; filename="ho-so.csv"'}
    return Response(text.encode("utf-8"), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/cases.xlsx")
def export_xlsx(request: Request, principal: Principal = Depends(require(*READERS))) -> Response:
    rows = export_rows(request, filter_from(request, principal))
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "ho-so.xlsx"
        export.cases_xlsx(rows, path, title=i18n.gettext("list.title", "vi"))
        content = path.read_bytes()
    headers = {"Content-Disposition": 'attachment; filename="ho-so.xlsx"'}
    media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return Response(content, media_type=media, headers=headers)


# -- the case page ----------------------------------------------------------------------


def allowed_actions(app: Any, case: Any) -> list[dict[str, Any]]:
    """The events a person may fire on this case now, computed from the workflow."""
    runtime = app.registry[case.workflow]
    wf = runtime.workflow
    auto = set(wf.auto.values())
    out = []
    for t in wf.transitions:
        if case.state not in t.source or t.event in SYSTEM_EVENTS or t.event in auto:
            continue
        if any(out_t["event"] == t.event for out_t in out):
            continue
        out.append(
            {
                "event": t.event,
                "needs_reason": "reason" in t.needs,
                "needs_until": "until" in t.needs,
                "date": t.event in ("depart", "return", "file", "start", "complete"),
                "file": t.event == "file",
                "danger": t.event in ("cancel", "reject"),
            }
        )
    return out


def takes_report(app: Any, case: Any) -> bool:
    """Whether the case's state accepts a report (its workflow allows 'file' there)."""
    if case.workflow not in app.registry:
        return False
    return app.registry[case.workflow].workflow.transition("file", case.state) is not None


def case_context(request: Request, principal: Principal, case_id: int) -> dict[str, Any]:
    app = theodoi(request)
    case = case_for(request, principal, case_id)
    with app.db.session(write=False) as s:
        unit = pages.unit(s, case.unit_id)
        decision = pages.decision(s, case.decision_id)
        events = storage.events.case_events(s, case.id)
        notices = storage.outbox.outbox_for_case(s, case.id)
        timers = storage.timers.pending_timers(s, case.id)
        files = pages.attachments(s, case.id)
        sections = services.latest_sections(s, case.id)
        app.engine.reload_calendar(s)  # the admins' closures, with their sources
        children = (
            storage.cases.find_cases(s, parent_id=case.id) if case.workflow == "trip" else []
        )
    lang = language(request)
    explained = [
        (deadlines.NAMES.get(ex.name, (ex.name, ex.name))[lang == "en"], ex.lines(lang))
        for ex in deadlines.case_explanations(case, app.engine.calendar)
    ]
    suspensions = (case.data or {}).get(SUSPENSIONS, [])
    today = local_date(app.clock.now(), app.config.organisation.tz)
    return {
        "explained": explained,
        "children": children,
        "suspended_days": suspended_days(suspensions, today),
        "suspended_now": case.state in app.registry.states_tagged("due", event="resume"),
        "suspended_since": (
            datetime.fromisoformat(suspensions[-1]["since"]) if suspensions else None
        ),
        "case": case,
        "unit": unit,
        "decision": decision,
        "events": events,
        "notices": notices,
        "timers": timers,
        "files": files,
        "sections": sections,
        "section_names": services.SECTIONS,
        "actions": allowed_actions(app, case) if principal.is_staff else [],
        "can_file_report": takes_report(app, case) and principal.role in ("unit", *STAFF),
        "case_phase": app.registry.phase(case.state, case.workflow),  # its CSS class
        "today": local_date(app.clock.now(), app.config.organisation.tz).isoformat(),
        "country_codes": _country_names(case.country_codes, language(request)),
    }


def _country_names(codes: str | None, lang: str) -> str:
    try:
        return country_names(codes, lang)
    except (TheodoiError, KeyError, LookupError):
        return codes or ""


@router.get("/cases/{case_id}")
def case_page(
    request: Request, case_id: int, principal: Principal = Depends(require(*ROLES))
) -> Response:
    return render(request, "case.html", case_context(request, principal, case_id))


@router.get("/cases/{case_id}/files/{file_id}")
def case_file(
    request: Request, case_id: int, file_id: int, principal: Principal = Depends(require(*ROLES))
) -> Response:
    case = case_for(request, principal, case_id)
    with theodoi(request).db.session(write=False) as s:
        row = pages.attachment(s, case.id, file_id)
    if row is None:
        return render(request, "error.html", _missing(request), status=404)
    disposition = f"attachment; filename*=UTF-8''{_quote(row.filename)}"
    return Response(
        row.content,
        media_type=row.content_type,
        headers={"Content-Disposition": disposition, "X-Content-Type-Options": "nosniff"},
    )


def _quote(name: str) -> str:
    return quote(name, safe="")


def _missing(request: Request) -> dict[str, Any]:
    lang = language(request)
    return {
        "title": i18n.gettext("error.title", lang),
        "message": i18n.gettext("error.404", lang),
        "back": None,
    }


@router.post("/cases/{case_id}/events/{event}", dependencies=[Depends(check_csrf)])
async def case_event(
    request: Request, case_id: int, event: str, principal: Principal = Depends(require(*STAFF))
) -> Response:
    app = theodoi(request)
    case = case_for(request, principal, case_id)
    lang = language(request)
    form = await request.form()
    if event not in {a["event"] for a in allowed_actions(app, case)}:
        return _refuse(request, case_id, i18n.gettext("error.not_allowed", lang))
    try:
        version = int(str(form.get("version", "")))
    except ValueError:
        return _refuse(request, case_id, i18n.gettext("error.stale", lang))
    if version != case.version:
        return _refuse(request, case_id, i18n.gettext("error.stale", lang), status=409)
    reason = (str(form.get("reason") or "")).strip() or None
    actor = f"user:{principal.email}"
    try:
        params: dict[str, Any] = {}
        if form.get("on"):
            params["on"] = parse_date(str(form["on"]), "on")
        if form.get("until"):
            params["until"] = parse_date(str(form["until"]), "until")
        if event == "file":
            upload = form.get("file")
            content = await upload.read(_max_bytes(app) + 1) if hasattr(upload, "read") else b""
            name = getattr(upload, "filename", "") or ""
            checked = services.check_upload(name, content, _max_bytes(app))
            if isinstance(checked, str):
                return _refuse(
                    request, case_id, i18n.gettext(checked, lang, mb=f"{_max_mb(app):g}")
                )
            with app.db.session() as s:
                services.file_report(
                    app,
                    s,
                    case_id,
                    actor=actor,
                    version=version,
                    upload=checked,
                    on=params.get("on"),
                )
        else:
            with app.db.session() as s:
                app.engine.fire(
                    s,
                    case_id,
                    event,
                    actor=actor,
                    reason=reason,
                    params=params,
                    expected_version=version,
                )
    except InvalidInput as exc:
        return _refuse(request, case_id, exc.message)
    flash(request, i18n.gettext("case.done", lang, what=i18n.label("event", event, lang)))
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


@router.post("/cases/{case_id}/note", dependencies=[Depends(check_csrf)])
async def case_note(
    request: Request, case_id: int, principal: Principal = Depends(require(*STAFF))
) -> Response:
    app = theodoi(request)
    case_for(request, principal, case_id)
    form = await request.form()
    try:
        with app.db.session() as s:
            app.engine.note(
                s, case_id, str(form.get("note") or ""), actor=f"user:{principal.email}"
            )
    except InvalidInput as exc:
        return _refuse(request, case_id, exc.message)
    flash(
        request,
        i18n.gettext(
            "case.done", language(request), what=i18n.label("event", "note", language(request))
        ),
    )
    return RedirectResponse(f"/cases/{case_id}", status_code=303)


def _refuse(request: Request, case_id: int, message: str, status: int = 400) -> Response:
    lang = language(request)
    context = {
        "title": i18n.gettext("error.title", lang),
        "message": message,
        "back": f"/cases/{case_id}",
    }
    return render(request, "error.html", context, status=status)


def _max_mb(app: Any) -> float:
    return float(getattr(app.config.web, "upload_max_mb", 10))


def _max_bytes(app: Any) -> int:
    return int(_max_mb(app) * 1024 * 1024)
