"""Every deadline explained: how a date follows from its starting event, its rule and
the calendar, step by step, as the law counts (pure: no database, no clock).

    ex = explain(calendar, date(2024, 4, 26), "7 working days", event="return",
                 legal_basis="Quy định 58-QĐ/TW")
    ex.result          # date(2024, 5, 9)
    ex.skipped         # the days not counted and why (weekend, holiday, closure …)
    ex.sentence("vi")  # "Hạn được tính: 7 ngày làm việc kể từ ngày về nước 26/04/2024 …"

* The day of the starting event is not counted (Civil Code 2015, Art. 147): counting
  starts the next day.
* A rule in working days counts only working days; each day passed over is listed
  with its reason. A rule in days, weeks, months or years counts calendar days.
* A limit whose last day is a day off ends at the end of the next working day
  (Art. 148); the days passed over are listed as ``moved``.
* ``floor``: a deadline already in force that the computation must not shorten (a
  rejection gives the later of the current deadline and its own).

A case keeps, for each of its deadlines, the *basis* it was computed from in
``case.data["deadlines"][name]`` (:func:`basis`): the event, its day, the rule version
in force when the obligation opened (or the date a person set), a floor. The
explanation is recomputed from the basis under the current calendar
(:func:`explain_basis`, :func:`case_explanations`), so the deadline and its
explanation never disagree. Any deadline may be kept this way (the report, the
passport's return, a deadline after a suspension).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from kernel.calendar import BusinessCalendar, DayOff, Duration

DEADLINES = "deadlines"  # the key of case.data holding each deadline's basis

# the starting events, as a sentence names them: (Vietnamese, English)
EVENTS: dict[str, tuple[str, str]] = {
    "return": ("ngày về nước", "the return on"),
    "reentry": ("ngày nhập cảnh", "re-entry on"),
    "reject": ("ngày trả lại báo cáo", "the report was sent back on"),
    "extend": ("ngày gia hạn", "the extension of"),
    "resume": ("ngày tiếp tục tính hạn", "the clock resumed on"),
    "period_end": ("ngày kết thúc kỳ báo cáo", "the end of the period on"),
    "project_end": ("ngày kết thúc dự án", "the project's end on"),
    "anniversary": ("ngày tròn kỳ tổng kết", "the review anniversary on"),
}
# the deadlines a case may have, as pages name them
NAMES: dict[str, tuple[str, str]] = {
    "report": ("Hạn nộp báo cáo", "Report deadline"),
    "passport": ("Hạn nộp lại hộ chiếu", "Passport return deadline"),
}


def _d(day: date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else ""


def _date(value: Any) -> date | None:
    if value in (None, ""):
        return None
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


@dataclass(frozen=True)
class Explanation:
    """How one deadline was computed (see the module docstring)."""

    name: str  # which deadline of the case: "report", "passport"
    event: str  # the starting event: "return", "reject", "extend" …
    start: date  # its day (not counted)
    result: date  # the deadline
    due: str | None = None  # the rule's duration; None: a date set by a person
    legal_basis: str = ""
    effective_from: date | None = None
    rule_key: str = ""  # the setting the rule came from: "private_report_due"
    last_day: date | None = None  # the last day the rule counts to, before Art. 148
    skipped: tuple[DayOff, ...] = ()  # days not counted (working-day rules)
    moved: tuple[DayOff, ...] = ()  # days off passed over under Art. 148
    computed: date | None = None  # what the rule gave, before the floor
    floor: date | None = None  # a deadline in force the result may not be earlier than
    note: str = ""  # why a person set the date
    makeup: tuple[DayOff, ...] = field(default=())  # weekend days counted as worked

    @property
    def kept_floor(self) -> bool:
        return self.floor is not None and self.computed is not None and self.floor > self.computed

    # -- as text --------------------------------------------------------------------

    def sentence(self, lang: str = "vi") -> str:
        """One short sentence (reminders): ``"Hạn được tính: 15 ngày kể từ ngày về nước
        06/09/2021 (không tính ngày đó), …: 21/09/2021."``"""
        en = lang == "en"
        what = EVENTS.get(self.event, (self.event, self.event))[1 if en else 0]
        if self.due is None:
            text = (
                f"Deadline set on {_d(self.start)}"
                if en
                else f"Hạn do cán bộ đặt ngày {_d(self.start)}"
            )
        else:
            length = Duration.parse(self.due).label("en" if en else "vi")
            text = (
                f"Deadline computed: {length} from {what} {_d(self.start)} (that day not counted)"
                if en
                else f"Hạn được tính: {length} kể từ {what} {_d(self.start)} (không tính ngày đó)"
            )
            if self.legal_basis:
                text += f", {'under' if en else 'theo'} {self.legal_basis}"
        if self.moved:
            text += (
                f"; the last day {_d(self.last_day)} is a day off, so it moves to the next working day"
                if en
                else f"; ngày cuối {_d(self.last_day)} là ngày nghỉ nên chuyển sang ngày làm việc tiếp theo"
            )
        if self.kept_floor:
            text += (
                f"; the deadline in force {_d(self.floor)} is later and is kept"
                if en
                else f"; hạn đang áp dụng {_d(self.floor)} muộn hơn nên được giữ"
            )
        return f"{text}: {_d(self.result)}."

    def lines(self, lang: str = "vi") -> list[str]:
        """The explanation step by step (the case page, ``theodoi show``)."""
        en = lang == "en"
        out = []
        what = EVENTS.get(self.event, (self.event, self.event))[1 if en else 0]
        if self.due is None:
            out.append(
                (f"Set by hand on {_d(self.start)}" if en else f"Đặt hạn ngày {_d(self.start)}")
                + (f": {self.note}" if self.note else "")
            )
        else:
            out.append(
                f"Start: {what} {_d(self.start)} — not counted (Civil Code Art. 147)"
                if en
                else f"Bắt đầu: {what} {_d(self.start)} — không tính ngày này (Điều 147 Bộ luật Dân sự)"
            )
            length = Duration.parse(self.due).label("en" if en else "vi")
            basis = self.legal_basis or ("(no legal basis recorded)" if en else "(chưa ghi căn cứ)")
            since = ""
            if self.effective_from:
                since = (
                    f", in force from {_d(self.effective_from)}"
                    if en
                    else f", áp dụng từ {_d(self.effective_from)}"
                )
            out.append(f"{'Rule' if en else 'Quy định'}: {length} — {basis}{since}")
            for day in self.skipped:
                out.append(
                    f"{'Not counted' if en else 'Không tính'} {_d(day.day)}: {day.label(lang)}"
                )
            for day in self.makeup:
                out.append(f"{'Counted' if en else 'Có tính'} {_d(day.day)}: {day.label(lang)}")
            out.append(f"{'Last day' if en else 'Ngày cuối'}: {_d(self.last_day)}")
        for day in self.moved:
            out.append(
                f"{_d(day.day)} {day.label(lang)} — moved to the next working day (Civil Code Art. 148)"
                if en
                else f"{_d(day.day)} {day.label(lang)} — chuyển sang ngày làm việc tiếp theo (Điều 148 Bộ luật Dân sự)"
            )
        if self.kept_floor:
            out.append(
                f"The deadline in force {_d(self.floor)} is later than {_d(self.computed)}: kept"
                if en
                else f"Hạn đang áp dụng {_d(self.floor)} muộn hơn {_d(self.computed)}: giữ nguyên"
            )
        out.append(f"{'Deadline' if en else 'Hạn'}: {_d(self.result)}")
        return out

    def to_dict(self, lang: str = "vi") -> dict[str, Any]:
        """For JSON: start, rule, legal_basis, days skipped with their reasons, result."""

        def day(item: DayOff) -> dict[str, Any]:
            return {
                "day": item.day.isoformat(),
                "kind": item.kind,
                "reason": item.label(lang),
            }

        return {
            "name": self.name,
            "event": self.event,
            "start": self.start.isoformat(),
            "rule": self.due,
            "rule_key": self.rule_key or None,
            "legal_basis": self.legal_basis,
            "effective_from": self.effective_from.isoformat() if self.effective_from else None,
            "last_day": self.last_day.isoformat() if self.last_day else None,
            "skipped": [day(item) for item in self.skipped],
            "counted_weekend_days": [day(item) for item in self.makeup],
            "moved": [day(item) for item in self.moved],
            "floor": self.floor.isoformat() if self.floor else None,
            "note": self.note or None,
            "result": self.result.isoformat(),
            "sentence": self.sentence(lang),
            "lines": self.lines(lang),
        }


