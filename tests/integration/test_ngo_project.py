"""NGO aid projects: the report schedule, filings, escalation, suspension, extension,
and the project following its final report — through the real engine on SQLite."""

from __future__ import annotations

from datetime import date, datetime, time

import pytest

from kernel.clock import ManualClock
from tests.ngo_support import (
    add_project,
    add_unit,
    case,
    children,
    fire,
    history,
    local,
    outbox,
    run_until,
)

START, END = date(2020, 3, 1), date(2022, 2, 28)


@pytest.fixture
def clock() -> ManualClock:
    # 20 February 2020, 08:00 in Tây Ninh: the project's approval, before it starts.
    return ManualClock(datetime(2020, 2, 20, 1, 0))


def test_a_two_year_project_opens_six_month_and_annual_reports_on_the_right_dates(app):
    project = add_project(app, add_unit(app), START, END)
    run_until(app, date(2022, 3, 2))
    reports = children(app, project)
    assert list(reports) == ["2020-H1", "2020-Y", "2021-H1", "2021-Y", "final"]
    deadlines = {key: c.deadline for key, c in reports.items()}
    assert deadlines == {
        "2020-H1": date(2020, 7, 15),
        "2020-Y": date(2021, 1, 15),
        "2021-H1": date(2021, 7, 15),
        "2021-Y": date(2022, 1, 17),  # 15/01/2022 is a Saturday
        "final": date(2022, 3, 30),  # 30 days after the end date
    }
    opened = {key: history(app, c.id)[0].at for key, c in reports.items()}
    # Each period's report opens at 24:00 local of its last day.
    assert opened == {
        "2020-H1": local(app, date(2020, 7, 1)),
        "2020-Y": local(app, date(2021, 1, 1)),
        "2021-H1": local(app, date(2021, 7, 1)),
        "2021-Y": local(app, date(2022, 1, 1)),
        "final": local(app, date(2022, 3, 1)),
    }
    assert all(c.unit_id is not None and c.parent_id == project for c in reports.values())
    assert reports["2020-H1"].data["label"] == "6 tháng đầu năm 2020"
    assert reports["2020-H1"].data["receiving_agency"] == "UBND huyện Tân Biên"
    parent = case(app, project)
    assert parent.state == "final_report_due"
    assert parent.data["opened"] == list(reports)
    assert [e.event for e in history(app, project) if e.to_state != e.from_state] == [
        "create",
        "start",
        "complete",
        "open_final_report",
    ]


def test_filed_late_and_missing_reports_end_in_the_right_mix(app):
    project = add_project(app, add_unit(app), START, END)
    # 2020-H1 filed on time.
    run_until(app, date(2020, 7, 10), time(9, 0))
    fire(app, children(app, project)["2020-H1"].id, "file")
    # 2020-Y never filed. 2021-H1 filed five days late.
    run_until(app, date(2021, 7, 20), time(9, 0))
    fire(app, children(app, project)["2021-H1"].id, "file", params={"on": date(2021, 7, 20)})
    # 2021-Y filed on its (moved) deadline.
    run_until(app, date(2022, 1, 17), time(16, 0))
    fire(app, children(app, project)["2021-Y"].id, "file")
    # The final report is not filed by 05/04/2022.
    run_until(app, date(2022, 4, 5))

    reports = children(app, project)
    summary = {key: (c.state, c.filed_late, c.escalation_level) for key, c in reports.items()}
    assert summary == {
        "2020-H1": ("filed", False, 0),
        "2020-Y": ("escalated", None, 2),
        "2021-H1": ("filed", True, 0),
        "2021-Y": ("filed", False, 0),
        "final": ("overdue", None, 0),
    }
    # The late one went through overdue before it was filed; the history says so.
    late = [(e.event, e.to_state) for e in history(app, reports["2021-H1"].id)]
    assert ("deadline_passed", "overdue") in late and late[-1] == ("file", "filed")


def test_reminders_go_to_the_receiving_agency_and_the_ngo_contact(app):
    project = add_project(app, add_unit(app), START, END)
    run_until(app, date(2020, 8, 15))
    h1 = children(app, project)["2020-H1"]
    rows = outbox(app, h1.id)
    kinds = [(r.kind, r.level) for r in rows]
    assert kinds == [
        ("obligation_reminder", 1),
        ("obligation_reminder", 2),
        ("obligation_urging_letter", 0),
        ("obligation_escalation", 1),
    ]
    reminder = rows[0]
    assert reminder.to_addrs == ["ubnd.tanbien@tayninh.gov.vn", "contact@wvi.org"]
    assert reminder.cc_addrs == ["skhdt@tayninh.gov.vn"]
    assert reminder.context["label"] == "6 tháng đầu năm 2020"
    assert reminder.context["ngo_name"] == "World Vision International"
    # 5 and 1 working days before 15/07/2020, at the start of office hours.
    assert reminder.context["at"] == local(app, date(2020, 7, 8), time(7, 30)).isoformat()
    assert rows[2].to_addrs == ["ubnd.tanbien@tayninh.gov.vn"]
    assert rows[3].to_addrs == ["bangiamdoc@songoaivu.local"]  # leadership, level 1


