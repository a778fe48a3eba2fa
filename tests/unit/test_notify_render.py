"""Pure parts of notifications: dates, templates, messages, letters, calendar files, links."""

from __future__ import annotations

import email
import email.policy
import io
from datetime import date, datetime
from pathlib import Path

import pytest
from docx import Document
from icalendar import Calendar

from kernel.countries import country_names
from kernel.settings import load_config
from notifications import dates
from notifications.context import notice_context
from notifications.letters import letter_docx
from notifications.links import InvalidLink, sign_case_link, verify_case_link
from notifications.message import MAIL_POLICY, MessageBuilder
from notifications.outbox import NoticePolicy, lock_alert_row
from notifications.render import Renderer, RenderError, clean_header

NOW = datetime(2021, 9, 14, 0, 30)  # 07:30 in Tây Ninh, a Tuesday
EVIL = 'Lê "Văn" <script>alert(1)</script>\r\nBcc: victim@evil.example'
KINDS = (
    "approval_notice",
    "reminder",
    "rejected",
    "urging_letter",
    "escalation",
    "digest",
    "alert",
    "extension_requested",
    "extension_granted",
    "extension_refused",
    "passport_reminder",
    "passport_rejected",
    "passport_urging",
    "passport_escalation",
)


@pytest.fixture(scope="module")
def config():
    return load_config(None, {})


def snapshot(**over):
    snap = {
        "case_id": 7,
        "workflow": "trip",
        "state": "report_due",
        "name": "Nguyễn Văn An",
        "position": "Chuyên viên",
        "unit_code": "TB",
        "unit_name": "UBND huyện Tân Biên",
        "category": "unit",
        "country_codes": ["KH", "LA"],
        "purpose": "official",
        "decision_number": "36/QĐ-SNgV",
        "decision_date": "2021-08-01",
        "issuer": "department",
        "planned_start": "2021-08-30",
        "planned_end": "2021-09-06",
        "actual_start": "2021-08-30",
        "actual_end": "2021-09-06",
        "deadline": "2021-09-21",
        "email": "an@example.vn",
        "reason": "Thiếu phần kết quả",
        "escalation_level": 0,
        "cases": [{"name": "Nguyễn Văn An", "deadline": "2021-09-21", "case_id": 7}],
        "urging": {"letter_number": "05/SNgV-LSHTQT", "date": "2021-09-22"},
        "digest": {
            "year": 2021,
            "week": 37,
            "week_start": "2021-09-13",
            "week_end": "2021-09-19",
            "due": [],
            "overdue": [],
            "escalated": [],
            "rate": {
                "year": 2021,
                "due": 3,
                "filed": 1,
                "on_time": 1,
                "pct": 33,
                "by_category": [{"category": "unit", "due": 3, "filed": 1, "pct": 33}],
            },
        },
        "alert": {
            "kind": "reminder",
            "cause": "unroutable",
            "reason": "no address for unit",
            "to": [],
            "missing": ["unit"],
            "outbox_key": "trip:7:reminder:2021-09-21:1",
            "outbox_id": 3,
        },
    }
    snap.update(over)
    return snap


def row(kind, level=1, language="vi", **over):
    return {
        "id": 1,
        "key": f"trip:7:{kind}:2021-09-21:{level}",
        "kind": kind,
        "case_id": 7,
        "level": level,
        "language": language,
        "to_addrs": ["tb@example.vn"],
        "cc_addrs": ["an@example.vn"],
        "context": snapshot(**over),
        "message_id": "<abc123@songoaivu.local>",
        "letter_number": "05/SNgV-LSHTQT",
    }


# -- dates -----------------------------------------------------------------------------


def test_vietnamese_dates():
    assert dates.short_date(date(2021, 9, 27)) == "27/09/2021"
    assert dates.short_date("2021-09-27") == "27/09/2021"
    assert dates.long_date("2021-09-27") == "ngày 27 tháng 9 năm 2021"
    assert dates.long_date(date(2021, 11, 23)) == "ngày 23 tháng 11 năm 2021"
    assert dates.long_date(date(2021, 9, 27), "en") == "27 September 2021"
    assert dates.weekday(date(2021, 9, 21)) == "Thứ Ba"
    assert dates.short_date(None) == ""


