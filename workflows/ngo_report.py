"""A report an NGO aid project owes (six-month, annual or final): an obligation,
opened by its project (``workflows.ngo_project``) as a child case.

The receiving agency (chủ khoản viện trợ) and the NGO's own contact get the
reminders before the deadline and the urging letter (văn bản nhắc nhở, chấn chỉnh)
when it passes; when the report stays late, leadership gets a proposal to consider
and handle it (đề xuất lãnh đạo xem xét, xử lý). Lifecycle and settings:
:mod:`workflows.obligation`; settings in ``[workflows.ngo_report]``.
"""

from __future__ import annotations

from kernel.settings import AfterOffsets, BeforeOffsets, DurationText
from workflows.definition import Notice
from workflows.obligation import ObligationNotices, ObligationSettings, obligation_workflow


class NgoReportSettings(ObligationSettings):
    """``[workflows.ngo_report]`` (a project may override each key in its data)."""

    reminders: BeforeOffsets = ("-5 working days", "-1 working days")
    escalation: AfterOffsets = ("10 working days", "30 working days")
    reject_new_deadline: DurationText = "10 working days"


NOTICES = ObligationNotices(
    reminder=Notice(
        "obligation_reminder", to=("receiving_agency", "contact"), cc=("unit",), attach=("ics",)
    ),
    rejected=Notice(
        "obligation_rejected", to=("receiving_agency", "contact"), cc=("unit",), attach=("ics",)
    ),
    urging=Notice(
        "obligation_urging_letter",
        to=("receiving_agency",),
        cc=("contact", "unit"),
        attach=("letter",),
    ),
    escalation=Notice(
        "obligation_escalation", to=("ladder",), cc=("coordinators",), attach=("letter",)
    ),
)

WORKFLOW = obligation_workflow(
    "ngo_report", "Báo cáo dự án viện trợ PCPNN", NOTICES, NgoReportSettings
)
