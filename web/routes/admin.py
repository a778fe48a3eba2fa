"""Admin pages: users, units, the working-day calendar, the installation check."""

from __future__ import annotations

import calendar as pycal
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

import storage.units
from engine import doctor, limits
from kernel.clock import local_date
from kernel.dates import parse_date
from kernel.errors import InvalidInput, NotFound, TheodoiError
from storage import calendar as calendar_store
from storage import pages
from storage import users as user_store
from storage.models import Unit
from web import i18n, services, users
from web.deps import Principal, check_csrf, flash, language, render, require, theodoi

router = APIRouter(include_in_schema=False)
admin_only = require("admin")


# -- users ------------------------------------------------------------------------------


def _users_page(request: Request, error: str | None = None, status: int = 200) -> Response:
    with theodoi(request).db.session(write=False) as s:
        rows = user_store.list_users(s)
        units = {u.id: u for u in pages.units(s)}
    context = {"rows": rows, "units": units, "roles": users.ROLES, "error": error}
    return render(request, "users.html", context, status=status)


@router.get("/admin/users")
def user_list(request: Request, principal: Principal = Depends(admin_only)) -> Response:
    return _users_page(request)


@router.post("/admin/users", dependencies=[Depends(check_csrf)])
async def user_add(request: Request, principal: Principal = Depends(admin_only)) -> Response:
    app = theodoi(request)
    form = await request.form()
    try:
        with app.db.session() as s:
            users.add_user(
                s,
                str(form.get("email") or ""),
                str(form.get("role") or ""),
                now=app.clock.now(),
                unit_code=str(form.get("unit") or "") or None,
                password=str(form.get("password") or ""),
                language=i18n.normalise(str(form.get("language") or "vi")),
            )
    except TheodoiError as exc:
        return _users_page(request, str(exc), status=400)
    flash(request, i18n.gettext("saved", language(request)))
    return RedirectResponse("/admin/users", status_code=303)


@router.post("/admin/users/{user_id}/active", dependencies=[Depends(check_csrf)])
async def user_active(
    request: Request, user_id: int, principal: Principal = Depends(admin_only)
) -> Response:
    app = theodoi(request)
    form = await request.form()
    with app.db.session() as s:
        user = user_store.user(s, user_id)
        if user is None:
            raise NotFound()
        if user.id == principal.id:  # an admin cannot lock themselves out
            return _users_page(request, "—", status=400)
        users.set_active(s, user, form.get("active") == "1")
    flash(request, i18n.gettext("saved", language(request)))
    return RedirectResponse("/admin/users", status_code=303)


# -- units ------------------------------------------------------------------------------


@router.get("/admin/units")
def unit_list(request: Request, principal: Principal = Depends(admin_only)) -> Response:
    with theodoi(request).db.session(write=False) as s:
        rows = pages.units(s)
    return render(request, "units.html", {"rows": rows, "error": None})


@router.post("/admin/units", dependencies=[Depends(check_csrf)])
async def unit_save(request: Request, principal: Principal = Depends(admin_only)) -> Response:
    app = theodoi(request)
    form = await request.form()
    code = str(form.get("code") or "").strip()
    name = str(form.get("name") or "").strip()
    email = str(form.get("email") or "").strip() or None
    head = str(form.get("head_email") or "").strip() or None
    problem = None
    if not code or not name:
        problem = "code, name: required"
    for value in (email, head):
        if value and "@" not in value:
            problem = f"'{value}' is not an e-mail address"
    try:
        limits.check_unit({"code": code, "name": name, "email": email, "head_email": head})
    except InvalidInput as exc:
        problem = str(exc)
    if problem:
        with app.db.session(write=False) as s:
            rows = pages.units(s)
        return render(request, "units.html", {"rows": rows, "error": problem}, status=400)
    with app.db.session() as s:
        unit = storage.units.unit_by_code(s, code) or Unit(code=code, name=name)
        unit.name, unit.email, unit.head_email = name, email, head
        pages.save_unit(s, unit)
    flash(request, i18n.gettext("saved", language(request)))
    return RedirectResponse("/admin/units", status_code=303)


