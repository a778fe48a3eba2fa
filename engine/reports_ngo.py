"""The compliance report's NGO section, recomputed from the history of the report
obligations (workflow ``ngo_report``), grouped by receiving agency
(``ngo_by_agency``) and by NGO (``ngo_by_ngo``).

An obligation belongs to the period when its deadline falls in it. Its status on
the report date is read from its history, as the trip figures are: the state its
last event before the end of ``as_of`` left it in —

=================  ========================================================
not_yet_due        due: open, the deadline has not passed
outstanding        overdue or escalated: the deadline passed, no report
filed (on_time)    filed or closed, filed by the deadline
filed (late)       filed or closed, filed after it (or filed while overdue)
(not counted)      cancelled: the obligation was waived
=================  ========================================================

``due`` = filed + outstanding; ``filed_pct`` = filed / due (whole percent, half up).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from engine.registry import definition
from engine.reports import Counts, Period, register_section
from storage import reports as report_store
from storage.db import Session

WORKFLOW = "ngo_report"
# By the obligation's state tags (workflows/obligation.py): done → filed, late →
# outstanding, due → not yet due, cancelled (waived) → not counted.
_OBLIGATION = definition(WORKFLOW)
FILED = _OBLIGATION.states_tagged("done")  # filed, closed
OUTSTANDING = _OBLIGATION.states_tagged("late")  # overdue, escalated
NOT_YET_DUE = _OBLIGATION.states_tagged("due")  # due


@dataclass
class ObligationFact:
    case_id: int
    key: str | None
    agency: str | None
    ngo: str | None
    deadline: date | None
    state: str
    filed_on: date | None = None
    late: bool | None = None

    @property
    def status(self) -> str:
        if self.state in FILED:
            return "late" if self.late else "on_time"
        if self.state in OUTSTANDING:
            return "outstanding"
        if self.state in NOT_YET_DUE:
            return "not_yet_due"
        return "not_due"  # cancelled (waived): not counted


def obligation_facts(session: Session, period: Period, until: datetime) -> list[ObligationFact]:
    """Every NGO report obligation whose deadline falls in ``period``, as it stood at
    ``until`` (events at or after ``until`` are ignored)."""
    facts = []
    for case in report_store.obligation_histories(
        session, workflow=WORKFLOW, start=period.start, end=period.end, until=until
    ):
        events = [e for e in case.events if e.to_state is not None]
        if not events:
            continue  # not opened yet on the report date
        data = case.data or {}
        fact = ObligationFact(
            case.case_id,
            data.get("key"),
            data.get("receiving_agency"),
            data.get("ngo_name"),
            case.deadline,
            events[-1].to_state,
        )
        if fact.state in FILED:
            filing = [e for e in events if e.event == "file"][-1]
            on = (filing.data or {}).get("on")
            fact.filed_on = date.fromisoformat(str(on)[:10]) if on else filing.at.date()
            fact.late = filing.from_state in OUTSTANDING or bool(
                case.deadline and fact.filed_on > case.deadline
            )
        facts.append(fact)
    return facts


def _rows(facts: list[ObligationFact], attr: str, label: str) -> list[dict[str, Any]]:
    groups: dict[str, Counts] = {}
    for fact in facts:
        if fact.status == "not_due":
            continue
        groups.setdefault(getattr(fact, attr) or "", Counts()).add(fact)  # type: ignore[arg-type]
    out = []
    for name, counts in sorted(groups.items()):
        row = counts.as_dict()
        row["obligations"] = row.pop("cases")
        out.append({label: name or None, **row})
    return out


def ngo_by_agency(session: Session, period: Period, until: datetime) -> list[dict[str, Any]]:
    return _rows(obligation_facts(session, period, until), "agency", "receiving_agency")


def ngo_by_ngo(session: Session, period: Period, until: datetime) -> list[dict[str, Any]]:
    return _rows(obligation_facts(session, period, until), "ngo", "ngo")


register_section("ngo_by_agency", ngo_by_agency)
register_section("ngo_by_ngo", ngo_by_ngo)
