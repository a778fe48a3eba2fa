"""Is a notice still true? The one rule every way out of the outbox asks.

A notice is written for a moment of its case: the state it was in (with that state's
tags), its escalation level, the deadline the notice states, the step that caused it
(:class:`Facts`, kept on the outbox row). When the notice is about to leave — the
sender, an approval, a resend, a preview — the case is read again and
:func:`check` compares: a notice stays true while the case is in the same phase
(``waiting``, ``due``, ``late``, ``done``, ``cancelled``: the workflow's state tags,
so a trip that departed overnight still gets its approval notice), in the same state
for any phase but ``waiting``, at the same escalation level and with the same
deadline. Otherwise it is withdrawn, with a reason in Vietnamese for the history
(``thông báo không gửi: báo cáo đã nộp ngày 25/11/2025``) and in English.

Pure: no database, no clock. :func:`check_digest` does the same for the lines of a
weekly digest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

PHASES = ("waiting", "due", "late", "done", "cancelled")
ALERT = "alert"
DIGEST = "digest"
HISTORY_PREFIX = "thông báo không gửi"


@dataclass(frozen=True)
class Facts:
    """What a notice was written for."""

    kind: str
    case_id: int | None
    state: str | None
    level: int  # the case's escalation level then
    deadline: date | None  # the deadline the notice states
    caused_at: datetime | None = None
    tags: Mapping[str, Sequence[str]] | None = None  # state → tags, of its workflow


@dataclass(frozen=True)
class Verdict:
    """Why a notice is no longer true (``code``: filed, closed, cancelled, moved,
    level, deadline, gone)."""

    code: str
    vi: str
    en: str

    @property
    def history(self) -> str:
        """The line for the case's history."""
        return f"{HISTORY_PREFIX}: {self.vi}"


def _as_date(value: Any) -> date | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _d(day: date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else "—"


def facts_of(row: Mapping[str, Any]) -> Facts:
    """The facts of an outbox row: its columns, else (rows written before they
    existed) the snapshot the engine wrote into its context."""
    ctx = row.get("context") or {}
    truth = ctx.get("_truth") or {}
    state = row.get("for_state") or ctx.get("state")
    level = row.get("for_level")
    if level is None:
        level = int(ctx.get("escalation_level") or 0)
    deadline = row.get("for_deadline")
    if deadline is None:
        deadline = _as_date(ctx.get("deadline"))
    return Facts(
        kind=row["kind"],
        case_id=row.get("case_id"),
        state=state,
        level=int(level),
        deadline=_as_date(deadline),
        caused_at=row.get("caused_at"),
        tags=truth.get("tags"),
    )


def phase(tags: Mapping[str, Sequence[str]] | None, state: str | None) -> str | None:
    """The phase tag of ``state`` (None when the tags do not know it)."""
    if not tags or state not in tags:
        return None
    return next((t for t in tags[state] if t in PHASES), None)


def applies(facts: Facts) -> bool:
    """Whether the case decides the notice's truth (alerts speak of the system, a
    digest of many cases: see :func:`check_digest`)."""
    return facts.case_id is not None and facts.kind not in (ALERT, DIGEST) and bool(facts.state)


def check(facts: Facts, case: Mapping[str, Any] | None) -> Verdict | None:
    """None when the notice is true of ``case`` as it is now, else why not.

    ``case``: the case's current ``state``, ``escalation_level``, ``deadline``,
    ``report_filed_on`` (a mapping; None when the case no longer exists)."""
    if not applies(facts):
        return None
    if case is None:
        return Verdict("gone", "hồ sơ không còn", "the case no longer exists")
    state = case.get("state")
    level = int(case.get("escalation_level") or 0)
    deadline = _as_date(case.get("deadline"))
    filed_on = _as_date(case.get("report_filed_on"))
    then, now = phase(facts.tags, facts.state), phase(facts.tags, state)
    if then is None or now is None:  # no tags: the state names decide
        then, now = facts.state, state
    if now != then or (state != facts.state and then != "waiting"):
        if now == "done" or (then == facts.state and filed_on):
            if filed_on:
                return Verdict(
                    "filed",
                    f"báo cáo đã nộp ngày {_d(filed_on)}",
                    f"the report was filed on {_d(filed_on)}",
                )
            return Verdict("closed", "hồ sơ đã kết thúc", "the case is closed")
        if now == "cancelled":
            return Verdict("cancelled", "hồ sơ đã hủy", "the case was cancelled")
        return Verdict(
            "moved",
            f"hồ sơ đã chuyển sang trạng thái {state}",
            f"the case is now {state}",
        )
    if level != facts.level:
        return Verdict(
            "level",
            f"hồ sơ đã ở cấp xử lý {level}",
            f"the case is now at escalation level {level}",
        )
    if deadline != facts.deadline:
        if deadline is None:
            return Verdict("deadline", "hồ sơ không còn hạn nộp", "the case has no deadline now")
        return Verdict(
            "deadline",
            f"hạn nộp đã đổi thành ngày {_d(deadline)}",
            f"the deadline is now {_d(deadline)}",
        )
    return None


def line_facts(item: Mapping[str, Any]) -> Facts:
    """A digest line (``state``, ``escalation_level``, ``deadline`` as written)."""
    return Facts(
        kind="digest_line",
        case_id=item.get("case_id"),
        state=item.get("state"),
        level=int(item.get("escalation_level") or 0),
        deadline=_as_date(item.get("deadline")),
    )


DIGEST_LISTS = ("due", "overdue")  # the lines that state a case's current situation


def check_digest(
    digest: Mapping[str, Any], cases: Mapping[int, Mapping[str, Any]]
) -> tuple[dict[str, Any], list[tuple[Mapping[str, Any], Verdict]]]:
    """The digest without its lines that are no longer true, and those lines with why.

    ``cases``: case id → the case now. Lines written before they recorded a state
    are kept. The escalations of the last seven days are past facts: always true."""
    kept = dict(digest)
    dropped: list[tuple[Mapping[str, Any], Verdict]] = []
    for name in DIGEST_LISTS:
        lines = []
        for item in digest.get(name) or ():
            facts = line_facts(item)
            verdict = check(facts, cases.get(facts.case_id)) if facts.state else None
            if verdict is None:
                lines.append(item)
            else:
                dropped.append((item, verdict))
        kept[name] = lines
    return kept, dropped
