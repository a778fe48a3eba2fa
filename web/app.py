"""The web application factory: ``create_app(app, probes)`` serves one engine App.

Routes are split by audience (web/routes/*); every route states the roles it serves.
Refusals raised anywhere become the right answer here: a redirect to the login page,
403, or 404 as an HTML page, or the same status as JSON under /api/.

``/healthz``, ``/readyz`` and ``/metrics`` answer from the probes the edge passes in;
``probe_app(probes)`` is those three routes alone (a worker's metrics port).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException

from engine.app import App
from kernel.clock import ManualClock
from kernel.errors import (
    ConcurrentUpdate,
    CsrfFailed,
    Forbidden,
    LoginRequired,
    NotFound,
    TransitionNotAllowed,
)
from web import i18n
from web.deps import build_environment, language, render
from web.headers import SecurityHeadersMiddleware
from web.limits import ids_in_range
from web.routes import (
    admin,
    api,
    api_docs,
    auth,
    cases,
    coordinator,
    health,
    leader,
    links,
    mail,
    notices,
    unit,
)
from web.routes.health import DatabaseProbes, Probes
from web.secret import web_secret
from web.security import LoginLimiter, SessionCodec, SessionMiddleware, configure_passwords

STATIC = Path(__file__).resolve().parent / "static"


def create_app(app: App, probes: Probes | None = None) -> FastAPI:
    """The FastAPI application for ``app`` (config, database, clock, engine).

    ``probes`` answer ``/readyz`` and ``/metrics`` (the edge's metrics); without them
    (tests) ``/readyz`` only asks the database and ``/metrics`` is empty.
    """
    web = FastAPI(
        title="theodoi API",
        version="1",
        description=(
            "Cases, their history and compliance reports of the Department of Foreign "
            "Affairs. Authenticate with `Authorization: Bearer <token>` "
            "(`theodoi user token EMAIL`); a unit's token sees only that unit's cases."
        ),
        docs_url=None,  # web/routes/api_docs.py serves both, to signed-in users only
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(ids_in_range)],
    )
    configure_passwords(app.config.web)
    hours = app.config.web.session_hours
    codec = SessionCodec(web_secret(app), app.clock, timedelta(hours=hours))
    web.state.theodoi = app
    web.state.probes = probes or DatabaseProbes(app.db)
    web.state.codec = codec
    web.state.limiter = LoginLimiter(app.clock.now)
    web.state.jinja = build_environment()
    web.state.manual_clock = isinstance(app.clock, ManualClock)
    web.add_middleware(
        SessionMiddleware,
        codec=codec,
        max_age_s=int(hours * 3600),
        secure=app.config.web.secure_cookies,
    )
    web.add_middleware(SecurityHeadersMiddleware, hsts=app.config.web.hsts)  # outermost
    web.mount("/static", StaticFiles(directory=STATIC), name="static")
    for module in (
        health,
        auth,
        coordinator,
        cases,
        notices,
        unit,
        leader,
        admin,
        links,
        mail,
        api,
        api_docs,
    ):
        web.include_router(module.router)
    _install_error_pages(web)
    return web


def probe_app(probes: Probes) -> FastAPI:
    """Only ``/healthz``, ``/readyz`` and ``/metrics``: what a worker serves on its
    metrics port, with the same handlers as the web app."""
    web = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    web.state.probes = probes
    web.include_router(health.router)
    return web


def _is_api(request: Request) -> bool:
    """JSON answers (the API); the API's documentation pages are pages."""
    path = request.url.path
    return path.startswith("/api/") and not path.startswith("/api/docs")


def _error_page(
    request: Request,
    status: int,
    key: str,
    back: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    lang = language(request)
    if _is_api(request):
        return JSONResponse(
            {"detail": i18n.gettext(key, "en")}, status_code=status, headers=headers
        )
    context = {
        "title": i18n.gettext("error.title", lang),
        "message": i18n.gettext(key, lang),
        "back": back,
    }
    response = render(request, "error.html", context, status=status)
    response.headers.update(headers or {})
    return response


def _install_error_pages(web: FastAPI) -> None:
    @web.exception_handler(LoginRequired)
    def _login(request: Request, _exc: LoginRequired) -> Response:
        if _is_api(request):
            return JSONResponse(
                {"detail": "authentication required"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=302)

    @web.exception_handler(Forbidden)
    def _forbidden(request: Request, _exc: Forbidden) -> Response:
        return _error_page(request, 403, "error.403")

    @web.exception_handler(NotFound)
    def _not_found(request: Request, _exc: NotFound) -> Response:
        return _error_page(request, 404, "error.404")

    @web.exception_handler(CsrfFailed)
    def _csrf(request: Request, _exc: CsrfFailed) -> Response:
        return _error_page(request, 403, "error.csrf", back=request.headers.get("referer"))

    @web.exception_handler(ConcurrentUpdate)
    def _stale(request: Request, exc: ConcurrentUpdate) -> Response:
        return _error_page(request, 409, "error.stale", back=f"/cases/{exc.case_id}")

    @web.exception_handler(TransitionNotAllowed)
    def _not_allowed(request: Request, exc: TransitionNotAllowed) -> Response:
        return _error_page(request, 409, "error.not_allowed", back=f"/cases/{exc.case_id}")

    @web.exception_handler(StarletteHTTPException)
    def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if _is_api(request) or exc.status_code not in (403, 404, 405):
            return JSONResponse(
                {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
            )
        key = "error.404" if exc.status_code in (404, 405) else "error.403"
        return _error_page(request, exc.status_code, key, headers=exc.headers)

    @web.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if _is_api(request):
            return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
        lang = language(request)
        fields = ", ".join(str(e["loc"][-1]) for e in exc.errors())
        context = {"title": i18n.gettext("error.title", lang), "message": fields, "back": None}
        return render(request, "error.html", context, status=422)
