"""Log in, log out, switch language, and send each role to its home page."""

from __future__ import annotations

import math

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from engine import alerts
from storage import users as user_store
from web import i18n, users
from web.deps import check_csrf, codec, language, load_principal, render, theodoi
from web.security import LANG_COOKIE, client_address, start_session, verify_or_waste

router = APIRouter()

HOME = {"admin": "/dashboard", "coordinator": "/dashboard", "leader": "/dashboard", "unit": "/unit"}


def safe_next(target: str | None, default: str = "/") -> str:
    """Only a path on this site (no scheme, no //host): no open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return default


@router.get("/", include_in_schema=False)
def home(request: Request) -> Response:
    principal = load_principal(request)
    if principal is None:
        return RedirectResponse("/login", status_code=302)
    if principal.case_id is not None:
        return RedirectResponse(f"/cases/{principal.case_id}/report", status_code=302)
    return RedirectResponse(HOME[principal.role], status_code=302)


@router.get("/login", include_in_schema=False)
def login_form(request: Request, next: str = "/") -> Response:
    error = None
    if request.scope.get("session_expired"):
        error = i18n.gettext("login.expired", language(request))
    return render(request, "login.html", {"next": safe_next(next), "email": "", "error": error})


@router.post("/login", include_in_schema=False, dependencies=[Depends(check_csrf)])
def login(
    request: Request,
    email: str = Form(""),
    password: str = Form(""),
    next: str = Form("/"),
) -> Response:
    app = theodoi(request)
    limiter = request.app.state.limiter
    lang = language(request)
    address = client_address(
        request.client.host if request.client else None,
        request.headers.get("x-forwarded-for"),
        app.config.web.trusted_proxies,
    )
    email = email.strip().lower()
    wait = limiter.wait(email, address)
    if wait is not None:
        minutes = max(1, math.ceil(wait.total_seconds() / 60))
        message = i18n.gettext("login.limited", lang, minutes=minutes)
        context = {"next": safe_next(next), "email": email, "error": message}
        return render(request, "login.html", context, status=429)
    with app.db.session(write=False) as s:
        user = users.find_user(s, email)
    known = user is not None and user.active
    if not verify_or_waste(user.password_hash if known else None, password) or not known:
        if limiter.failed(email, address):  # it has just locked the account: tell someone
            minutes = int(limiter.window.total_seconds() // 60)
            alerts.account_locked(app, email, known=known, address=address, minutes=minutes)
        context = {
            "next": safe_next(next),
            "email": email,
            "error": i18n.gettext("login.failed", lang),
        }
        return render(request, "login.html", context, status=401)
    limiter.succeeded(email, address)
    start_session(request.session, codec(request), user.id, user.session_epoch)
    default = "/unit" if user.role == "unit" else "/dashboard"
    target = safe_next(next, default)
    return RedirectResponse(default if target == "/" else target, status_code=303)


@router.post("/logout", include_in_schema=False, dependencies=[Depends(check_csrf)])
def logout(request: Request) -> Response:
    """Ends every session of the user (a copied cookie too), then this one."""
    principal = load_principal(request)
    if principal is not None and principal.id is not None and principal.case_id is None:
        with theodoi(request).db.session() as s:
            user_store.end_sessions(s, principal.id)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/lang/{code}", include_in_schema=False)
def switch_language(request: Request, code: str, next: str = "/") -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    response.set_cookie(
        LANG_COOKIE,
        i18n.normalise(code),
        max_age=365 * 86400,
        httponly=True,
        samesite="lax",
        secure=theodoi(request).config.web.secure_cookies,
    )
    return response
