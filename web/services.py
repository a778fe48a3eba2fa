"""What the web pages change, each through the engine's public API and one transaction:
creating a decision with its travellers, filing a report with its file, outbox
approvals, and recalculating deadlines after an admin changes the calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from engine import creation
from kernel.clock import local_date
from kernel.countries import parse_countries
from kernel.dates import parse_date
from kernel.errors import InvalidInput
from storage import calendar as calendar_store
from storage import pages
from storage.db import Session
from storage.models import Case
from workflows.decision import ISSUER
from workflows.trip import CATEGORY, PURPOSE

# -- report submission ----------------------------------------------------------------

SECTIONS = ("programme", "results", "commitments", "recommendations", "cost")
FILE_TYPES = {
    ".pdf": ("application/pdf", (b"%PDF-",)),
    ".docx": (
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        (b"PK\x03\x04",),
    ),
    ".doc": ("application/msword", (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",)),
    ".odt": ("application/vnd.oasis.opendocument.text", (b"PK\x03\x04",)),
}


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    content: bytes


def check_upload(filename: str, content: bytes, max_bytes: int) -> Upload | str:
    """The upload, or the message key of what is wrong with it (type checked by its
    extension and its first bytes, so a renamed executable is refused)."""
    if not filename or not content:
        return "report.file_missing"
    name = filename.replace("\\", "/").rsplit("/", 1)[-1][:200]
    ext = "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if ext not in FILE_TYPES:
        return "report.file_type"
    content_type, magics = FILE_TYPES[ext]
    if not any(content.startswith(m) for m in magics):
        return "report.file_type"
    if len(content) > max_bytes:
        return "report.file_size"
    return Upload(name, content_type, content)


def check_sections(form: dict[str, str], min_chars: int) -> tuple[dict[str, str], list[str]]:
    """(cleaned sections, names of the sections that are too short)."""
    sections = {key: (form.get(key) or "").strip() for key in SECTIONS}
    short = [key for key, text in sections.items() if len(text) < min_chars]
    return sections, short


def file_report(
    app: Any,
    session: Session,
    case_id: int,
    *,
    actor: str,
    version: int,
    upload: Upload,
    sections: dict[str, str] | None = None,
    on: date | None = None,
) -> Case:
    """Move the case to report_filed and keep the file with the 'file' event."""
    now = app.clock.now()
    if on is None:
        on = local_date(now, app.config.organisation.tz)
    params: dict[str, Any] = {"on": on, "file": upload.filename}
    if sections:
        params["sections"] = sections
    case = app.engine.fire(
        session, case_id, "file", actor=actor, params=params, expected_version=version
    )
    event = pages.latest_event(session, case_id, "file")
    pages.add_attachment(
        session,
        {
            "case_id": case_id,
            "event_id": event.id if event else None,
            "filename": upload.filename,
            "content_type": upload.content_type,
            "size": len(upload.content),
            "content": upload.content,
            "uploaded_by": actor,
            "uploaded_at": now,
        },
    )
    return case


def latest_sections(session: Session, case_id: int) -> dict[str, str] | None:
    """The sections of the case's latest filed report, if it was filed with them."""
    event = pages.latest_event(session, case_id, "file")
    if event is None:
        return None
    sections = (event.data or {}).get("sections")
    return sections if isinstance(sections, dict) else None


# -- a decision with several travellers --------------------------------------------------
# Its choices are the trip workflow's vocabularies (issuer, category, purpose); dates
# and countries are read by the kernel's parsers, as the CLI and the import read them.


def create_decision(
    app: Any,
    session: Session,
    *,
    number: str,
    decided_on: date,
    issuer: str,
    travellers: list[dict[str, str]],
    actor: str,
) -> list[Case]:
    """One decision and one trip case per traveller, all in the caller's transaction,
    through the creation path every trip takes (engine/creation.py): each opened as of
    the decision day and caught up to now, with only the notice that fits it now."""
    number = number.strip()
    if not number:
        raise InvalidInput("decision_number", "is required")
    issuer = creation.term(ISSUER, issuer)
    if not travellers:
        raise InvalidInput("travellers", "at least one traveller is needed")
    prepared = []
    for index, t in enumerate(travellers, start=1):
        where = f"traveller {index}"
        unit_id = creation.unit_id(session, t.get("unit") or "", f"{where}: unit")
        category = creation.term(CATEGORY, t.get("category") or "unit", f"{where}: category")
        purpose = creation.term(PURPOSE, t.get("purpose") or "official", f"{where}: purpose")
        departure = parse_date(t.get("departure"), f"{where}: departure")
        arrival = parse_date(t.get("return"), f"{where}: return")
        countries = parse_countries(t.get("destinations"), f"{where}: destinations")  # keep name: form field
        email = (t.get("email") or "").strip() or None
        if email and "@" not in email:
            raise InvalidInput(f"{where}: email", f"'{email}' is not an e-mail address")
        prepared.append(
            creation.Traveller(
                name=" ".join(t["name"].split()),
                unit_id=unit_id,
                category=category,
                country_codes=",".join(countries),
                purpose=purpose,
                departure=departure,
                return_=arrival,
                position=(t.get("position") or "").strip() or None,
                email=email,
                passport=(t.get("passport") or "").strip() or None,  # checked by creation
            )
        )
    return creation.open_trips(
        app.engine,
        session,
        number=number,
        decided_on=decided_on,
        issuer=issuer,
        travellers=prepared,
        actor=actor,
    )


# -- calendar changes ---------------------------------------------------------------------


@dataclass(frozen=True)
class MovedDeadline:
    case_id: int
    name: str
    old: date
    new: date


def set_calendar_day(session: Session, day: date, kind: str, source: str, now: datetime) -> None:
    if kind not in ("closure", "working"):
        raise InvalidInput("kind", f"'{kind}' is not closure or working")
    if not source.strip():
        raise InvalidInput("source", "say where the change comes from (a decision, a notice)")
    calendar_store.set_day(session, day, kind, source.strip()[:255], now)


def remove_calendar_day(session: Session, day: date) -> None:
    calendar_store.remove_day(session, day)


def recalculate_deadlines(app: Any, actor: str, session: Session) -> list[MovedDeadline]:
    """After a calendar change: the engine recomputes every deadline the calendar set
    (a deadline chosen by hand, by extend, stays) and records each move."""
    moved = app.engine.recalculate_deadlines(session, actor=actor)
    return [MovedDeadline(case.id, case.name, old, new) for case, old, new in moved]