# -- the calendar -----------------------------------------------------------------------


def _month_grid(
    year: int, month: int, cal: Any, overlay: dict[date, Any], lang: str
) -> list[list[dict]]:
    weeks = []
    for week in pycal.Calendar(firstweekday=0).monthdatescalendar(year, month):
        row = []
        for day in week:
            if day.month != month:
                row.append({"day": None})
                continue
            kind = "work"
            note = ""
            entry = overlay.get(day)
            off = cal.why_off(day)
            worked = cal.why_working(day)
            if entry is not None:
                kind, note = entry.kind, entry.source
            elif off is not None and off.kind in ("holiday", "swap"):
                kind, note = "holiday", off.label(lang)
            elif worked is not None:
                kind, note = "working", worked.label(lang)
            elif day.weekday() >= 5:
                kind = "off"
            if not cal.is_working_day(day) and kind == "work":
                kind = "off"
            row.append({"day": day, "kind": kind, "note": note})
        weeks.append(row)
    return weeks


def _calendar_page(
    request: Request,
    year: int,
    moved: list | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    app = theodoi(request)
    with app.db.session(write=False) as s:
        overlay_rows = calendar_store.days_in_year(s, year)
    overlay = {row.day: row for row in overlay_rows}
    with app.db.session(write=False) as s:
        app.engine.reload_calendar(s)
    cal = app.engine.calendar
    lang = language(request)
    months = [(m, _month_grid(year, m, cal, overlay, lang)) for m in range(1, 13)]
    # the package's holidays and swapped days off in the page's language, and the
    # Saturdays worked in exchange
    holidays = [
        (d, off.label(lang))
        for d in _days(year)
        if (off := cal.why_off(d)) and off.kind in ("holiday", "swap")
    ]
    makeup = [
        (d, w.label(lang)) for d in _days(year) if (w := cal.why_working(d)) and d not in overlay
    ]
    context = {
        "year": year,
        "provisional": not cal.year_confirmed(year),
        "makeup": makeup,
        "months": months,
        "overlay": overlay_rows,
        "holidays": holidays,
        "moved": moved,
        "error": error,
    }
    return render(request, "calendar.html", context, status=status)


def _days(year: int) -> list[date]:
    return [
        date.fromordinal(o)
        for o in range(date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal() + 1)
    ]


@router.get("/admin/calendar")
def calendar_page(
    request: Request, year: int | None = None, principal: Principal = Depends(admin_only)
) -> Response:
    app = theodoi(request)
    this_year = local_date(app.clock.now(), app.config.organisation.tz).year
    year = year if year and 1990 <= year <= 2100 else this_year
    return _calendar_page(request, year)


@router.post("/admin/calendar", dependencies=[Depends(check_csrf)])
async def calendar_change(request: Request, principal: Principal = Depends(admin_only)) -> Response:
    """Add (or remove) a closure or make-up day, then move the deadlines it touches."""
    app = theodoi(request)
    form = await request.form()
    actor = f"user:{principal.email}"
    try:
        day = parse_date(str(form.get("day") or ""), "day")
        with app.db.session() as s:
            if form.get("remove"):
                services.remove_calendar_day(s, day)
            else:
                services.set_calendar_day(
                    s,
                    day,
                    str(form.get("kind") or ""),
                    str(form.get("source") or ""),
                    app.clock.now(),
                )
            moved = services.recalculate_deadlines(app, actor, s)
    except InvalidInput as exc:
        with app.db.session(write=False) as s:
            app.engine.reload_calendar(s)
        year = local_date(app.clock.now(), app.config.organisation.tz).year
        return _calendar_page(request, year, error=f"{exc.field}: {exc.message}", status=400)
    return _calendar_page(request, day.year, moved=moved)


# -- the installation check (`theodoi doctor`) ------------------------------------------


@router.get("/admin/doctor")
def doctor_page(request: Request, principal: Principal = Depends(admin_only)) -> Response:
    app = theodoi(request)
    checks = doctor.run_checks(app.config, app.clock)
    status = doctor.exit_status(checks)
    context = {"checks": checks, "lang": language(request), "status": status}
    return render(request, "doctor.html", context)