def test_suspension_opens_nothing_moves_no_deadline_back_and_is_in_the_history(app):
    project = add_project(app, add_unit(app), START, END)
    run_until(app, date(2020, 6, 1), time(9, 0))
    fire(app, project, "suspend", reason="Nhà tài trợ tạm dừng giải ngân")
    suspended_at = local(app, date(2020, 6, 1), time(9, 0))
    run_until(app, date(2020, 9, 1), time(9, 0))
    assert children(app, project) == {}, "a report opened during the suspension"
    fire(app, project, "resume")
    resumed_at = local(app, date(2020, 9, 1), time(9, 0))
    run_until(app, date(2021, 1, 2))

    reports = children(app, project)
    assert list(reports) == ["2020-H1", "2020-Y"]
    # The first half ended during the suspension: its report opens on resumption, its
    # deadline counted from there (15 days), never earlier than its own 15/07/2020.
    assert history(app, reports["2020-H1"].id)[0].at == resumed_at
    assert reports["2020-H1"].deadline == date(2020, 9, 16)
    assert reports["2020-H1"].data["original_deadline"] == "2020-07-15"
    assert reports["2020-Y"].deadline == date(2021, 1, 15)
    for report in reports.values():
        assert report.deadline >= date.fromisoformat(report.data["original_deadline"])
        opened = history(app, report.id)[0].at
        assert not suspended_at <= opened < resumed_at

    events = [(e.event, e.at, e.reason) for e in history(app, project)]
    assert ("suspend", suspended_at, "Nhà tài trợ tạm dừng giải ngân") in events
    assert ("resume", resumed_at, None) in events
    parent = case(app, project)
    assert parent.data["suspensions"][0]["days"] == 92
    assert parent.data["suspended_days"] == 92


def test_a_period_wholly_inside_the_suspension_owes_nothing(app):
    project = add_project(app, add_unit(app), START, END)
    run_until(app, date(2020, 12, 20), time(9, 0))
    fire(app, project, "suspend", reason="Tạm dừng")
    run_until(app, date(2021, 7, 5), time(9, 0))
    fire(app, project, "resume")
    keys = list(children(app, project))
    # 2020-Y ended in the suspension but covers worked months: it opens on resumption.
    # 2021-H1 (January–June 2021) lies wholly inside the suspension: nothing owed.
    assert keys == ["2020-H1", "2020-Y"]
    assert children(app, project)["2020-Y"].deadline == date(2021, 7, 20)


def test_extension_rearms_the_schedule_and_is_in_the_history(app):
    project = add_project(app, add_unit(app), START, END)
    run_until(app, date(2021, 3, 1), time(9, 0))
    fire(
        app,
        project,
        "extend",
        reason="Quyết định gia hạn số 12/QĐ-UBND",
        params={"until": date(2022, 8, 31)},
    )
    run_until(app, date(2022, 9, 2))
    reports = children(app, project)
    assert list(reports) == ["2020-H1", "2020-Y", "2021-H1", "2021-Y", "2022-H1", "final"]
    assert reports["2022-H1"].deadline == date(2022, 7, 15)
    assert reports["final"].deadline == date(2022, 9, 30)
    parent = case(app, project)
    assert parent.planned_end == date(2022, 8, 31)
    assert parent.actual_end == date(2022, 8, 31)
    assert parent.data["extensions"][0]["from"] == "2022-02-28"
    extend = [e for e in history(app, project) if e.event == "extend"]
    assert extend and extend[0].data["until"] == "2022-08-31"


def test_extension_refuses_an_earlier_end_date(app):
    from kernel.errors import TransitionNotAllowed

    project = add_project(app, add_unit(app), START, END)
    run_until(app, date(2020, 4, 1))
    with pytest.raises(TransitionNotAllowed, match="must be after"):
        fire(app, project, "extend", params={"until": date(2021, 1, 1)})


def test_the_project_follows_its_final_report(app):
    project = add_project(app, add_unit(app), START, END)
    run_until(app, date(2022, 3, 10), time(9, 0))
    final = children(app, project)["final"]
    # A periodic report's news does not move the project.
    fire(app, children(app, project)["2020-H1"].id, "file")
    assert case(app, project).state == "final_report_due"
    fire(app, final.id, "file")
    assert case(app, project).state == "final_report_filed"
    fire(app, final.id, "reject", reason="Thiếu số liệu giải ngân")
    assert case(app, project).state == "final_report_due"
    # 10 working days after 10/3 is 24/3, earlier than the deadline in force (30/3,
    # 30 days after the end on 28/2): a rejection never shortens it, 30/3 stays
    assert case(app, final.id).deadline == date(2022, 3, 30)
    fire(app, final.id, "file")
    fire(app, final.id, "accept")
    assert case(app, project).state == "closed"
    closing = history(app, project)[-1]
    assert (closing.event, closing.data["child_id"], closing.data["child_key"]) == (
        "obligation_closed",
        final.id,
        "final",
    )


def test_per_project_settings_override_the_configuration(app):
    project = add_project(
        app,
        add_unit(app),
        START,
        END,
        periods=[{"name": "Y", "period_end": "12-31", "due": "30 days", "label": "năm {year}"}],
        final_report_due="60 days",
        reminders=["-3 working days"],
    )
    run_until(app, date(2022, 3, 2))
    reports = children(app, project)
    assert list(reports) == ["2020-Y", "2021-Y", "final"]
    assert reports["2020-Y"].deadline == date(2021, 2, 1)  # 30/01/2021 is a Saturday
    assert reports["final"].deadline == date(2022, 4, 29)
    assert reports["2020-Y"].data["reminders"] == ["-3 working days"]
    reminders = [r for r in outbox(app, reports["2020-Y"].id) if r.kind == "obligation_reminder"]
    assert len(reminders) == 1


def test_cancelling_a_project_stops_its_schedule(app):
    project = add_project(app, add_unit(app), START, END)
    run_until(app, date(2020, 10, 1))
    fire(app, project, "cancel", reason="Nhà tài trợ rút dự án")
    run_until(app, date(2022, 6, 1))
    assert list(children(app, project)) == ["2020-H1"]
    assert case(app, project).state == "cancelled"