def test_decree30_leading_zeros():
    assert (
        dates.letter_date_line("Tây Ninh", date(2026, 2, 5))
        == "Tây Ninh, ngày 05 tháng 02 năm 2026"
    )
    assert (
        dates.letter_date_line("Tây Ninh", date(2021, 1, 15))
        == "Tây Ninh, ngày 15 tháng 01 năm 2021"
    )
    assert (
        dates.letter_date_line("Tây Ninh", date(2021, 9, 5)) == "Tây Ninh, ngày 05 tháng 9 năm 2021"
    )
    assert (
        dates.letter_date_line("Tây Ninh", date(2021, 12, 25))
        == "Tây Ninh, ngày 25 tháng 12 năm 2021"
    )
    assert dates.letter_number(5, "SNgV", "LSHTQT") == "05/SNgV-LSHTQT"
    assert dates.letter_number(15, "SNgV", "LSHTQT") == "15/SNgV-LSHTQT"


def test_country_names_as_official_documents_write_them():
    assert country_names(["KH", "LA"]) == "Campuchia, Lào"
    assert country_names("KR,JP") == "Hàn Quốc, Nhật Bản"
    assert country_names(["KH"], "en") == "Cambodia"


# -- templates -------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("language", ["vi", "en"])
def test_every_kind_renders_in_both_languages(config, kind, language):
    ctx = notice_context(row(kind, language=language), config, NOW, config.business_calendar())
    out = Renderer().render(kind, language, ctx)
    assert out.subject and "\n" not in out.subject
    assert out.text.strip() and out.html.lstrip().startswith("<!DOCTYPE html>")
    assert f'lang="{language}"' in out.html


def test_reminder_text_is_exact_vietnamese(config):
    ctx = notice_context(row("reminder"), config, NOW, config.business_calendar())
    out = Renderer().render("reminder", "vi", ctx)
    assert out.subject == (
        "Nhắc hạn nộp báo cáo kết quả chuyến đi nước ngoài: Nguyễn Văn An (hạn 21/09/2021)"
    )
    assert (
        "Hạn nộp báo cáo là ngày 21 tháng 9 năm 2021 (Thứ Ba, 21/09/2021), còn 5 ngày làm việc."
        in out.text
    )
    assert "Quyết định số 36/QĐ-SNgV ngày 01/08/2021" in out.text
    assert "Campuchia, Lào" in out.text


def test_approval_notice_states_the_expected_deadline(config):
    r = row("approval_notice", level=0, deadline=None, actual_end=None, state="approved")
    out = Renderer().render(
        "approval_notice", "vi", notice_context(r, config, NOW, config.business_calendar())
    )
    # 15 days after the planned return of 06/09/2021.
    assert "chậm nhất ngày 21 tháng 9 năm 2021 (21/09/2021)" in out.text


def test_names_are_escaped_in_html_and_cannot_inject_headers(config):
    r = row("reminder", name=EVIL, unit_name='Sở "Y tế" <b>\n', reason="a\nb <i>")
    built = MessageBuilder(config, config.business_calendar()).build(r, NOW)
    raw = built.as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Bcc"] is None
    assert all(name.lower() != "bcc" for name in parsed)
    subject = parsed["Subject"]
    assert "\n" not in subject and "\r" not in subject
    assert 'Lê "Văn" <script>alert(1)</script> Bcc: victim@evil.example' in subject
    html = parsed.get_body(("html",)).get_content()
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&#34;Văn&#34;" in html or "&quot;Văn&quot;" in html
    assert "<b>" not in html


def test_clean_header_removes_every_line_break():
    assert clean_header("a\r\nb\u2028c\x00d\te") == "a b c d e"


def test_subject_decodes_to_exact_vietnamese_after_folding(config):
    r = row("urging_letter", level=0)
    built = MessageBuilder(config, config.business_calendar()).build(r, NOW)
    parsed = email.message_from_bytes(built.as_bytes(), policy=email.policy.default)
    assert parsed["Subject"] == (
        "Công văn số 05/SNgV-LSHTQT về việc đôn đốc nộp báo cáo kết quả chuyến đi nước ngoài: "
        "Nguyễn Văn An"
    )
    assert max(len(line) for line in built.as_bytes().split(b"\r\n")) <= 998


