"""``/r/{token}``: the signed, expiring link from a reminder e-mail opens that one case's
report form without a password; anything else about the visitor stays anonymous."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

import storage.cases
from notifications import links
from web import i18n
from web.deps import Principal, check_csrf, language, render, theodoi
from web.routes.unit import show_report_form, submit_extension_request, submit_report
from web.secret import web_secret

router = APIRouter(include_in_schema=False)


def link_principal(request: Request, token: str) -> Principal | None:
    """A visitor limited to the link's case, or None when the link is bad or expired."""
    app = theodoi(request)
    max_age = app.config.web.link_days * 86400
    try:
        case_id = links.verify_case_link(web_secret(app), token, max_age, app.clock.now())
    except links.InvalidLink:
        return None
    with app.db.session(write=False) as s:
        case = storage.cases.get_case(s, case_id)
    if case is None:
        return None
    return Principal(None, f"link:{case_id}", "unit", case.unit_id, case_id=case_id)


def refused(request: Request) -> Response:
    lang = language(request)
    context = {
        "title": i18n.gettext("link.refused_title", lang),
        "message": i18n.gettext("link.refused", lang),
        "back": None,
    }
    return render(request, "error.html", context, status=403)


@router.get("/r/{token}")
def link_form(request: Request, token: str) -> Response:
    principal = link_principal(request, token)
    if principal is None:
        return refused(request)
    request.state.principal = principal
    return show_report_form(request, principal, principal.case_id, f"/r/{token}")


@router.post("/r/{token}", dependencies=[Depends(check_csrf)])
async def link_submit(request: Request, token: str) -> Response:
    principal = link_principal(request, token)
    if principal is None:
        return refused(request)
    request.state.principal = principal
    return await submit_report(
        request, principal, principal.case_id, f"/r/{token}", f"link:unit:{principal.unit_id}"
    )


@router.post("/r/{token}/extension", dependencies=[Depends(check_csrf)])
async def link_extension(request: Request, token: str) -> Response:
    """The unit asks for more time from the link in its reminder."""
    principal = link_principal(request, token)
    if principal is None:
        return refused(request)
    request.state.principal = principal
    return await submit_extension_request(
        request, principal, principal.case_id, f"/r/{token}", f"link:unit:{principal.unit_id}"
    )
