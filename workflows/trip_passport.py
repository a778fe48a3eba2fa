"""The passport a traveller hands back after an official trip: an obligation a
returned trip opens as a child case (:data:`FOLLOW_UP`, listed in
``workflows.trip.FOLLOW_UPS``).

A holder of an official or diplomatic passport hands it back to the agency that
manages it within 5 working days of re-entry (the day of re-entry not counted; a
last day off moves to the next working day). The trip records the passport type
(``data["passport"]``: official, diplomatic or ordinary); only official and
diplomatic passports owe this.

Lifecycle: :mod:`workflows.obligation` (due → filed = handed back → closed; overdue,
escalated; suspend/resume; extension requests). Settings ``[workflows.trip_passport]``
(:class:`TripPassportSettings`): ``enabled``, ``due``, ``legal_basis``, ``reminders``,
``escalation``, ``reject_new_deadline``.
"""

from __future__ import annotations

from typing import Any

from kernel.settings import AfterOffsets, BeforeOffsets, DurationText
from workflows.definition import Notice, Term, Vocabulary
from workflows.obligation import (
    FollowUp,
    FollowUpSettings,
    ObligationNotices,
    follow_up_workflow,
)


class TripPassportSettings(FollowUpSettings):
    """``[workflows.trip_passport]``."""

    enabled: bool = True
    due: DurationText = "5 working days"  # after re-entry (its day not counted)
    legal_basis: str = (
        "Luật Xuất cảnh, nhập cảnh của công dân Việt Nam số 49/2019/QH14: nộp lại hộ chiếu "
        "ngoại giao, hộ chiếu công vụ trong 05 ngày làm việc kể từ ngày nhập cảnh"
    )
    reminders: BeforeOffsets = ("-2 working days",)
    escalation: AfterOffsets = ("5 working days", "15 working days")
    reject_new_deadline: DurationText = "3 working days"


# fmt: off
PASSPORT = Vocabulary(
    "passport",
    vi="Loại hộ chiếu",
    en="Passport type",
    terms=(
        Term("official", "Hộ chiếu công vụ", "Official passport",
             aliases=("công vụ", "HCCV", "official passport", "service passport")),
        Term("diplomatic", "Hộ chiếu ngoại giao", "Diplomatic passport",
             aliases=("ngoại giao", "HCNG", "diplomatic passport")),
        Term("ordinary", "Hộ chiếu phổ thông", "Ordinary passport",
             aliases=("phổ thông", "HCPT", "ordinary passport", "thường")),
    ),
)
# fmt: on
OWES_RETURN = ("official", "diplomatic")

NOTICES = ObligationNotices(
    reminder=Notice("passport_reminder", to=("person",), cc=("unit",), attach=("ics",)),
    rejected=Notice("passport_rejected", to=("person",), cc=("unit",)),
    urging=Notice("passport_urging", to=("unit_head",), cc=("unit", "person")),
    escalation=Notice("passport_escalation", to=("ladder",), cc=("coordinators",)),
)

WORKFLOW = follow_up_workflow(
    "trip_passport", "Nộp lại hộ chiếu sau chuyến đi", NOTICES, TripPassportSettings
)


def _owes(case: Any) -> bool:
    return (case.data or {}).get("passport") in OWES_RETURN and case.actual_end is not None


FOLLOW_UP = FollowUp(
    child="trip_passport",
    key="passport",
    label="nộp lại hộ chiếu",
    label_en="passport return",
    applies=_owes,
    starts=lambda case: case.actual_end,
    inherit=("passport",),
)