def test_message_headers_and_parts(config):
    built = MessageBuilder(config, config.business_calendar(), secret="s3cret").build(
        row("reminder"), NOW
    )
    msg = email.message_from_bytes(built.as_bytes(), policy=email.policy.default)
    assert msg["Message-ID"] == "<abc123@songoaivu.local>"
    assert msg["Date"] == "Tue, 14 Sep 2021 07:30:00 +0700"
    assert msg["To"] == "tb@example.vn" and msg["Cc"] == "an@example.vn"
    assert msg["From"].addresses[0].display_name == "Sở Ngoại vụ tỉnh Tây Ninh"
    assert built.recipients == ["tb@example.vn", "an@example.vn"]
    assert msg.get_content_type() == "multipart/mixed"
    assert msg.get_body(("plain",)) is not None and msg.get_body(("html",)) is not None
    names = [p.get_filename() for p in msg.iter_attachments()]
    assert names == ["han-nop-bao-cao.ics"]
    assert "http://127.0.0.1:8000/r/" in msg.get_body(("plain",)).get_content()


def test_bad_address_is_a_render_error(config):
    r = row("reminder")
    r["to_addrs"] = ["tb@example.vn\r\nBcc: x@y.z"]
    with pytest.raises(RenderError):
        MessageBuilder(config, config.business_calendar()).build(r, NOW)


def test_missing_template_is_a_render_error(config):
    with pytest.raises(RenderError, match="no template"):
        Renderer().render(
            "no_such_kind",
            "vi",
            notice_context(row("reminder"), config, NOW, config.business_calendar()),
        )


def test_operator_override_is_searched_first(tmp_path: Path, config):
    (tmp_path / "vi").mkdir()
    (tmp_path / "vi" / "reminder.subject.txt").write_text("Nhắc việc riêng: {{ name }}")
    renderer = Renderer(tmp_path)
    out = renderer.render(
        "reminder", "vi", notice_context(row("reminder"), config, NOW, config.business_calendar())
    )
    assert out.subject == "Nhắc việc riêng: Nguyễn Văn An"
    assert "Hạn nộp báo cáo là" in out.text  # the rest still comes from the built-ins


def test_english_falls_back_to_vietnamese_for_a_missing_template(tmp_path: Path, config):
    (tmp_path / "vi").mkdir()
    (tmp_path / "vi" / "custom.subject.txt").write_text("Riêng {{ name }}")
    (tmp_path / "vi" / "custom.txt").write_text("Nội dung")
    (tmp_path / "vi" / "custom.html").write_text('{% extends "vi/_email.html" %}')
    out = Renderer(tmp_path).render(
        "custom", "en", notice_context(row("reminder"), config, NOW, config.business_calendar())
    )
    assert out.subject == "Riêng Nguyễn Văn An"


def test_typo_in_a_template_is_a_render_error(tmp_path: Path, config):
    (tmp_path / "vi").mkdir()
    (tmp_path / "vi" / "reminder.subject.txt").write_text("{{ nmae }}")
    with pytest.raises(RenderError, match="nmae"):
        Renderer(tmp_path).render(
            "reminder",
            "vi",
            notice_context(row("reminder"), config, NOW, config.business_calendar()),
        )


# -- letters -------------------------------------------------------------------------------


def _docx_text(data: bytes) -> tuple[object, str]:
    doc = Document(io.BytesIO(data))
    parts = [p.text for p in doc.paragraphs]
    for table in doc.tables:
        for cell in table._cells:
            parts.extend(p.text for p in cell.paragraphs)
    return doc, "\n".join(parts)