def _roll(calendar: BusinessCalendar, day: date) -> tuple[date, tuple[DayOff, ...]]:
    """Art. 148: ``day`` or the next working day, with the days off passed over."""
    moved = []
    while not calendar.is_working_day(day):
        moved.append(calendar.why_off(day))
        day += timedelta(days=1)
    return day, tuple(m for m in moved if m is not None)


def explain(
    calendar: BusinessCalendar,
    start: date,
    due: str | Duration,
    *,
    event: str,
    name: str = "report",
    legal_basis: str = "",
    effective_from: date | None = None,
    rule_key: str = "",
    floor: date | None = None,
) -> Explanation:
    """The deadline ``due`` after ``start`` (the day of ``event``, not counted), as the
    law counts it, with each step; never earlier than ``floor``."""
    duration = Duration.parse(due) if isinstance(due, str) else due
    skipped: list[DayOff] = []
    makeup: list[DayOff] = []
    if duration.unit == "working_days" and duration.amount >= 0:
        day, remaining = start, duration.amount
        while remaining:
            day += timedelta(days=1)
            if calendar.is_working_day(day):
                remaining -= 1
                worked = calendar.why_working(day)
                if worked is not None:
                    makeup.append(worked)
            else:
                off = calendar.why_off(day)
                if off is not None:
                    skipped.append(off)
        last = day
    else:
        last = calendar.add(start, duration)
    computed, moved = _roll(calendar, last)
    result = max(computed, floor) if floor else computed
    return Explanation(
        name=name,
        event=event,
        start=start,
        result=result,
        due=str(duration) if isinstance(due, Duration) else due,
        legal_basis=legal_basis,
        effective_from=effective_from,
        rule_key=rule_key,
        last_day=last,
        skipped=tuple(skipped),
        moved=moved,
        computed=computed,
        floor=floor,
        makeup=tuple(makeup),
    )


