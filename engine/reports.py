"""Compliance figures, recomputed from the case history.

Nothing here trusts a case's *current* state: the state of every trip on the report
date is the ``to_state`` of its last history entry (``Event``) before the end of that
day, so a report for a past period gives the same figures whenever it is run, and
``as_of`` shows the situation on any day.

What a trip counts as, on the report date (local end of day ``as_of``):

=================  ==========================================================
not_due            approved, travelling, returned or cancelled: nothing owed yet
not_yet_due        report_due: back home, the deadline has not passed
outstanding        overdue or escalated: the deadline passed, no report
filed (on_time)    report_filed or closed, filed by the deadline
filed (late)       report_filed or closed, filed after the deadline
=================  ==========================================================

``due`` = filed + outstanding (the reports whose deadline has come, or that came in
early), and ``filed_pct`` = filed / due as a whole percent, rounded half up (6/19 →
32). A report sent back as insufficient (``reject``) puts the trip back in
report_due: it is no longer counted as filed.

Counting follows the inspection's: decisions and trips whose decision date falls in
the period (``by="decision"``, the default), or trips whose return date does
(``by="return"``, actual return, else planned). A decision counts under its issuer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from engine.registry import definition
from kernel import clock
from kernel.countries import country_name
from storage import reports as report_store
from storage.db import Session
from workflows.decision import ISSUER
from workflows.trip import CATEGORY

# What a trip's state counts as, by its tags (workflows/trip.py): done → filed, late →
# outstanding, due → not yet due, waiting or cancelled → nothing owed yet.
_TRIP = definition("trip")
FILED = _TRIP.states_tagged("done")  # report_filed, closed
OUTSTANDING = _TRIP.states_tagged("late")  # overdue, escalated
NOT_YET_DUE = _TRIP.states_tagged("due")  # report_due
BEFORE_REPORT = _TRIP.states_tagged("waiting") + _TRIP.states_tagged("cancelled")
BASES = ("decision", "return")
COUNT_KEYS = ("cases", "due", "filed", "on_time", "late", "outstanding", "not_yet_due")


@dataclass(frozen=True)
class Period:
    """Inclusive calendar dates; ``by`` says which date places a trip in the period."""

    start: date
    end: date
    by: str = "decision"

    def __post_init__(self) -> None:
        if self.by not in BASES:
            raise ValueError(f"by must be one of {', '.join(BASES)}")
        if self.end < self.start:
            raise ValueError(f"the period ends ({self.end}) before it starts ({self.start})")


@dataclass(slots=True)
class CaseFact:
    """One trip as it stood on the report date."""

    case_id: int
    decision_id: int | None
    decision_number: str | None
    decision_date: date | None
    issuer: str | None
    name: str
    position: str | None
    unit_code: str | None
    unit_name: str | None
    category: str | None
    country_codes: tuple[str, ...]
    purpose: str | None
    departure: date | None
    return_: date | None
    deadline: date | None
    state: str  # on the report date
    filed_on: date | None = None  # on the report date
    late: bool | None = None
    status: str = "not_due"  # see trip_status


def trip_status(state: str, late: bool | None) -> str:
    """What a trip in ``state`` (on the report date) counts as."""
    if state in FILED:
        return "late" if late else "on_time"
    if state in OUTSTANDING:
        return "outstanding"
    if state in NOT_YET_DUE:
        return "not_yet_due"
    return "not_due"


@dataclass
class Counts:
    cases: int = 0
    due: int = 0
    filed: int = 0
    on_time: int = 0
    late: int = 0
    outstanding: int = 0
    not_yet_due: int = 0

    def add(self, fact: CaseFact) -> None:
        self.add_status(fact.status)

    def add_status(self, status: str, n: int = 1) -> None:
        self.cases += n
        if status in ("on_time", "late"):
            self.due += n
            self.filed += n
            setattr(self, status, getattr(self, status) + n)
        elif status == "outstanding":
            self.due += n
            self.outstanding += n
        elif status == "not_yet_due":
            self.not_yet_due += n

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: getattr(self, k) for k in COUNT_KEYS}
        out["filed_pct"] = percent(self.filed, self.due)
        return out


def percent(part: int, whole: int) -> int | None:
    """A whole percent rounded half up (6/19 → 32, 1/8 → 13); None when nothing is due."""
    if not whole:
        return None
    value = Decimal(part * 100) / Decimal(whole)
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def cutoff(as_of: date, tz: ZoneInfo) -> datetime:
    """The end of ``as_of`` in the organisation's zone (24:00 local), as naive UTC."""
    return clock.end_of_day(as_of, tz)