def test_urging_letter_docx_follows_decree_30(config):
    ctx = notice_context(row("urging_letter", level=0), config, NOW, config.business_calendar())
    ctx["letter_date"] = "2026-02-05"
    letter = Renderer().render_letter("urging_letter", "vi", ctx)
    data = letter_docx(letter, number="05/SNgV-LSHTQT", on=date(2026, 2, 5), org=ctx["org"])
    doc, text = _docx_text(data)
    section = doc.sections[0]
    mm = [
        round(v.mm)
        for v in (
            section.page_width,
            section.page_height,
            section.top_margin,
            section.bottom_margin,
            section.left_margin,
            section.right_margin,
        )
    ]
    assert mm == [210, 297, 20, 20, 30, 15]  # A4; margins per Decree 30
    assert doc.styles["Normal"].font.name == "Times New Roman"
    for expected in (
        "UBND TỈNH TÂY NINH",
        "SỞ NGOẠI VỤ",
        "Số: 05/SNgV-LSHTQT",
        "V/v đôn đốc nộp báo cáo kết quả chuyến đi nước ngoài",
        "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc",
        "Tây Ninh, ngày 05 tháng 02 năm 2026",
        "Kính gửi: UBND huyện Tân Biên.",
        "Nguyễn Văn An",
        "21/09/2021",
        "Nơi nhận:",
        "- Như trên;",
        "- Lưu: VT, LSHTQT.",
        "KT. GIÁM ĐỐC",
        "PHÓ GIÁM ĐỐC",
    ):
        assert expected in text, expected
    body = [p for p in doc.paragraphs if p.paragraph_format.first_line_indent]
    assert body and body[-1].text.endswith("./.")
    sizes = {r.font.size.pt for p in body for r in p.runs}
    assert sizes <= {13.0, 14.0}


def test_escalation_letter_level_2_has_several_recipients(config):
    ctx = notice_context(row("escalation", level=2), config, NOW, config.business_calendar())
    letter = Renderer().render_letter("escalation", "vi", ctx)
    assert letter.recipients == ("Ủy ban nhân dân tỉnh Tây Ninh", "Thanh tra tỉnh Tây Ninh")
    data = letter_docx(letter, number="07/SNgV-LSHTQT", on=date(2021, 10, 13), org=ctx["org"])
    _doc, text = _docx_text(data)
    assert "Kính gửi:\n- Ủy ban nhân dân tỉnh Tây Ninh;\n- Thanh tra tỉnh Tây Ninh." in text
    assert "05/SNgV-LSHTQT" in text  # the urging letter it follows


# -- calendar files and links ------------------------------------------------------------------


def test_reminder_ics_is_an_all_day_event_on_the_deadline(config):
    built = MessageBuilder(config, config.business_calendar()).build(row("reminder"), NOW)
    part = next(p for p in built.message.iter_attachments())
    assert part.get_content_type() == "text/calendar"
    cal = Calendar.from_ical(part.get_content())
    (event,) = cal.walk("VEVENT")
    assert event.decoded("dtstart") == date(2021, 9, 21)
    assert "Nguyễn Văn An" in str(event.get("summary"))


def test_signed_link_round_trip_and_expiry():
    token = sign_case_link("k", 42, datetime(2021, 9, 14, 1, 0))
    assert verify_case_link("k", token, 3600, datetime(2021, 9, 14, 1, 30)) == 42
    with pytest.raises(InvalidLink) as expired:
        verify_case_link("k", token, 3600, datetime(2021, 9, 14, 2, 1))
    assert expired.value.expired
    with pytest.raises(InvalidLink):
        verify_case_link("other-key", token, 3600, datetime(2021, 9, 14, 1, 30))
    with pytest.raises(InvalidLink):
        verify_case_link("k", token[:-2] + "xx", 3600, datetime(2021, 9, 14, 1, 30))


def test_policy_folds_long_subjects_into_short_lines():
    msg = email.message.EmailMessage(policy=MAIL_POLICY)
    msg["Subject"] = "Tổng hợp " * 40
    assert all(len(line) <= 78 for line in msg.as_bytes().split(b"\r\n"))


@pytest.mark.parametrize(
    ("language", "words"),
    [
        ("vi", ("bị khóa đăng nhập 15 phút", "không có người dùng nào")),
        ("en", ("locked out of signing in for 15 minutes", "no user has this address")),
    ],
)
def test_a_lock_alert_names_the_account_in_both_languages(config, language, words):
    lock = lock_alert_row(
        "ai@example.vn",
        False,
        "10.0.0.9",
        15,
        config.recipients,
        NOW,
        "songoaivu.local",
        NoticePolicy(language),
    )
    r = {**lock, "id": 9}
    out = Renderer().render(
        "alert", language, notice_context(r, config, NOW, config.business_calendar())
    )
    assert "ai@example.vn" in out.subject and "ai@example.vn" in out.text
    assert "10.0.0.9" in out.text
    assert all(w in out.text for w in words)
    assert "hồ sơ" not in out.text.lower() and "Loại thư" not in out.text