def explain_date(
    calendar: BusinessCalendar,
    day: date,
    *,
    set_on: date,
    event: str = "extend",
    name: str = "report",
    note: str = "",
) -> Explanation:
    """A deadline a person set to ``day`` (on ``set_on``): a day off moves to the next
    working day (Art. 148), with the days passed over."""
    result, moved = _roll(calendar, day)
    return Explanation(
        name=name,
        event=event,
        start=set_on,
        result=result,
        last_day=day,
        moved=moved,
        computed=result,
        note=note,
    )


# -- the basis kept in a case's data ------------------------------------------------


def basis(
    event: str,
    start: date,
    *,
    rule: Mapping[str, Any] | None = None,
    until: date | None = None,
    floor: date | None = None,
    note: str = "",
) -> dict[str, Any]:
    """The record a case keeps for one deadline (JSON-ready): the event and its day,
    the rule version (``RuleVersion.record(key)``) or the date a person set
    (``until``), a floor, a note."""
    out: dict[str, Any] = {"event": event, "start": start.isoformat()}
    if rule is not None:
        out["rule"] = dict(rule)
    if until is not None:
        out["until"] = until.isoformat()
    if floor is not None:
        out["floor"] = floor.isoformat()
    if note:
        out["note"] = note
    return out


def explain_basis(calendar: BusinessCalendar, name: str, record: Mapping[str, Any]) -> Explanation:
    """The explanation of a kept basis under ``calendar`` (its result is the deadline)."""
    start = _date(record["start"])
    assert start is not None
    rule = record.get("rule")
    if rule:
        return explain(
            calendar,
            start,
            str(rule["due"]),
            event=str(record["event"]),
            name=name,
            legal_basis=str(rule.get("legal_basis") or ""),
            effective_from=_date(rule.get("effective_from")),
            rule_key=str(rule.get("key") or ""),
            floor=_date(record.get("floor")),
        )
    until = _date(record.get("until")) or start
    return explain_date(
        calendar,
        until,
        set_on=start,
        event=str(record["event"]),
        name=name,
        note=str(record.get("note") or ""),
    )


def kept(case: Any) -> dict[str, dict[str, Any]]:
    """The bases a case keeps: deadline name → record."""
    return dict((getattr(case, "data", None) or {}).get(DEADLINES) or {})


def keep(case: Any, name: str, record: Mapping[str, Any]) -> None:
    """Record (replace) the basis of the case's deadline ``name`` (a new ``data`` dict,
    so the ORM sees the change)."""
    data = dict(case.data or {})
    bases = dict(data.get(DEADLINES) or {})
    bases[name] = dict(record)
    data[DEADLINES] = bases
    case.data = data


def case_explanations(case: Any, calendar: BusinessCalendar) -> list[Explanation]:
    """Every deadline the case keeps a basis for, explained under ``calendar``."""
    return [explain_basis(calendar, name, record) for name, record in kept(case).items()]
