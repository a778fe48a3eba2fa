"""A review an international agreement owes (e.g. the summary report every three
years, "tổng kết 03 năm"): an obligation, opened by its agreement
(``workflows.agreement``) as a child case.

The responsible unit gets the reminders, its head the urging letter, leadership
the proposal to handle a review that stays late. Lifecycle and settings:
:mod:`workflows.obligation`; settings in ``[workflows.agreement_review]``.
"""

from __future__ import annotations

from kernel.settings import AfterOffsets, BeforeOffsets, DurationText
from workflows.definition import Notice
from workflows.obligation import ObligationNotices, ObligationSettings, obligation_workflow


class AgreementReviewSettings(ObligationSettings):
    """``[workflows.agreement_review]`` (an agreement may override each key in its data)."""

    reminders: BeforeOffsets = ("-10 working days", "-1 working days")
    escalation: AfterOffsets = ("10 working days", "30 working days")
    reject_new_deadline: DurationText = "10 working days"


NOTICES = ObligationNotices(
    reminder=Notice("obligation_reminder", to=("unit",), cc=("unit_head",), attach=("ics",)),
    rejected=Notice("obligation_rejected", to=("unit",), cc=("unit_head",), attach=("ics",)),
    urging=Notice("obligation_urging_letter", to=("unit_head",), cc=("unit",), attach=("letter",)),
    escalation=Notice(
        "obligation_escalation", to=("ladder",), cc=("coordinators",), attach=("letter",)
    ),
)

WORKFLOW = obligation_workflow(
    "agreement_review", "Tổng kết thỏa thuận quốc tế", NOTICES, AgreementReviewSettings
)
