"""International agreements: the review obligation and the expiry reminders on the
configured dates, renewal, and the review's own lifecycle — real engine, SQLite."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from kernel.clock import ManualClock
from tests.ngo_support import (
    add_agreement,
    add_unit,
    case,
    children,
    fire,
    history,
    local,
    outbox,
    run_until,
)

SIGNED, END = date(2018, 12, 17), date(2021, 12, 17)


@pytest.fixture
def clock() -> ManualClock:
    # 17 December 2018, 09:00 in Tây Ninh: the day the agreement is signed.
    return ManualClock(datetime(2018, 12, 17, 2, 0))


def test_three_year_agreement_owes_its_review_and_gets_expiry_reminders_on_time(app):
    agreement = add_agreement(app, add_unit(app), SIGNED, END)
    run_until(app, date(2022, 1, 20))

    # Expiring six months before the end; reminders 10 and 1 working days before it.
    moves = [(e.event, e.at) for e in history(app, agreement) if e.from_state != e.to_state]
    assert moves == [
        ("create", local(app, SIGNED, time(9, 0))),
        ("expiring", local(app, date(2021, 6, 17), time(7, 30))),
        ("expire", local(app, date(2021, 12, 18))),  # 24:00 of the last day
    ]
    rows = outbox(app, agreement)
    assert [(r.kind, r.level, r.context["at"]) for r in rows] == [
        ("agreement_expiring", 0, local(app, date(2021, 6, 17), time(7, 30)).isoformat()),
        ("agreement_expiring", 1, local(app, date(2021, 12, 3), time(7, 30)).isoformat()),
        ("agreement_expiring", 2, local(app, date(2021, 12, 16), time(7, 30)).isoformat()),
    ]
    assert rows[0].to_addrs == ["skhdt@tayninh.gov.vn"]
    assert rows[0].cc_addrs == ["bangiamdoc@songoaivu.local", "lshtqt@songoaivu.local"]
    assert case(app, agreement).state == "expired"

    # The three-year review opens on the anniversary (its last day), due 30 days on.
    reviews = children(app, agreement)
    assert list(reviews) == ["review-1"]
    review = reviews["review-1"]
    assert history(app, review.id)[0].at == local(app, END)
    assert review.deadline == date(2022, 1, 17)  # 16/01/2022 is a Sunday
    assert review.workflow == "agreement_review"
    assert review.state == "overdue"
    kinds = [(r.kind, r.level) for r in outbox(app, review.id)]
    assert kinds == [
        ("obligation_reminder", 1),
        ("obligation_reminder", 2),
        ("obligation_urging_letter", 0),
    ]


def test_reviews_recur_every_period_and_renewal_rearms_them(app):
    agreement = add_agreement(app, add_unit(app), date(2018, 1, 1), date(2024, 12, 31))
    run_until(app, date(2021, 1, 2))
    assert list(children(app, agreement)) == ["review-1"]
    run_until(app, date(2024, 2, 1), time(9, 0))
    fire(app, agreement, "renew", reason="Ký gia hạn", params={"until": date(2029, 12, 31)})
    run_until(app, date(2030, 1, 2))
    reviews = children(app, agreement)
    # Every three years from the start; the last stretch's review on the last day.
    assert list(reviews) == ["review-1", "review-2", "review-3", "review-4"]
    assert [r.data["period_end"] for r in reviews.values()] == [
        "2021-01-01",
        "2024-01-01",
        "2027-01-01",
        "2029-12-31",
    ]
    parent = case(app, agreement)
    assert parent.deadline == date(2029, 12, 31)
    assert parent.data["renewals"][0]["from"] == "2024-12-31"
    # Renewed before it was expiring: only the new term's expiry is announced.
    expiring = [r for r in outbox(app, agreement) if r.level == 0]
    assert [(r.context["deadline"], r.context["at"]) for r in expiring] == [
        ("2029-12-31", local(app, date(2029, 6, 29), time(7, 30)).isoformat())
    ]


def test_a_filed_review_is_on_time_and_can_be_sent_back(app):
    agreement = add_agreement(app, add_unit(app), SIGNED, END)
    run_until(app, date(2022, 1, 10), time(10, 0))
    review = children(app, agreement)["review-1"]
    fire(app, review.id, "file")
    filed = case(app, review.id)
    assert (filed.state, filed.report_filed_on, filed.filed_late) == (
        "filed",
        date(2022, 1, 10),
        False,
    )
    fire(app, review.id, "reject", reason="Chưa đánh giá kết quả hợp tác y tế")
    again = case(app, review.id)
    assert again.state == "due" and again.deadline > filed.deadline
    rejected = [r for r in outbox(app, review.id) if r.kind == "obligation_rejected"]
    assert rejected and rejected[0].context["reason"] == "Chưa đánh giá kết quả hợp tác y tế"