# -- reading the history ----------------------------------------------------------------


def _filing(
    state: str, now_state: str, now_late: bool | None, now_filed: date | None,
    deadline: date | None, file_from: str | None, file_at: datetime | None, file_on: str | None,
) -> tuple[date | None, bool | None]:  # fmt: skip
    """(filed on, late) of a case filed at the report date. The engine's own verdict
    (``filed_late``) when that filing is still the case's current one; else the
    history's: filed from overdue/escalated, or after the deadline."""
    if state not in FILED:
        return None, None
    filed_on = _filed_day(file_on, file_at, now_filed)
    if now_state in FILED and now_late is not None and now_filed == filed_on:
        return filed_on, bool(now_late)
    late = file_from in OUTSTANDING or bool(deadline and filed_on and filed_on > deadline)
    return filed_on, late


def case_facts(session: Session, period: Period, until: datetime) -> list[CaseFact]:
    """Every trip of the period that existed before ``until``, in the state its history
    gives at ``until`` (events at or after ``until`` are ignored)."""
    # fmt: off
    rows = report_store.trip_history_rows(
        session,
        workflow="trip",
        start=period.start,
        end=period.end,
        by=period.by,  # type: ignore[arg-type]  # Period checked it
        until=until,
        filed_states=FILED,
    )
    facts = []
    for row in rows:  # unpacked, not read by name: a million rows, a tenth faster
        (cid, did, number, decided, issuer, name, position, ucode, uname, category, dests,
         purpose, departure, return_, deadline, state, now_state, now_late, now_filed,
         file_from, file_at, file_on) = row
        fact = CaseFact(
            cid, did, number, decided, issuer, name, position, ucode, uname, category,
            tuple(d for d in (dests or "").split(",") if d), purpose, departure, return_,
            deadline if state not in BEFORE_REPORT else None, state,
        )
        fact.filed_on, fact.late = _filing(
            state, now_state, now_late, now_filed, deadline, file_from, file_at, file_on
        )
        fact.status = trip_status(state, fact.late)
        facts.append(fact)
    return facts
    # fmt: on


def _filed_day(on: str | None, at: datetime | None, current: date | None) -> date | None:
    """The day a filing names (its ``on`` parameter), else the engine's, else its own."""
    if on:
        return date.fromisoformat(str(on)[:10])
    return current if current else (at.date() if at else None)


# -- figures ------------------------------------------------------------------------------

# Extra sections other case types add: name → function(session, period, until) → list
# of row dicts, computed for the same period and report date. The NGO obligations'
# ``ngo_by_agency`` and ``ngo_by_ngo`` come this way (engine/reports_ngo.py, imported
# at the end of this module); another case type registers its own with
# :func:`register_section`.
SectionFn = Callable[[Session, Period, datetime], list[dict[str, Any]]]
EXTRA_SECTIONS: dict[str, SectionFn] = {}


def register_section(name: str, fn: SectionFn) -> None:
    EXTRA_SECTIONS[name] = fn


# -- obligations counted apart: follow-ups (the passport return) and suspensions -------

FOLLOW_UP_WORKFLOWS = ("trip_passport",)  # a trip's further obligations, each counted apart
SUSPENDABLE = ("trip", "trip_passport", "ngo_report", "agreement_review")
_OB = definition("trip_passport")  # the shared obligation lifecycle (workflows/obligation.py)
_OB_FILED = _OB.states_tagged("done")
_OB_OUTSTANDING = _OB.states_tagged("late")
_OB_OWED = _OB.states_tagged("due")  # due, and suspended (owed, its clock stopped)


def follow_up_status(events: list[Any], deadline: date | None) -> str:
    """What an obligation counts as, from its history before the report instant."""
    moved = [e for e in events if e.to_state is not None]
    if not moved:
        return "not_due"
    state = moved[-1].to_state
    if state in _OB_FILED:
        filing = [e for e in moved if e.event == "file"][-1]
        on = (filing.data or {}).get("on")
        filed = date.fromisoformat(str(on)[:10]) if on else filing.at.date()
        late = filing.from_state in _OB_OUTSTANDING or bool(deadline and filed > deadline)
        return "late" if late else "on_time"
    if state in _OB_OUTSTANDING:
        return "outstanding"
    if state in _OB_OWED:
        return "not_yet_due"
    return "not_due"  # waived


