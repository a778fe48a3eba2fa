"""Recurring obligations: a schedule that opens child cases.

Some cases owe something again and again: an NGO project a report for every
reporting period, an international agreement a review every few years. Each
occurrence becomes a *child case* (``parent_id`` = the owing case) of its own small
workflow (an obligation: due → filed | overdue → escalated …), so every occurrence
has its own deadline, reminders, escalation and history, and the compliance report
counts them like any other case.

The mechanism is general and rides on the engine's timers:

* a workflow computes its schedule as a list of :class:`Occurrence` values (pure:
  the case, its settings and the calendar in, dates out) — :func:`yearly_periods`
  and :func:`anniversaries` cover calendar periods and "every N years";
* :class:`Recurring` turns that schedule into one timer rule per parent state in
  which it runs; the timer fires at each occurrence's opening instant and *spawns*
  the children (``TimerRule.spawn``); the engine inserts them in the same
  transaction, through the same path as any new case (initial state, timers,
  catch-up, notices);
* every occurrence has a stable ``key`` ("2020-H1", "review-1", "final"); the keys
  opened are kept in the parent's ``data["opened"]``, so an occurrence opens exactly
  once, whatever re-arms the schedule (a resume, an extension, a correction);
* pauses (a suspended project) are data: :func:`defer_paused` moves an occurrence
  that would open during a pause to the instant the pause ends, with a deadline
  never earlier than its own, and drops one whose whole period lies in the pause.

This module imports nothing of theodoi but the workflow vocabulary, so a workflow
module may use it and still be read and tested without a database.
"""

from __future__ import annotations

import calendar as _calendar
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from workflows.definition import TimerRule

OPENED = "opened"  # the parent's data key listing the occurrence keys already opened


@dataclass(frozen=True)
class Occurrence:
    """One obligation of a schedule."""

    key: str  # identity within the parent: "2020-H1", "2020-Y", "review-1", "final"
    label: str  # Vietnamese: "6 tháng đầu năm 2020"
    label_en: str  # "first half of 2020"
    period_start: date | None  # what the report covers
    period_end: date
    opens_at: datetime  # UTC instant the obligation opens
    deadline: date
    due: str  # the duration the deadline was counted with (kept to re-count it)
    scheduled: date | None = None  # the deadline before a pause moved it, if one did

    def data(self) -> dict[str, Any]:
        """What the child case keeps about its occurrence (``Case.data``)."""
        return {
            "key": self.key,
            "label": self.label,
            "label_en": self.label_en,
            "period_start": self.period_start.isoformat() if self.period_start else None,
            "period_end": self.period_end.isoformat(),
            "original_deadline": (self.scheduled or self.deadline).isoformat(),
            "due": self.due,  # the rule's duration: a suspension counts in its units
        }


@dataclass(frozen=True)
class PeriodSpec:
    """A reporting period that recurs every calendar year (``[workflows.X] periods``)."""

    name: str  # "H1", "Y"
    end: tuple[int, int]  # (month, day) the period ends
    due: str  # deadline counted from the period's end: "15 days"
    start: tuple[int, int] = (1, 1)
    label: str = "{name} {year}"
    label_en: str = "{name} {year}"

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> PeriodSpec:
        """From a config table: ``{ name, period_end = "MM-DD", due, period_start?,
        label?, label_en? }``; a clear ValueError names what is wrong."""
        try:
            name = str(raw["name"])
            end = _month_day(str(raw["period_end"]))
            due = str(raw["due"])
        except KeyError as exc:
            raise ValueError(f"a reporting period needs {exc.args[0]!r}: {dict(raw)}") from None
        start = _month_day(str(raw.get("period_start", "01-01")))
        label = str(raw.get("label", "{name} {year}"))
        return cls(name, end, due, start, label, str(raw.get("label_en", label)))


def _month_day(text: str) -> tuple[int, int]:
    try:
        month, day = (int(part) for part in text.split("-"))
        date(2000, month, day)  # a leap year: 02-29 is a valid period end
    except ValueError:
        raise ValueError(f"'{text}' is not a month-day like '06-30'") from None
    return month, day


def _on(year: int, month_day: tuple[int, int]) -> date:
    month, day = month_day
    return date(year, month, min(day, _calendar.monthrange(year, month)[1]))


def yearly_periods(
    specs: Sequence[PeriodSpec], start: date, end: date, rules: Any
) -> list[Occurrence]:
    """Every period of ``specs`` that ends on or after ``start`` and before ``end``
    (what ends on or after the end date is the final report's business). Each opens
    at the end of its last day (24:00 local); its deadline is ``due`` after it, moved
    to a working day."""
    out = []
    for year in range(start.year, end.year + 1):
        for spec in specs:
            period_end = _on(year, spec.end)
            if period_end < start or period_end >= end:
                continue
            names = {"name": spec.name, "year": year}
            out.append(
                Occurrence(
                    key=f"{year}-{spec.name}",
                    label=spec.label.format(**names),
                    label_en=spec.label_en.format(**names),
                    period_start=max(start, _on(year, spec.start)),
                    period_end=period_end,
                    opens_at=rules.end_of_day(period_end),
                    deadline=rules.deadline(period_end, spec.due),
                    due=spec.due,
                )
            )
    return sorted(out, key=lambda o: (o.opens_at, o.key))


