"""Wording that is true in every state: every notice kind, in every state and level it
can be sent in, in both languages, on several send dates — no placeholder left
("Công văn số None"), no doubled brackets, the intended recipient of an alert named
as it is, and the date sentences agreeing with the day the notice is sent."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

import pytest

from kernel.calendar import BusinessCalendar
from kernel.settings import load_config
from notifications.context import notice_context
from notifications.examples import sample_rows
from notifications.render import Renderer
from workflows.trip import WORKFLOW as TRIP

CONFIG = load_config(None, {"THEODOI_STORAGE__URL": "sqlite://"})
CALENDAR = BusinessCalendar()
RENDERER = Renderer()
DEADLINE = date(2021, 9, 21)

# kind → the states (with the escalation levels) it can be sent in, from the state tags
SENDABLE = {
    "approval_notice": [(s, 0) for s in TRIP.states_tagged("waiting")],
    "reminder": [(s, 0) for s in TRIP.states_tagged("due")],
    "rejected": [(s, 0) for s in TRIP.states_tagged("due")],
    "urging_letter": [
        (s, 0) for s in TRIP.states_tagged("late") if s not in TRIP.states_tagged("escalated")
    ],
    "escalation": [(s, lvl) for s in TRIP.states_tagged("escalated") for lvl in (1, 2)],
    "digest": [(None, 0)],
    "alert": [(s, 0) for s in TRIP.states],
}
# the days each kind can leave on (UTC 00:30 = 07:30 local)
SEND_DAYS = {
    "approval_notice": [date(2021, 8, 20), date(2021, 8, 31)],
    "reminder": [date(2021, 9, 14), date(2021, 9, 20), date(2021, 9, 21)],
    "rejected": [date(2021, 9, 21)],
    "urging_letter": [date(2021, 9, 22), date(2021, 9, 27)],
    "escalation": [date(2021, 9, 29), date(2021, 10, 13)],
    "digest": [date(2021, 9, 20)],
    "alert": [date(2021, 9, 14)],
}
BAD = [re.compile(p) for p in (r"\bNone\b", r"\(\(", r"\)\)", r"\[\[", r"\]\]", r"\bnull\b")]


def _cases() -> list[tuple[str, dict[str, Any], str | None, int, date, str, bool]]:
    out = []
    samples: dict[str, dict[str, Any]] = {}
    for kind, snapshot in sample_rows():
        samples.setdefault(kind, snapshot)
    for kind, snapshot in samples.items():
        for state, level in SENDABLE[kind]:
            for day in SEND_DAYS[kind]:
                for language in ("vi", "en"):
                    for numbered in (
                        (True, False) if kind in ("urging_letter", "escalation") else (True,)
                    ):
                        out.append((kind, snapshot, state, level, day, language, numbered))
    return out


def _render(kind, snapshot, state, level, day, language, numbered):
    ctx = dict(snapshot)
    if state is not None:
        ctx["state"] = state
        ctx["escalation_level"] = level
    if kind == "escalation" and not numbered:
        ctx.pop("urging", None)  # no urging letter ever went (it was withdrawn)
        ctx["cases"] = [{**c, "urging_number": None} for c in ctx.get("cases", [])]
    row = {
        "kind": kind,
        "level": level if kind == "escalation" else (1 if kind == "reminder" else 0),
        "context": ctx,
        "letter_number": "07/SNgV-LSHTQT" if numbered else None,
        "case_id": ctx.get("case_id"),
    }
    now = datetime.combine(day, datetime.min.time()) + timedelta(minutes=30)
    link = (
        "http://127.0.0.1:8000/r/x" if kind in ("reminder", "rejected", "urging_letter") else None
    )
    context = notice_context(row, CONFIG, now, CALENDAR, link=link, link_expires=day)
    return ctx, RENDERER.render(kind, language, context)


@pytest.mark.parametrize(
    "case", _cases(), ids=lambda c: f"{c[0]}-{c[2]}-{c[3]}-{c[4]}-{c[5]}-{c[6]}"
)
def test_every_notice_reads_true(case) -> None:
    kind, snapshot, state, level, day, language, numbered = case
    ctx, rendered = _render(*case)
    for text in (rendered.subject, rendered.text):
        for bad in BAD:
            assert not bad.search(text), f"{bad.pattern} in {kind}: {text}"
    body = rendered.text
    if kind == "reminder":
        left = CALENDAR.working_days_between(day, DEADLINE)
        if language == "vi":
            assert f"còn {left} ngày làm việc" in body or left == 0
    if kind == "urging_letter" and language == "vi":
        assert f"quá hạn {(day - DEADLINE).days} ngày" in body
    if kind == "alert":
        intended = ctx["alert"]["to"]
        line = next(x for x in body.splitlines() if "Người nhận dự kiến" in x or "ntended" in x)
        if intended:
            assert all(a in line for a in intended)
        else:
            assert "chưa có địa chỉ" in line or "no address" in line
