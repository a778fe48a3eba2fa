"""Request plumbing shared by every route: the current user, role checks, CSRF, rendering.

Every route states the roles it serves through :func:`require`; nothing is decided by
what a page happens to show. Refusals are exceptions the app turns into the right
answer: a redirect to the login page (HTML) or 401 (API), 403, or 404.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

import storage.cases
from kernel.errors import CsrfFailed, Forbidden, LoginRequired, NotFound
from kernel.text import name_key
from storage import pages
from storage import users as user_store
from storage.models import Case, User
from web import i18n
from web.limits import MAX_ID
from web.security import CSRF_FIELD, LANG_COOKIE, SessionCodec, csrf_ok, csrf_token

TEMPLATES = Path(__file__).resolve().parent / "templates"

ROLES = ("admin", "coordinator", "unit", "leader")
STAFF = ("admin", "coordinator")  # those who do the work
READERS = ("admin", "coordinator", "leader")  # those who read everything


@dataclass(frozen=True)
class Principal:
    """The user a request acts for. ``case_id`` limits a signed-link visitor to one case."""

    id: int | None
    email: str
    role: str
    unit_id: int | None
    language: str = "vi"
    case_id: int | None = None

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF

    @property
    def reads_all(self) -> bool:
        return self.role in READERS

    @classmethod
    def of(cls, user: User) -> Principal:
        return cls(user.id, user.email, user.role, user.unit_id, user.language or "vi")


def theodoi(request: Request) -> Any:
    """The engine's App this web app serves."""
    return request.app.state.theodoi


def codec(request: Request) -> SessionCodec:
    return request.app.state.codec


def language(request: Request) -> str:
    return i18n.normalise(request.cookies.get(LANG_COOKIE))


def load_principal(request: Request) -> Principal | None:
    cached = getattr(request.state, "principal", ...)
    if cached is not ...:
        return cached
    principal = None
    uid = request.session.get("uid")
    if isinstance(uid, int) and 0 < uid <= MAX_ID:
        with theodoi(request).db.session(write=False) as s:
            user = user_store.active_user(s, uid)
        # a session started before the account's last logout, password, role change or
        # deactivation carries an older epoch: it has ended
        if user is not None and request.session.get("gen") == user.session_epoch:
            principal = Principal.of(user)
    request.state.principal = principal
    return principal


def require(*roles: str) -> Callable[[Request], Principal]:
    """A dependency: the logged-in user, who must have one of ``roles``."""

    def dependency(request: Request) -> Principal:
        principal = load_principal(request)
        if principal is None:
            raise LoginRequired()
        if principal.role not in roles:
            raise Forbidden()
        return principal

    return dependency


async def check_csrf(request: Request) -> None:
    """A dependency for every form POST: the session's token must come back."""
    form = await request.form()
    if not csrf_ok(request.session, form.get(CSRF_FIELD)):
        raise CsrfFailed()


def case_for(request: Request, principal: Principal, case_id: int) -> Case:
    """The case, if this principal may see it; 404 otherwise (never 403: no leak)."""
    with theodoi(request).db.session(write=False) as s:
        case = storage.cases.get_case(s, case_id)
    if case is None or not may_see(principal, case):
        raise NotFound()
    return case


def may_see(principal: Principal, case: Case) -> bool:
    if principal.case_id is not None:
        return case.id == principal.case_id
    if principal.reads_all:
        return True
    return (
        principal.role == "unit"
        and principal.unit_id is not None
        and (case.unit_id == principal.unit_id)
    )


def case_filter(request: Request, principal: Principal, **fields: Any) -> pages.CaseFilter:
    """The case list's filter for this principal: a unit user's list is limited to the
    unit's own cases (none when the account has no unit); ``q`` also matches names by
    their identity key."""
    flt = pages.CaseFilter(known_workflows=tuple(theodoi(request).registry.names()), **fields)
    if flt.q and flt.q.strip():
        flt.q_key = name_key(flt.q.strip())
    if principal.role == "unit":
        flt.only_unit = principal.unit_id if principal.unit_id is not None else -1
    return flt


# -- rendering ----------------------------------------------------------------------


def build_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,  # every template, whatever its extension
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["d"] = i18n.short_date
    env.filters["urlq"] = lambda v: quote(str(v), safe="")
    return env


def render(
    request: Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> HTMLResponse:
    lang = language(request)
    app = theodoi(request)
    tz = app.config.organisation.tz
    values: dict[str, Any] = {
        "request": request,
        "lang": lang,
        "_": partial(i18n.gettext, lang=lang),
        "label": partial(i18n.label, lang=lang),
        "phase": app.registry.phase,  # a state's phase (state tags): the badge's class
        "long_date": partial(i18n.long_date, lang=lang),
        "dt": partial(i18n.local_datetime, tz=tz),
        "user": load_principal(request),
        "csrf_field": CSRF_FIELD,
        "csrf": csrf_token(request.session, codec(request)),
        "org": app.config.organisation,
        "manual_clock": request.app.state.manual_clock,
        "now_local": i18n.local_datetime(app.clock.now(), tz),
        "path": request.url.path,
        "flash": request.session.pop("flash", None),
    }
    values.update(context or {})
    html = request.app.state.jinja.get_template(template).render(values)
    return HTMLResponse(html, status_code=status)


def flash(request: Request, message: str) -> None:
    """A one-time message shown on the next page."""
    request.session["flash"] = message
