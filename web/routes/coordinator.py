"""Coordinator pages: dashboard, new decision, import, and the demo clock."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from engine.cycle import run_cycle
from kernel.clock import local_date
from kernel.dates import parse_date
from kernel.errors import InvalidInput, NotFound, TheodoiError
from notifications import store as notice_store
from notifications.smtp import deliver_due
from storage import pages
from web import i18n, importing, services
from web.deps import (
    READERS,
    STAFF,
    Principal,
    check_csrf,
    codec,
    flash,
    language,
    render,
    require,
    theodoi,
)
from web.routes.auth import safe_next
from web.routes.unit import request_view
from workflows.decision import ISSUER
from workflows.obligation import EXTENSION_REQUEST
from workflows.trip import CATEGORY, PURPOSE
from workflows.trip_passport import PASSPORT

router = APIRouter(include_in_schema=False)

# The dashboard's lists, by state tags: cases past their deadline (late), and those
# waiting for a report (due, where a report is filed: a trip's or an obligation's).

TRAVELLER_FIELDS = (
    "name",
    "position",
    "unit",
    "category",
    "destinations",  # keep name: the form field, not the column
    "purpose",
    "passport",
    "email",
    "departure",
    "return",
)


@router.get("/dashboard")
def dashboard(request: Request, principal: Principal = Depends(require(*READERS))) -> Response:
    app = theodoi(request)
    today = local_date(app.clock.now(), app.config.organisation.tz)
    horizon = app.engine.calendar.add_working_days(today, 10)
    with app.db.session(write=False) as s:
        counts = pages.state_counts(s)
        late = pages.late_cases(s, app.registry.states_tagged("late"))
        waiting = app.registry.states_tagged("due", event="file")
        upcoming = pages.upcoming_deadlines(s, waiting, today, horizon)
        escalated = pages.cases_in_state(s, app.registry.states_tagged("escalated"), limit=50)
        notices = pages.notices(s, statuses=("failed", "held", "parked"), limit=50)
        extension_requests = pages.extension_requests(s, EXTENSION_REQUEST)
    mail_server = notice_store.server_state(app.db)  # the sender's breaker (any process)
    now_of = notice_store.current_states(app.db, (m.case_id for m in notices))
    states = {
        name: list(app.registry[name].workflow.states) for name in counts if name in app.registry
    }
    context = {
        "counts": counts,
        "states": states,
        "late": late,
        "upcoming": upcoming,
        "escalated": escalated,
        "problem_notices": notices,
        "extension_requests": [
            {**row, "request": request_view(row["request"])} for row in extension_requests
        ],
        "mail_down": mail_server if mail_server and mail_server["down_since"] else None,
        "case_now": now_of,
        "today": today,
        "horizon": horizon,
    }
    return render(request, "dashboard.html", context)


# -- a decision with several travellers -------------------------------------------------


def _decision_context(
    request: Request, rows: int, values: dict[str, Any] | None = None, error: str | None = None
) -> dict[str, Any]:
    app = theodoi(request)
    with app.db.session(write=False) as s:
        units = pages.units(s)
    return {
        "rows": max(1, min(rows, 30)),
        "units": units,
        "issuers": ISSUER.values,
        "categories": CATEGORY.values,
        "purposes": PURPOSE.values,
        "passports": PASSPORT.values,
        "values": values or {},
        "error": error,
    }


@router.get("/decisions/new")
def decision_form(
    request: Request, rows: int = 2, principal: Principal = Depends(require(*STAFF))
) -> Response:
    return render(request, "decision_new.html", _decision_context(request, rows))


@router.post("/decisions/new", dependencies=[Depends(check_csrf)])
async def decision_create(
    request: Request, principal: Principal = Depends(require(*STAFF))
) -> Response:
    app = theodoi(request)
    form = await request.form()
    values = {k: str(v) for k, v in form.items() if isinstance(v, str)}
    try:
        rows = int(values.get("rows", "2") or 2)
    except ValueError:
        rows = 2
    if values.get("more"):  # "add a traveller": show the form again, one block more
        return render(request, "decision_new.html", _decision_context(request, rows + 1, values))
    travellers = []
    for i in range(max(1, min(rows, 30))):
        t = {f: values.get(f"t{i}_{f}", "").strip() for f in TRAVELLER_FIELDS}
        if t["name"]:
            travellers.append(t)
    try:
        decided_on = parse_date(values.get("decided_on"), "decided_on")
        with app.db.session() as s:
            cases = services.create_decision(
                app,
                s,
                number=values.get("number", ""),
                decided_on=decided_on,
                issuer=values.get("issuer", ""),
                travellers=travellers,
                actor=f"user:{principal.email}",
            )
    except InvalidInput as exc:
        context = _decision_context(request, rows, values, f"{exc.field}: {exc.message}")
        return render(request, "decision_new.html", context, status=400)
    flash(request, i18n.gettext("decision.saved", language(request), n=len(cases)))
    number = values.get("number", "").strip()
    return RedirectResponse(f"/cases?decision={number}&sort=name", status_code=303)


# -- import -------------------------------------------------------------------------------


@router.get("/import")
def import_form(request: Request, principal: Principal = Depends(require(*STAFF))) -> Response:
    return render(request, "import.html", importing._context())


@router.post("/import", dependencies=[Depends(check_csrf)])
async def import_upload(
    request: Request, principal: Principal = Depends(require(*STAFF))
) -> Response:
    """Upload: store the file and check it in the background (nothing written);
    confirm: import it in the background. Either way the page follows the job."""
    app = theodoi(request)
    form = await request.form()
    actor = f"user:{principal.email}"
    if form.get("confirm"):
        context = importing.confirm(app, form, request.session, actor)
    else:
        context = await importing.upload(app, form, request.session, actor)
    if context.get("error"):
        return render(request, "import.html", context, status=400)
    return RedirectResponse(f"/import/{context['token']}", status_code=303)


@router.get("/import/{token}")
def import_job(
    request: Request, token: str, principal: Principal = Depends(require(*STAFF))
) -> Response:
    """The job of this session's upload: a progress bar while it runs (the page
    reloads itself), then the validation table, the problems, or the result."""
    context = importing.job_context(token, request.session)
    if context is None:
        raise NotFound()
    if context.get("done") is not None:
        importing.discard(token)
        request.session.pop("import_token", None)
        flash(request, i18n.gettext("import.done", language(request), n=context["done"]))
        return RedirectResponse("/cases", status_code=303)
    return render(request, "import.html", context)


# -- the demo clock ---------------------------------------------------------------------


@router.post("/dev/tick", dependencies=[Depends(check_csrf)])
async def tick(request: Request, principal: Principal = Depends(require(*STAFF))) -> Response:
    """Move a ManualClock forward and fire what fell due (demos and browser tests only;
    with the system clock this route does not exist)."""
    app = theodoi(request)
    if not request.app.state.manual_clock:
        raise NotFound()
    form = await request.form()
    try:
        days = max(0, min(int(str(form.get("days") or "0")), 400))
    except ValueError:
        days = 0
    app.clock.advance(timedelta(days=days))
    lines = run_due(app, language(request))
    request.session["exp"] = codec(request).expiry()  # the jump must not log us out
    flash(request, i18n.gettext("dash.ticked", language(request), days=days, summary=lines))
    return RedirectResponse(_same_site(request.headers.get("referer")), status_code=303)


def _same_site(referer: str | None) -> str:
    """The path of the page the form was on (never another site)."""
    if not referer:
        return "/dashboard"
    parts = urlsplit(referer)
    return safe_next(parts.path + (f"?{parts.query}" if parts.query else ""), "/dashboard")


def run_due(app: Any, lang: str = i18n.DEFAULT) -> str:
    """Fire due timers, then deliver due notices: the engine's one step."""
    try:
        done = run_cycle(app, deliver_due)
    except TheodoiError as exc:
        return i18n.gettext("tick.send_failed", lang, error=exc)
    summary = i18n.gettext("tick.fired", lang, n=done.swept.fired)
    sent = done.delivered
    if sent is None:
        return summary
    if sent.window_closed:
        return f"{summary}; {i18n.gettext('tick.window_closed', lang)}"
    counts = {k: getattr(sent, k) for k in ("sent", "retried", "failed", "parked")}
    return f"{summary}; {i18n.gettext('tick.sent', lang, **counts)}"