def follow_ups(session: Session, period: Period, until: datetime) -> list[dict[str, Any]]:
    """Per follow-up obligation type (the passport return …) with obligations whose
    deadline falls in the period: the same counts as the trips', apart from the
    post-trip report."""
    out = []
    for workflow in FOLLOW_UP_WORKFLOWS:
        counts = Counts()
        for case in report_store.obligation_histories(
            session, workflow=workflow, start=period.start, end=period.end, until=until
        ):
            status = follow_up_status(case.events, case.deadline)
            if status != "not_due":
                counts.add_status(status)
        if not counts.cases:
            continue  # none in the period: no row (and no sheet)
        row = counts.as_dict()
        row["obligations"] = row.pop("cases")
        out.append({"workflow": workflow, **row})
    return out


def suspended_days_of(events: list[Any], until: datetime) -> int:
    """Calendar days a case spent suspended before ``until``, from its history: each
    ``suspend`` to the next step that changed the state (resume, or a filing while
    suspended), or ``until``."""
    total, since = 0, None
    for e in events:
        if e.event == "suspend":
            since = e.at
        elif since is not None and e.to_state is not None and e.to_state != e.from_state:
            total += (e.at.date() - since.date()).days
            since = None
    if since is not None:
        total += max((until.date() - since.date()).days, 0)
    return total


def suspensions(session: Session, period: Period, until: datetime) -> list[dict[str, Any]]:
    """Each case whose deadline falls in the period and that was suspended before the
    report instant: its days suspended; the last row (``case_id`` None) the total."""
    rows = []
    suspended = report_store.case_ids_with_event(session, "suspend", until)
    for workflow in SUSPENDABLE if suspended else ():
        for case in report_store.obligation_histories(
            session,
            workflow=workflow,
            start=period.start,
            end=period.end,
            until=until,
            only=suspended,
        ):
            days = suspended_days_of(case.events, until)
            rows.append({"case_id": case.case_id, "workflow": workflow, "days_suspended": days})
    rows.sort(key=lambda r: r["case_id"])
    if rows:
        total = sum(r["days_suspended"] for r in rows)
        rows.append({"case_id": None, "workflow": None, "days_suspended": total})
    return rows


register_section("follow_ups", follow_ups)
register_section("suspensions", suspensions)


def extra_sections(session: Session, period: Period, until: datetime) -> dict[str, Any]:
    return {name: fn(session, period, until) for name, fn in EXTRA_SECTIONS.items()}


class _Tally:
    """Counts per group, built from one pass over the trips: each distinct combination
    of (issuer, category, unit, countries, month, status) is counted once, and the
    groups are rolled up from those (a million trips fall into a few thousand)."""

    def __init__(self, facts: Iterable[CaseFact], month_of: Callable[[CaseFact], Any]) -> None:
        self.combos: Counter[tuple[Any, ...]] = Counter()
        self.decisions: dict[str, set[tuple[Any, Any]]] = {"issuer": set(), "month": set()}
        self.all_decisions: set[int] = set()
        for f in facts:
            day = month_of(f)
            month = (day.year, day.month) if day else None
            self.combos[
                (
                    f.issuer or "other",
                    f.category or "unknown",
                    f.unit_code or "",
                    f.unit_name or "",
                    f.country_codes,
                    month,
                    f.status,
                )
            ] += 1
            if f.decision_id is not None:
                self.all_decisions.add(f.decision_id)
                self.decisions["issuer"].add((f.issuer or "other", f.decision_id))
                self.decisions["month"].add((month, f.decision_id))

    def by(self, key: Callable[[tuple[Any, ...]], Iterable[Any]]) -> dict[Any, Counts]:
        groups: dict[Any, Counts] = {}
        for combo, n in self.combos.items():
            for k in key(combo):
                groups.setdefault(k, Counts()).add_status(combo[6], n)
        return groups

    def decision_count(self, dimension: str) -> Counter[Any]:
        return Counter(k for k, _d in self.decisions[dimension])


