"""The outbox as coordinators see it: filters, a preview of every message, approve or
hold letters, resend failed ones, and what goes out on the next working day."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

import storage.outbox
from kernel.clock import end_of_day, local_date
from kernel.errors import NotFound, TheodoiError
from notifications import approval
from notifications.context import notice_context
from notifications.render import Renderer
from notifications.store import OutboxStateError
from storage import pages
from storage.models import OutboxMessage
from web import i18n
from web.deps import (
    READERS,
    STAFF,
    Principal,
    check_csrf,
    flash,
    language,
    render,
    require,
    theodoi,
)

router = APIRouter(include_in_schema=False)

STATUSES = ("pending", "held", "sending", "sent", "parked", "withdrawn", "superseded", "failed")


@router.get("/notices")
def notice_list(
    request: Request,
    status: str = "",
    kind: str = "",
    principal: Principal = Depends(require(*READERS)),
) -> Response:
    app = theodoi(request)
    with app.db.session(write=False) as s:
        rows = pages.notices(s, status=status or None, kind=kind or None, limit=300)
        counts = storage.outbox.outbox_status_counts(s)
        kinds = pages.notice_kinds(s)
    context = {
        "rows": rows,
        "counts": counts,
        "statuses": STATUSES,
        "kinds": kinds,
        "status": status,
        "kind": kind,
    }
    return render(request, "notices.html", context)


@router.get("/notices/tomorrow")
def tomorrow(request: Request, principal: Principal = Depends(require(*READERS))) -> Response:
    """Messages that will leave by the end of the next working day, and the timers
    that will fire by then (each may add a message)."""
    app = theodoi(request)
    tz = app.config.organisation.tz
    now = app.clock.now()
    next_day = app.engine.calendar.next_working_day(local_date(now, tz) + timedelta(days=1))
    until = end_of_day(next_day, tz)
    with app.db.session(write=False) as s:
        messages = pages.notices(s, statuses=("pending", "held"), due_before=until, limit=500)
        timers = pages.timers_due_before(s, until, limit=500)
    context = {"messages": messages, "timers": timers, "day": next_day}
    return render(request, "notices_tomorrow.html", context)


def preview(app: Any, message: OutboxMessage, now: datetime) -> dict[str, Any]:
    """Subject, text and HTML of a message as it would go out now (or the error)."""
    try:
        row = message.model_dump()
        ctx = notice_context(
            row,
            app.config,
            now,
            app.engine.calendar,
            link=f"{app.config.organisation.base_url}/r/…",
        )
        rendered = Renderer(app.config.notifications.template_dir or None).render(
            message.kind, message.language, ctx
        )
    except TheodoiError as exc:
        return {"error": str(exc)}
    return {"subject": rendered.subject, "text": rendered.text, "html": rendered.html}


@router.get("/notices/{message_id}")
def notice_page(
    request: Request, message_id: int, principal: Principal = Depends(require(*READERS))
) -> Response:
    app = theodoi(request)
    # As when it leaves (truth at send time): a notice no longer true is withdrawn,
    # with its reason, rather than previewed as if it would go.
    with contextlib.suppress(NotFound):
        approval.recheck(app.db, message_id, app.clock.now())
    with app.db.session(write=False) as s:
        message = pages.notice(s, message_id)
    if message is None:
        raise NotFound()
    context = {"m": message, "preview": preview(app, message, app.clock.now())}
    return render(request, "notice.html", context)


ACTIONS = ("approve", "hold", "resend")


@router.post("/notices/{message_id}/{action}", dependencies=[Depends(check_csrf)])
def notice_action(
    request: Request,
    message_id: int,
    action: str,
    principal: Principal = Depends(require(*STAFF)),
) -> Response:
    """Approve a held letter, hold a pending notice, send a failed one again
    (notifications.approval does it and writes it in the case's history)."""
    if action not in ACTIONS:
        raise NotFound()
    app = theodoi(request)
    actor, now = f"user:{principal.email}", app.clock.now()
    lang = language(request)
    try:
        if action == "approve":
            approval.approve(
                app.db, app.config, message_id, actor, now, calendar=app.engine.calendar
            )
        elif action == "hold":
            approval.hold(app.db, message_id, actor, now)
        else:
            approval.resend(
                app.db, app.config, message_id, actor, now, calendar=app.engine.calendar
            )
    except NotFound as exc:
        raise NotFound() from exc
    except OutboxStateError as exc:
        flash(request, f"{i18n.gettext('error.title', lang)}: {exc}")
    else:
        flash(request, i18n.gettext("saved", lang))
    return RedirectResponse(f"/notices/{message_id}", status_code=303)
