"""Deadlines as the law counts them (issue 13): hand-computed deadlines over 2021–2026,
each explained; rule versions; rejection and extension that make sense.

Every expected date below was counted by hand from the official calendar (the day of
the event not counted, Civil Code Art. 147; a last day off moves to the next working
day, Art. 148) and the comment gives the count. Official trips: 15 days after the
return; private trips: 7 working days; official/diplomatic passports: back within 5
working days of re-entry (computed with the calendar directly here).
"""

from __future__ import annotations

import json
from datetime import date, datetime

import pytest
from typer.testing import CliRunner

import storage.cases
import storage.events
import storage.outbox
from engine.app import App
from kernel import deadlines
from kernel.calendar import BusinessCalendar
from kernel.clock import ManualClock
from kernel.errors import InvalidInput
from kernel.settings import DeadlineRule, load_config
from tests.conftest import add_trip, add_unit
from workflows.ngo_project import NgoProjectSettings
from workflows.trip import TripSettings

OFFICIAL, PRIVATE, PASSPORT = "15 days", "7 working days", "5 working days"


@pytest.fixture
def cal() -> BusinessCalendar:
    return load_config(None, {}).business_calendar()  # the shipped configuration


HAND_COMPUTED = [
    # 1. Private trip back Fri 26/04/2024. Sat 27, Sun 28 weekend; Mon 29/04 swapped
    # day off; Tue 30/04, Wed 01/05 holidays; Thu 02/05 (1), Fri 03/05 (2), Sat 04/05
    # worked in exchange (3), Mon 06 (4), Tue 07 (5), Wed 08 (6), Thu 09/05 (7).
    ("private 2024 swap", date(2024, 4, 26), PRIVATE, date(2024, 5, 9)),
    # 2. Official passport, re-entry Mon 05/10/2026: Tue 6 (1), Wed 7 (2), Thu 8 (3),
    # Fri 9 (4), weekend, Mon 12/10 (5).
    ("passport 2026 october", date(2026, 10, 5), PASSPORT, date(2026, 10, 12)),
    # 3. Official trip back Mon 06/09/2021: 15 days end Tue 21/09, a working day.
    ("official 2021 september", date(2021, 9, 6), OFFICIAL, date(2021, 9, 21)),
    # 4. Official trip back Mon 01/02/2021: day 15 is Tue 16/02, inside the Tết break
    # (10–16/02/2021: 29 Tết … Mùng năm) → Wed 17/02/2021.
    ("official 2021 tet", date(2021, 2, 1), OFFICIAL, date(2021, 2, 17)),
    # 5. Private trip back Fri 23/04/2021: Mon 26 (1) … Thu 29 (4); Fri 30/04 holiday,
    # Sat 01/05 holiday on a weekend, Mon 03/05 its day off in lieu; Tue 04 (5),
    # Wed 05 (6), Thu 06/05 (7).
    ("private 2021 labour day", date(2021, 4, 23), PRIVATE, date(2021, 5, 6)),
    # 6. Official trip back Thu 17/04/2025: day 15 is Fri 02/05, the day off swapped
    # for Sat 26/04; Sat 03, Sun 04 → Mon 05/05/2025.
    ("official 2025 swap", date(2025, 4, 17), OFFICIAL, date(2025, 5, 5)),
    # 7. Private trip back Thu 24/04/2025: Fri 25 (1), Sat 26/04 worked (2), Mon 28 (3),
    # Tue 29 (4); Wed 30/04, Thu 01/05 holidays, Fri 02/05 swapped off; Mon 05 (5),
    # Tue 06 (6), Wed 07/05 (7). Without the make-up Saturday it would be 08/05.
    ("private 2025 make-up saturday", date(2025, 4, 24), PRIVATE, date(2025, 5, 7)),
    # 8. Private trip back Thu 20/08/2026: Fri 21 (1), Sat 22/08 worked for Mon 31/08
    # (2), Mon 24 (3) … Fri 28/08 (7).
    ("private 2026 make-up saturday", date(2026, 8, 20), PRIVATE, date(2026, 8, 28)),
    # 9. Official trip back Mon 17/08/2026: day 15 is Tue 01/09, National Day break
    # (Mon 31/08 swapped, 01–02/09 holidays) → Thu 03/09/2026.
    ("official 2026 national day", date(2026, 8, 17), OFFICIAL, date(2026, 9, 3)),
    # 10. Passport, re-entry Thu 27/08/2026: Fri 28 (1); weekend; Mon 31/08 swapped off,
    # Tue 01, Wed 02/09 National Day; Thu 03 (2), Fri 04 (3), Mon 07 (4), Tue 08/09 (5).
    ("passport 2026 national day", date(2026, 8, 27), PASSPORT, date(2026, 9, 8)),
    # 11. Private trip back Tue 06/02/2024: Wed 07 (1); Thu 08/02 (29 Tết) to Wed 14/02
    # (Mùng năm) off; Thu 15 (2), Fri 16 (3), Mon 19 (4) … Thu 22/02/2024 (7).
    ("private 2024 tet", date(2024, 2, 6), PRIVATE, date(2024, 2, 22)),
    # 12. Passport, re-entry Fri 24/01/2025: weekend; Mon 27/01 (29 Tết) to Sat 01/02
    # (Mùng bốn) off, Sun 02; Mon 03 (1) … Fri 07/02/2025 (5).
    ("passport 2025 tet", date(2025, 1, 24), PASSPORT, date(2025, 2, 7)),
    # 13. Official trip back Mon 02/02/2026: day 15 is Tue 17/02, Tết Nguyên Đán
    # (16–20/02 off), then the weekend → Mon 23/02/2026.
    ("official 2026 tet", date(2026, 2, 2), OFFICIAL, date(2026, 2, 23)),
    # 14. Private trip back Fri 24/04/2026: weekend (Sun 26/04 Hùng Kings' day), Mon
    # 27/04 its day off in lieu; Tue 28 (1), Wed 29 (2); Thu 30/04, Fri 01/05 off;
    # Mon 04 (3) … Fri 08/05/2026 (7).
    ("private 2026 hung kings", date(2026, 4, 24), PRIVATE, date(2026, 5, 8)),
]


