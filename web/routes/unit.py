"""Unit pages: the unit's cases and deadlines, and the post-trip report form.

The same form serves a logged-in unit user (/cases/{id}/report), a coordinator filing
on a unit's behalf, and a visitor holding a signed link from a reminder (/r/{token},
see web/routes/links.py).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from kernel.clock import local_date
from kernel.dates import parse_date
from kernel.errors import ConcurrentUpdate, InvalidInput, TransitionNotAllowed
from storage import pages
from web import i18n, services
from web.deps import (
    STAFF,
    Principal,
    case_for,
    check_csrf,
    flash,
    language,
    render,
    require,
    theodoi,
)
from web.routes.cases import takes_report
from workflows.obligation import EXTENSION_REQUEST

router = APIRouter(include_in_schema=False)


@router.get("/unit")
def unit_home(request: Request, principal: Principal = Depends(require("unit"))) -> Response:
    app = theodoi(request)
    only = principal.unit_id if principal.unit_id is not None else -1
    flt = pages.CaseFilter(only_unit=only, sort="deadline")
    today = local_date(app.clock.now(), app.config.organisation.tz)
    # the states a report is filed from, due or late (trips and obligations), by tags
    report_states = [
        *app.registry.states_tagged("due", event="file"),
        *app.registry.states_tagged("late", event="file"),
    ]
    with app.db.session(write=False) as s:
        unit = pages.unit(s, only)
        due = [
            r
            for st in report_states
            for r in pages.case_page(
                s, pages.CaseFilter(only_unit=only, state=st, sort="deadline"), None, 200
            ).rows
        ]
        page = pages.case_page(s, flt, request.query_params.get("after"))
    due.sort(key=lambda r: (r["deadline"] is None, r["deadline"]))
    next_url = "/unit?" + urlencode({"after": page.next_cursor}) if page.next_cursor else None
    context = {"unit": unit, "due": due, "page": page, "next_url": next_url, "today": today}
    return render(request, "unit_home.html", context)


def report_form_context(request: Request, principal: Principal, case_id: int) -> dict[str, Any]:
    app = theodoi(request)
    case = case_for(request, principal, case_id)
    with app.db.session(write=False) as s:
        unit = pages.unit(s, case.unit_id)
        decision = pages.decision(s, case.decision_id)
    return {
        "case": case,
        "unit": unit,
        "decision": decision,
        "section_names": services.SECTIONS,
        "min_chars": min_chars(app),
        "max_mb": f"{max_mb(app):g}",
        "values": {},
        "errors": [],
        "open": takes_report(app, case),
        "can_request": can_request_extension(app, case),
        "extension_request": request_view((case.data or {}).get(EXTENSION_REQUEST)),
        "extension_errors": [],
    }


def request_view(item: dict[str, Any] | None) -> dict[str, Any] | None:
    """An extension request with its dates as dates (for the ``d`` filter)."""
    if not item:
        return None
    out = dict(item)
    for key in ("until", "deadline"):
        if out.get(key):
            out[key] = date.fromisoformat(str(out[key])[:10])
    return out


def can_request_extension(app: Any, case: Any) -> bool:
    """Whether the unit may ask for more time now: its state allows it and no request
    is open already."""
    if case.workflow not in app.registry or (case.data or {}).get(EXTENSION_REQUEST):
        return False
    wf = app.registry[case.workflow].workflow
    return wf.transition("request_extension", case.state) is not None


async def submit_extension_request(
    request: Request, principal: Principal, case_id: int, back: str, actor: str
) -> Response:
    """``request_extension`` with the unit's reason and proposed date; the clock runs
    on, the coordinators are told."""
    app = theodoi(request)
    lang = language(request)
    case = case_for(request, principal, case_id)
    form = await request.form()
    reason = str(form.get("reason") or "").strip()
    errors: list[str] = []
    try:
        until = parse_date(str(form.get("until") or ""), "until")
    except InvalidInput as exc:
        errors.append(exc.message)
        until = None
    if not reason:
        errors.append(i18n.gettext("extension.needs_reason", lang))
    if not errors:
        try:
            with app.db.session() as s:
                app.engine.fire(
                    s,
                    case.id,
                    "request_extension",
                    actor=actor,
                    reason=reason,
                    params={"until": until},
                    expected_version=case.version,
                )
        except ConcurrentUpdate:
            errors.append(i18n.gettext("error.stale", lang))
        except TransitionNotAllowed as exc:
            errors.append(str(exc))
        except InvalidInput as exc:  # e.g. a date not after the current deadline
            errors.append(exc.message)
    if errors:
        context = report_form_context(request, principal, case_id)
        context.update(action=back, extension_errors=errors)
        return render(request, "report_form.html", context, status=400)
    flash(request, i18n.gettext("extension.sent", lang))
    return RedirectResponse(back, status_code=303)


def min_chars(app: Any) -> int:
    return int(getattr(app.config.web, "report_min_chars", 30))


def max_mb(app: Any) -> float:
    return float(getattr(app.config.web, "upload_max_mb", 10))


def show_report_form(request: Request, principal: Principal, case_id: int, action: str) -> Response:
    context = report_form_context(request, principal, case_id)
    context["action"] = action
    return render(request, "report_form.html", context)


async def submit_report(
    request: Request, principal: Principal, case_id: int, action: str, actor: str
) -> Response:
    """Check every section and the file; on success move the case to report_filed."""
    app = theodoi(request)
    lang = language(request)
    context = report_form_context(request, principal, case_id)
    context["action"] = action
    case = context["case"]
    form = await request.form()
    values = {k: str(form.get(k) or "") for k in services.SECTIONS}
    context["values"] = values
    errors: list[str] = []
    if not context["open"]:
        errors.append(i18n.gettext("report.not_due", lang))
    sections, short = services.check_sections(values, min_chars(app))
    for key in short:
        errors.append(
            i18n.gettext(
                "report.too_short",
                lang,
                section=i18n.gettext(f"report.{key}", lang),
                min=min_chars(app),
            )
        )
    upload = form.get("file")
    limit = int(max_mb(app) * 1024 * 1024)
    content = await upload.read(limit + 1) if hasattr(upload, "read") else b""
    checked = services.check_upload(getattr(upload, "filename", "") or "", content, limit)
    if isinstance(checked, str):
        errors.append(i18n.gettext(checked, lang, mb=f"{max_mb(app):g}"))
    try:
        version = int(str(form.get("version", "")))
    except ValueError:
        version = -1
    if not errors and version != case.version:
        errors.append(i18n.gettext("error.stale", lang))
    if not errors:
        try:
            with app.db.session() as s:
                services.file_report(
                    app, s, case.id, actor=actor, version=version, upload=checked, sections=sections
                )
        except ConcurrentUpdate:
            errors.append(i18n.gettext("error.stale", lang))
        except TransitionNotAllowed:
            errors.append(i18n.gettext("report.not_due", lang))
        except InvalidInput as exc:
            errors.append(exc.message)
    if errors:
        context["errors"] = errors
        return render(request, "report_form.html", context, status=400)
    flash(request, i18n.gettext("report.filed", lang))
    return RedirectResponse(
        action if principal.case_id is not None else f"/cases/{case.id}", status_code=303
    )


@router.post("/cases/{case_id}/extension", dependencies=[Depends(check_csrf)])
async def extension_submit(
    request: Request, case_id: int, principal: Principal = Depends(require("unit", *STAFF))
) -> Response:
    return await submit_extension_request(
        request, principal, case_id, f"/cases/{case_id}/report", f"user:{principal.email}"
    )


@router.get("/cases/{case_id}/report")
def report_form(
    request: Request, case_id: int, principal: Principal = Depends(require("unit", *STAFF))
) -> Response:
    return show_report_form(request, principal, case_id, f"/cases/{case_id}/report")


@router.post("/cases/{case_id}/report", dependencies=[Depends(check_csrf)])
async def report_submit(
    request: Request, case_id: int, principal: Principal = Depends(require("unit", *STAFF))
) -> Response:
    return await submit_report(
        request, principal, case_id, f"/cases/{case_id}/report", f"user:{principal.email}"
    )