STANDARD_KEYS = frozenset(
    {
        "period",
        "as_of",
        "decisions",
        "cases",
        "by_issuer",
        "by_category",
        "by_unit",
        "by_country",
        "by_month",
        "totals",
        "case_list",
    }
)


def extra_keys(report: dict[str, Any]) -> list[str]:
    """The sections other case types added (lists of row dicts), in report order."""
    return [k for k, v in report.items() if k not in STANDARD_KEYS and isinstance(v, list)]


def summarise(
    facts: list[CaseFact], period: Period, as_of: date, language: str = "vi"
) -> dict[str, Any]:
    """The report as plain data (the JSON shape), from the trips' facts."""
    basis = (lambda f: f.decision_date) if period.by == "decision" else (lambda f: f.return_)
    tally = _Tally(facts, basis)
    issuers, issuer_decisions = tally.by(lambda c: [c[0]]), tally.decision_count("issuer")
    by_issuer = [
        {
            "issuer": issuer,
            "label": ISSUER.label(issuer) if issuer else issuer,
            "decisions": issuer_decisions[issuer],
            "cases": issuers.get(issuer, Counts()).cases,
        }
        for issuer in [*ISSUER.values, *sorted(set(issuers) - set(ISSUER.values))]
    ]
    categories = tally.by(lambda c: [c[1]])
    by_category = [
        {
            "category": category,
            "label": CATEGORY.label(category) if category else category,
            **categories.get(category, Counts()).as_dict(),
        }
        for category in [*CATEGORY.values, *sorted(set(categories) - set(CATEGORY.values))]
    ]
    units = tally.by(lambda c: [(c[2], c[3])])
    by_unit = [
        {"unit": code or None, "name": name or None, **counts.as_dict()}
        for (code, name), counts in sorted(units.items())
    ]
    countries = tally.by(lambda c: c[4] or ("",))
    by_country = [
        {
            "country": code or None,
            "name": country_name(code, language) if code else None,
            **counts.as_dict(),
        }
        for code, counts in sorted(countries.items(), key=lambda kv: (-kv[1].cases, kv[0]))
    ]
    months, month_decisions = tally.by(lambda c: [c[5]]), tally.decision_count("month")
    by_month = [
        {
            "month": f"{month[0]}-{month[1]:02d}" if month else None,
            "decisions": month_decisions[month],
            **counts.as_dict(),
        }
        for month, counts in sorted(months.items(), key=lambda kv: kv[0] or (0, 0))
    ]
    total = Counts()
    for combo, n in tally.combos.items():
        total.add_status(combo[6], n)
    decisions = tally.all_decisions
    return {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat(), "by": period.by},
        "as_of": as_of.isoformat(),
        "decisions": len(decisions),
        "cases": len(facts),
        "by_issuer": by_issuer,
        "by_category": by_category,
        "by_unit": by_unit,
        "by_country": by_country,
        "by_month": by_month,
        "totals": total.as_dict(),
    }


def compliance(
    session: Session,
    period: Period,
    as_of: date,
    tz: ZoneInfo,
    *,
    with_cases: bool = False,
    language: str = "vi",
) -> dict[str, Any]:
    """The compliance report for ``period`` as it stood at the end of ``as_of``."""
    until = cutoff(as_of, tz)
    facts = case_facts(session, period, until)
    report = summarise(facts, period, as_of, language)
    report.update(extra_sections(session, period, until))
    if with_cases:
        report["case_list"] = [fact_row(f) for f in facts]
    return report


def fact_row(fact: CaseFact) -> dict[str, Any]:
    """One trip for the case sheet and the JSON ``case_list``."""

    def iso(value: date | None) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": fact.case_id,
        "decision": fact.decision_number,
        "decision_date": iso(fact.decision_date),
        "issuer": fact.issuer,
        "name": fact.name,
        "position": fact.position,
        "unit": fact.unit_code,
        "unit_name": fact.unit_name,
        "category": fact.category,
        "country_codes": list(fact.country_codes),
        "purpose": fact.purpose,
        "departure": iso(fact.departure),
        "return": iso(fact.return_),
        "deadline": iso(fact.deadline),
        "state": fact.state,
        "report_filed_on": iso(fact.filed_on),
        "status": fact.status,
    }


# The NGO section registers itself (imported last: it uses the names above).
import engine.reports_ngo  # noqa: E402, F401