@pytest.mark.parametrize(("what", "start", "due", "expected"), HAND_COMPUTED, ids=lambda v: str(v))
def test_hand_computed_deadlines(cal, what, start, due, expected) -> None:
    assert cal.deadline(start, due) == expected
    explained = deadlines.explain(cal, start, due, event="return")
    assert explained.result == expected  # the explanation and the calendar agree


def test_the_make_up_saturday_is_counted_and_named(cal) -> None:
    ex = deadlines.explain(cal, date(2024, 4, 26), PRIVATE, event="return")
    skipped = {d.day: d.kind for d in ex.skipped}
    assert skipped == {
        date(2024, 4, 27): "weekend",
        date(2024, 4, 28): "weekend",
        date(2024, 4, 29): "swap",
        date(2024, 4, 30): "holiday",
        date(2024, 5, 1): "holiday",
        date(2024, 5, 5): "weekend",
    }
    assert [d.day for d in ex.makeup] == [date(2024, 5, 4)]
    lines = "\n".join(ex.lines("vi"))
    assert "Không tính 30/04/2024: ngày lễ: Ngày Chiến thắng" in lines
    assert "Có tính 04/05/2024" in lines and "Điều 147" in lines
    assert "Not counted 01/05/2024: public holiday: International Labor Day" in ex.lines("en")


def test_a_last_day_off_moves_under_article_148(cal) -> None:
    ex = deadlines.explain(
        cal,
        date(2021, 2, 1),
        OFFICIAL,
        event="return",
        legal_basis="Điều 12 khoản 2 Thông tư 03/2023/TT-BNV",
    )
    assert ex.last_day == date(2021, 2, 16) and ex.result == date(2021, 2, 17)
    assert [(d.day, d.name) for d in ex.moved] == [(date(2021, 2, 16), "Mùng năm Tết Nguyên Đán")]
    assert ex.skipped == ()  # a rule in days counts calendar days
    assert ex.sentence("vi") == (
        "Hạn được tính: 15 ngày kể từ ngày về nước 01/02/2021 (không tính ngày đó), theo "
        "Điều 12 khoản 2 Thông tư 03/2023/TT-BNV; ngày cuối 16/02/2021 là ngày nghỉ nên "
        "chuyển sang ngày làm việc tiếp theo: 17/02/2021."
    )
    assert ex.sentence("en").startswith("Deadline computed: 15 days from the return on 01/02/2021")
    assert any("Art. 148" in line for line in ex.lines("en"))


