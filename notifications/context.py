"""The values a template sees: the outbox row's snapshot plus what is derived from it.

The snapshot (written by the engine with the row) holds the case's fields as ISO
strings; here every standard key gets a default (templates use StrictUndefined, so
a typo fails loudly while an absent optional field is just empty), names lose line
breaks, and dates that depend on the calendar are computed once: the expected
deadline of a notice sent before the return, working days left, days overdue, the
date the next escalation step falls on.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from kernel import clock
from kernel.calendar import BusinessCalendar
from kernel.settings import Config, DeadlineRule
from notifications.dates import as_date
from notifications.render import one_line

CASE_KEYS = (
    "case_id",
    "workflow",
    "state",
    "name",
    "position",
    "unit_code",
    "unit_name",
    "category",
    "country_codes",
    "purpose",
    "decision_number",
    "decision_date",
    "issuer",
    "planned_start",
    "planned_end",
    "actual_start",
    "actual_end",
    "deadline",
    "report_filed_on",
    "filed_late",
    "escalation_level",
    "email",
    "reason",
    "at",
)
_ONE_LINE = ("name", "position", "unit_name", "unit_code", "decision_number")
CASE_ITEM_KEYS = (  # the unit's overdue cases listed in an escalation
    "case_id",
    "name",
    "position",
    "unit_name",
    "decision_number",
    "decision_date",
    "actual_end",
    "deadline",
    "days_overdue",
    "escalation_level",
    "urging_number",
    "urging_date",
)
LETTER_KINDS = ("urging_letter", "escalation")  # and the workflows' *_urging_letter, …
DERIVED_KEYS = (
    "link",
    "link_expires",
    "letter_number",
    "letter_date",
    "expected_deadline",
    "working_days_left",
    "days_overdue",
    "next_step_on",
    "urging",
    "cases",
    "digest",
    "alert",
)


def organisation(config: Config) -> dict[str, Any]:
    org = config.organisation
    return {
        "parent_body": org.parent_body,
        "name": org.name,
        "short_name": org.short_name,
        "office_code": org.office_code,
        "place": org.place,
        "display_name": org.display_name,
        "display_name_en": org.display_name_en,
        "signer_title": org.signer_title,
        "signer_position": org.signer_position,
        "signer_name": org.signer_name,
        "base_url": org.base_url,
    }


def notice_context(
    row: Mapping[str, Any],
    config: Config,
    now: datetime,
    calendar: BusinessCalendar,
    *,
    link: str | None = None,
    link_expires: date | None = None,
) -> dict[str, Any]:
    """Everything a template of ``row`` (an outbox row as a mapping) may use.

    ``calendar`` is the one in effect (the engine's, with the admins' overlay)."""
    snapshot = dict(row.get("context") or {})
    ctx: dict[str, Any] = dict.fromkeys(CASE_KEYS)
    ctx.update(dict.fromkeys(DERIVED_KEYS))
    ctx["deadline_explained"] = None
    ctx.update({k: v for k, v in snapshot.items() if not k.startswith("_")})
    for key in _ONE_LINE:
        if ctx.get(key) is not None:
            ctx[key] = one_line(ctx[key])
    ctx["cases"] = ctx["cases"] or []
    today = clock.local_date(now, config.organisation.tz)
    kind = row["kind"]
    level = int(row.get("level") or 0)
    ctx.update(
        kind=kind,
        level=level,
        case_id=ctx["case_id"] or row.get("case_id"),
        workflow=ctx["workflow"] or "trip",
        org=organisation(config),
        today=today.isoformat(),
        now=now.isoformat(),
        letter_number=row.get("letter_number") or ctx["letter_number"],
        link=link,
        link_expires=link_expires.isoformat() if link_expires else None,
    )
    ctx["letter_date"] = ctx["letter_date"] or today.isoformat()
    if not ctx["letter_number"] and kind.endswith(LETTER_KINDS):
        # a letter takes its number when it leaves: a preview shows where it will go
        org = config.organisation
        ctx["letter_number"] = f"…/{org.short_name}-{org.office_code}"
    settings = config.workflow_settings(ctx["workflow"])
    deadline = as_date(ctx["deadline"])
    if deadline is None and ctx["planned_end"]:
        key = "private_report_due" if ctx["purpose"] == "private" else "official_report_due"
        if settings.get(key):
            back = as_date(ctx["planned_end"])
            due = DeadlineRule.model_validate(settings[key]).in_force(back).due  # any form
            expected = calendar.deadline(back, due)
            ctx["expected_deadline"] = expected.isoformat()
    if deadline is not None:
        ctx["working_days_left"] = calendar.working_days_between(today, deadline)
        ctx["days_overdue"] = max((today - deadline).days, 0)
        ladder = list(settings.get("escalation") or ())
        step = level if kind == "escalation" else 0
        if step < len(ladder):
            ctx["next_step_on"] = calendar.add(deadline, ladder[step]).isoformat()
    cases = []
    for item in ctx["cases"]:
        case = {**dict.fromkeys(CASE_ITEM_KEYS), **item}
        for key in _ONE_LINE:
            if case.get(key) is not None:
                case[key] = one_line(case[key])
        if case["deadline"] and case["days_overdue"] is None:
            case["days_overdue"] = max((today - as_date(case["deadline"])).days, 0)
        cases.append(case)
    ctx["cases"] = cases
    return ctx


def link_expiry(config: Config, now: datetime) -> date:
    """The last local day a signed link sent at ``now`` still works."""
    expires = now + timedelta(days=config.web.link_days)
    return clock.local_date(expires, config.organisation.tz)