def scale(duration: str, times: int) -> str:
    """``scale("3 years", 2)`` → ``"6 years"``."""
    amount, _, unit = duration.strip().partition(" ")
    try:
        return f"{int(amount) * times} {unit.strip()}"
    except ValueError:
        raise ValueError(f"'{duration}' is not a duration like '3 years'") from None


def anniversaries(
    anchor: date,
    every: str,
    end: date,
    due: str,
    rules: Any,
    *,
    key: str = "review-{n}",
    label: str = "{n}",
    label_en: str = "{n}",
) -> list[Occurrence]:
    """An occurrence every ``every`` after ``anchor`` for each stretch that starts
    before ``end``; the last one opens on ``end`` at the latest (a 3-year agreement
    with a 3-year review owes its summary on its last day). Each opens at the start
    of its day; its deadline is ``due`` after it."""
    out = []
    n, stretch_start = 1, anchor
    while stretch_start < end:
        day = min(rules.add(anchor, scale(every, n)), end)
        names = {"n": n, "year": day.year}
        out.append(
            Occurrence(
                key=key.format(**names),
                label=label.format(**names),
                label_en=label_en.format(**names),
                period_start=stretch_start,
                period_end=day,
                opens_at=rules.start_of_day(day),
                deadline=rules.deadline(day, due),
                due=due,
            )
        )
        n, stretch_start = n + 1, rules.add(anchor, scale(every, n))
        if n > 1000:
            raise ValueError(f"'{every}' is too short a recurrence")
    return out


@dataclass(frozen=True)
class Pause:
    """A stretch during which nothing opens: from ``since`` until ``until`` (UTC
    instants; ``until`` None while it lasts)."""

    since: datetime
    until: datetime | None = None


def defer_paused(
    occurrences: Iterable[Occurrence], pauses: Sequence[Pause], rules: Any
) -> list[Occurrence]:
    """The schedule with its pauses applied.

    An occurrence that would open during a pause opens when the pause ends instead
    (not at all while it lasts), with the deadline its ``due`` gives from that day —
    never earlier than its own deadline. One whose whole period lies inside a single
    pause is dropped: nothing was done to report on. Nothing moves backwards.
    """
    out = []
    for occ in occurrences:
        for pause in pauses:
            if not pause.since <= occ.opens_at < (pause.until or datetime.max):
                continue
            covered_from = rules.start_of_day(occ.period_start or occ.period_end)
            if pause.since <= covered_from:
                occ = None  # the whole period was paused
            elif pause.until is None:
                occ = None  # opens when the pause ends, not before
            else:
                resumed = rules.local_date(pause.until)
                deadline = max(occ.deadline, rules.deadline(resumed, occ.due))
                occ = Occurrence(
                    occ.key,
                    occ.label,
                    occ.label_en,
                    occ.period_start,
                    occ.period_end,
                    pause.until,
                    deadline,
                    occ.due,
                    occ.scheduled or occ.deadline,
                )
            break
        if occ is not None:
            out.append(occ)
    return sorted(out, key=lambda o: (o.opens_at, o.key))


def opened_keys(case: Any) -> list[str]:
    return list((case.data or {}).get(OPENED, []))


ChildFields = Callable[[Any, Occurrence, Any], dict[str, Any]]  # (case, occ, rules)


@dataclass(frozen=True)
class Recurring:
    """A schedule of obligations a case opens as child cases of workflow ``child``
    while it is in one of ``states``.

    ``occurrences(case, rules)`` gives the whole schedule (past and future);
    ``fields(case, occurrence, rules)`` the child's fields (name, unit, data…); the
    occurrence's own data and its deadline are added here.
    """

    child: str
    states: tuple[str, ...]
    occurrences: Callable[[Any, Any], Sequence[Occurrence]]
    fields: ChildFields
    kind: str = "open_obligation"

    def timers(self) -> tuple[TimerRule, ...]:
        """One timer rule per state the schedule runs in (a timer kind names one state)."""
        return tuple(
            TimerRule(
                state,
                self.kind if i == 0 else f"{self.kind}_{state}",
                when=self.pending_at,
                spawn=self.open_due,
            )
            for i, state in enumerate(self.states)
        )

    def pending(self, case: Any, rules: Any) -> list[Occurrence]:
        """Occurrences not opened yet, in order."""
        opened = set(opened_keys(case))
        return [o for o in self.occurrences(case, rules) if o.key not in opened]

    def pending_at(self, case: Any, rules: Any) -> list[datetime]:
        return sorted({o.opens_at for o in self.pending(case, rules)})

    def open_due(self, case: Any, step: Any, rules: Any) -> list[tuple[str, dict[str, Any]]]:
        """Spawn: every pending occurrence whose time has come at ``step.at``."""
        due = [o for o in self.pending(case, rules) if o.opens_at <= step.at]
        return self.open(case, due, rules)

    def open(
        self, case: Any, occurrences: Sequence[Occurrence], rules: Any
    ) -> list[tuple[str, dict[str, Any]]]:
        """Children for ``occurrences`` not opened yet; marks them opened on ``case``."""
        opened = opened_keys(case)
        out = []
        for occ in occurrences:
            if occ.key in opened:
                continue
            opened.append(occ.key)
            fields = dict(self.fields(case, occ, rules))
            data = {**occ.data(), **fields.pop("data", {})}
            out.append((self.child, {"deadline": occ.deadline, **fields, "data": data}))
        if out:
            case.data = {**(case.data or {}), OPENED: opened}
        return out