def test_a_closure_is_skipped_with_its_source(cal) -> None:
    closed = cal.with_overlay(
        closures=[date(2021, 9, 8)], sources={date(2021, 9, 8): "Quyết định 12/QĐ-UBND"}
    )
    ex = deadlines.explain(closed, date(2021, 9, 6), PRIVATE, event="return")
    assert ex.result == date(2021, 9, 16)  # 8/9 closed: one working day later than 15/9
    [closure] = [d for d in ex.skipped if d.kind == "closure"]
    assert closure.label("vi") == "ngày nghỉ: Quyết định 12/QĐ-UBND"


def test_holiday_names_in_vietnamese_and_english(cal) -> None:
    assert cal.holiday_name(date(2025, 1, 29)) == "Tết Nguyên Đán"
    assert cal.holiday_name(date(2025, 1, 29), "en") == "Lunar New Year"
    assert cal.holiday_name(date(2025, 1, 2)) is None


def test_years_without_a_known_swap_are_provisional(cal) -> None:
    # the package lists swaps for 2024, 2025, 2026; none for 2027 (not decided yet)
    assert all(cal.year_confirmed(year) for year in (2024, 2025, 2026))
    assert not cal.year_confirmed(2027)
    assert cal.with_overlay(confirmed_years=[2027]).year_confirmed(2027)


# -- rules: legal basis and date of effect -----------------------------------------


def test_a_rule_keeps_its_versions_and_the_simple_form_still_loads() -> None:
    rule = NgoProjectSettings().final_report_due
    assert "80/2020/NĐ-CP" in rule.in_force(date(2025, 12, 7)).legal_basis
    assert "313/2025/NĐ-CP" in rule.in_force(date(2025, 12, 8)).legal_basis
    simple = TripSettings(official_report_due="20 days").official_report_due
    assert simple.in_force(date(2021, 1, 1)).due == "20 days"
    assert "Thông tư 03/2023/TT-BNV" in TripSettings().official_report_due.in_force().legal_basis
    with pytest.raises(ValueError, match="order"):
        DeadlineRule.model_validate(
            [
                {"due": "1 day", "effective_from": "2025-01-01"},
                {"due": "2 days", "effective_from": "2024-01-01"},
            ]
        )


# -- the engine: a case keeps its basis, rejection and extension -------------------


def _at(day: date, hour: int = 9) -> datetime:
    """``day`` at ``hour`` in Tây Ninh (UTC+7), as UTC."""
    return datetime(day.year, day.month, day.day, hour - 7)


def _fire(app: App, case_id: int, event: str, reason: str | None = None, **params) -> None:
    with app.db.session() as session:
        app.engine.fire(session, case_id, event, actor="test", reason=reason, params=params)


def _case(app: App, case_id: int):
    with app.db.session(write=False) as session:
        return storage.cases.get_case(session, case_id), storage.events.case_events(session, case_id)


def _trip_back(app: App, clock: ManualClock, back: date, purpose: str = "official") -> int:
    clock.set(_at(back))
    unit = add_unit(app, code=f"U{back:%y%m%d}{purpose[:2]}")
    case_id = add_trip(
        app,
        unit,
        purpose=purpose,
        decided_on=date(back.year, 1, 2),
        planned_start=date(back.year, back.month, 1),
        planned_end=back,
    )
    # departed on the 1st (backdated): the planned return's timer brings it back
    _fire(app, case_id, "depart", on=date(back.year, back.month, 1))
    assert _case(app, case_id)[0].state == "report_due"
    return case_id


