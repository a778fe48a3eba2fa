"""The truth rule, alone: given what a notice was written for and the case now."""

from __future__ import annotations

from datetime import date

import pytest

from notifications.truth import Facts, check, check_digest, facts_of
from workflows.trip import WORKFLOW as TRIP

TAGS = {state: list(tags) for state, tags in TRIP.tags.items()}


def facts(kind: str, state: str, level: int = 0, deadline: date | None = date(2026, 10, 20)):
    return Facts(kind, 7, state, level, deadline, tags=TAGS)


def case(state: str, level: int = 0, deadline=date(2026, 10, 20), filed=None):
    return {
        "state": state,
        "escalation_level": level,
        "deadline": deadline,
        "report_filed_on": filed,
    }


def test_true_while_the_case_is_as_it_was() -> None:
    assert check(facts("urging_letter", "overdue"), case("overdue")) is None
    assert check(facts("reminder", "report_due"), case("report_due")) is None


def test_filed_overnight_withdraws_the_urging_letter_in_vietnamese() -> None:
    verdict = check(
        facts("urging_letter", "overdue"), case("report_filed", filed=date(2026, 10, 20))
    )
    assert verdict is not None and verdict.code == "filed"
    assert verdict.history == "thông báo không gửi: báo cáo đã nộp ngày 20/10/2026"
    assert verdict.en == "the report was filed on 20/10/2026"


def test_closed_and_cancelled() -> None:
    assert check(facts("reminder", "report_due"), case("closed")).code == "closed"
    assert (
        check(
            facts("approval_notice", "approved", deadline=None), case("cancelled", deadline=None)
        ).code
        == "cancelled"
    )


def test_waiting_states_share_their_phase_the_others_do_not() -> None:
    # approved overnight, departed before 07:30: the approval notice still holds
    assert (
        check(
            facts("approval_notice", "approved", deadline=None), case("travelling", deadline=None)
        )
        is None
    )
    # a reminder of the report due does not hold once the deadline passed
    assert check(facts("reminder", "report_due"), case("overdue")).code == "moved"


def test_level_and_deadline() -> None:
    assert check(facts("escalation", "escalated", 1), case("escalated", 2)).code == "level"
    moved = check(facts("reminder", "report_due"), case("report_due", deadline=date(2026, 11, 3)))
    assert moved.code == "deadline" and "03/11/2026" in moved.vi


def test_without_tags_state_names_decide() -> None:
    plain = Facts("reminder", 7, "report_due", 0, date(2026, 10, 20))
    assert check(plain, case("report_due")) is None
    assert check(plain, case("report_filed", filed=date(2026, 10, 19))).code == "filed"


def test_alerts_digests_and_gone_cases() -> None:
    assert check(Facts("alert", 7, "overdue", 0, None), case("closed")) is None
    assert check(facts("reminder", "report_due"), None).code == "gone"


@pytest.mark.parametrize("legacy", [True, False])
def test_facts_of_a_row_columns_or_the_snapshot(legacy: bool) -> None:
    row = {
        "kind": "reminder",
        "case_id": 3,
        "context": {"state": "report_due", "escalation_level": 0, "deadline": "2026-10-20"},
    }
    if not legacy:
        row.update(for_state="overdue", for_level=1, for_deadline=date(2026, 10, 21))
    got = facts_of(row)
    assert (got.state, got.level, got.deadline) == (
        ("report_due", 0, date(2026, 10, 20)) if legacy else ("overdue", 1, date(2026, 10, 21))
    )


def test_digest_lines_no_longer_true_are_dropped() -> None:
    digest = {
        "due": [{"case_id": 1, "state": "report_due", "deadline": "2026-10-20"}],
        "overdue": [
            {"case_id": 2, "state": "overdue", "deadline": "2026-10-01", "escalation_level": 0},
            {"case_id": 3, "state": "overdue", "deadline": "2026-10-02", "escalation_level": 0},
        ],
        "escalated": [{"case_id": 9}],
    }
    cases = {
        1: case("report_due"),
        2: case("report_filed", deadline=date(2026, 10, 1), filed=date(2026, 10, 5)),
        3: case("overdue", deadline=date(2026, 10, 2)),
    }
    kept, dropped = check_digest(digest, cases)
    assert [i["case_id"] for i in kept["overdue"]] == [3] and len(kept["due"]) == 1
    assert [(i["case_id"], v.code) for i, v in dropped] == [(2, "filed")]
    assert kept["escalated"] == digest["escalated"]