def test_a_private_trip_over_the_2024_swap_is_due_on_9_may(app: App, clock: ManualClock) -> None:
    case_id = _trip_back(app, clock, date(2024, 4, 26), "private")
    case, _ = _case(app, case_id)
    assert case.deadline == date(2024, 5, 9)
    kept = case.data["deadlines"]["report"]
    assert kept["rule"]["key"] == "private_report_due" and kept["start"] == "2024-04-26"


def test_a_rejection_never_shortens_the_deadline(app: App, clock: ManualClock) -> None:
    # back Tue 25/11/2025: 15 days → Wed 10/12/2025. Rejected Tue 02/12: 5 working
    # days → Tue 09/12, earlier: the deadline stays 10/12.
    case_id = _trip_back(app, clock, date(2025, 11, 25))
    assert _case(app, case_id)[0].deadline == date(2025, 12, 10)
    clock.set(_at(date(2025, 12, 1)))
    _fire(app, case_id, "file", on=date(2025, 12, 1))
    clock.set(_at(date(2025, 12, 2)))
    _fire(app, case_id, "reject", reason="Thiếu kết quả chuyến đi")
    case, _ = _case(app, case_id)
    assert case.state == "report_due" and case.deadline == date(2025, 12, 10)
    [ex] = deadlines.case_explanations(case, app.engine.calendar)
    assert ex.computed == date(2025, 12, 9) and ex.kept_floor
    # a later rejection gives its own, later deadline: Mon 08/12 + 5 → Mon 15/12
    clock.set(_at(date(2025, 12, 5)))
    _fire(app, case_id, "file", on=date(2025, 12, 5))
    clock.set(_at(date(2025, 12, 8)))
    _fire(app, case_id, "reject", reason="Vẫn thiếu")
    assert _case(app, case_id)[0].deadline == date(2025, 12, 15)


def test_extend_refuses_a_date_not_after_the_deadline(app: App, clock: ManualClock) -> None:
    case_id = _trip_back(app, clock, date(2025, 11, 25))
    for until in (date(2025, 12, 10), date(2025, 12, 1)):
        with pytest.raises(InvalidInput) as refused:
            _fire(app, case_id, "extend", reason="Xin thêm thời gian", until=until)
        assert "hạn mới phải sau hạn hiện tại (10/12/2025)" in str(refused.value)
        assert "must be after the current one (10/12/2025)" in str(refused.value)
    assert _case(app, case_id)[0].deadline == date(2025, 12, 10)


def test_extend_to_a_day_off_moves_to_the_next_working_day(app: App, clock: ManualClock) -> None:
    case_id = _trip_back(app, clock, date(2025, 11, 25))
    _fire(app, case_id, "extend", reason="Đơn vị xin gia hạn", until=date(2025, 12, 14))  # Sunday
    case, events = _case(app, case_id)
    assert case.deadline == date(2025, 12, 15)
    [extend] = [e for e in events if e.event == "extend"]
    assert extend.data["until"] == "2025-12-14" and extend.data["deadline"] == "2025-12-15"
    assert "Điều 148" in extend.data["note"] and extend.reason == "Đơn vị xin gia hạn"


def test_a_correction_moves_the_deadline_and_the_history_says_so(
    app: App, clock: ManualClock
) -> None:
    case_id = _trip_back(app, clock, date(2024, 4, 26), "private")
    with app.db.session() as session:
        app.engine.update_fields(
            session,
            case_id,
            {"actual_end": date(2024, 4, 24)},
            actor="import",
            reason="sửa ngày về",
        )
    case, events = _case(app, case_id)
    # back Wed 24/04/2024: Thu 25 (1), Fri 26 (2), Thu 02/05 (3), Fri 03 (4), Sat 04 (5),
    # Mon 06 (6), Tue 07/05 (7)
    assert case.deadline == date(2024, 5, 7)
    [update] = [e for e in events if e.event == "update"]
    assert update.data["changes"]["deadline"] == ["2024-05-09", "2024-05-07"]
    assert update.reason == "sửa ngày về"


def test_show_json_explains_each_deadline(app: App, clock: ManualClock, monkeypatch) -> None:
    from cli.commands import full_app

    case_id = _trip_back(app, clock, date(2024, 4, 26), "private")
    monkeypatch.setenv("THEODOI_STORAGE__URL", app.config.storage.url)
    result = CliRunner().invoke(full_app(), ["show", str(case_id), "--format", "json"])
    assert result.exit_code == 0, result.output
    [report] = json.loads(result.output)["deadlines"]
    assert report["start"] == "2024-04-26" and report["rule"] == "7 working days"
    assert "58-QĐ/TW" in report["legal_basis"]
    assert report["result"] == "2024-05-09"
    assert {"day": "2024-04-29", "kind": "swap"}.items() <= report["skipped"][2].items()
    assert report["sentence"].startswith(
        "Hạn được tính: 7 ngày làm việc kể từ ngày về nước 26/04/2024"
    )
    table = CliRunner().invoke(full_app(), ["show", str(case_id)])
    assert table.exit_code == 0 and "Điều 147" in table.output


def test_rules_apply_recomputes_open_obligations_and_records_it(
    app: App, clock: ManualClock, monkeypatch, tmp_path
) -> None:
    from cli.commands import full_app

    # opened under the shipped rule (15 days): back Mon 06/09/2021 → 21/09/2021
    case_id = _trip_back(app, clock, date(2021, 9, 6))
    assert _case(app, case_id)[0].deadline == date(2021, 9, 21)
    site = tmp_path / "site.toml"
    site.write_text(
        "[workflows.trip]\nofficial_report_due = [\n"
        '  { due = "15 days", legal_basis = "Thông tư 03/2023/TT-BNV" },\n'
        '  { due = "10 working days", legal_basis = "Quy định mới", effective_from = 2021-09-10 },\n'
        "]\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("THEODOI_STORAGE__URL", app.config.storage.url)
    cli = full_app()
    applied = CliRunner().invoke(
        cli, ["rules", "apply", "trip", "--from", "2021-09-10", "--config", str(site)]
    )
    assert applied.exit_code == 0, applied.output
    case, events = _case(app, case_id)
    # 10 working days after Mon 06/09/2021: Tue 07 (1) … Fri 10 (4), Mon 13 (5) …
    # Fri 17 (9), Mon 20/09/2021 (10)
    assert case.deadline == date(2021, 9, 20)
    assert case.data["deadlines"]["report"]["rule"]["legal_basis"] == "Quy định mới"
    [update] = [e for e in events if e.event == "update"]
    assert update.data["changes"]["deadline"] == ["2021-09-21", "2021-09-20"]
    assert "Quy định mới" in update.reason and "15 days" in update.reason
    again = CliRunner().invoke(
        cli, ["rules", "apply", "trip", "--from", "2021-09-10", "--config", str(site)]
    )
    assert "0 case(s)" in again.output  # nothing left to change: no second history line


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        ("vi", "Hạn được tính: 15 ngày kể từ ngày về nước 06/09/2021 (không tính ngày đó)"),
        ("en", "Deadline computed: 15 days from the return on 06/09/2021 (that day not counted)"),
    ],
)
def test_a_reminder_says_in_one_sentence_how_the_deadline_was_counted(
    app: App, clock: ManualClock, language: str, expected: str
) -> None:
    from notifications.context import notice_context
    from notifications.render import Renderer

    case_id = _trip_back(app, clock, date(2021, 9, 6))  # due Tue 21/09/2021
    clock.set(_at(date(2021, 9, 14)))  # the first reminder: 5 working days before
    app.engine.sweep()
    with app.db.session(write=False) as session:
        [row] = [m for m in storage.outbox.outbox_for_case(session, case_id) if m.kind == "reminder"]
        mapping = {"kind": row.kind, "level": row.level, "case_id": case_id, "context": row.context}
    ctx = notice_context(mapping, app.config, clock.now(), app.engine.calendar)
    text = Renderer().render("reminder", language, ctx).text
    assert expected in " ".join(text.split())
    assert "21/09/2021." in " ".join(text.split())
