"""Rendered examples of every notice kind, for docs/notifications.md.

``python -m notifications.examples`` renders each kind from the built-in templates
with a sample case, writes the HTML, screenshots it with headless Chromium, turns
each formal letter into PDF (LibreOffice) and PNG (pdftoppm) when those tools are
installed, and rewrites the examples section of ``docs/notifications.md`` between
its ``<!-- examples:start -->`` and ``<!-- examples:end -->`` markers, so the
document shows what the templates produce today.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

from kernel.calendar import BusinessCalendar
from kernel.settings import Config, load_config
from notifications.context import notice_context
from notifications.letters import letter_docx, letter_filename
from notifications.render import Renderer

DOCS = Path(__file__).resolve().parent.parent / "docs"
START, END = "<!-- examples:start -->", "<!-- examples:end -->"
NOW = datetime(2021, 9, 14, 0, 30)  # Tuesday 14/09/2021, 07:30 in Tây Ninh
# When each example goes out (07:30 local on the day it would be sent).
SENT = {
    "approval_notice": datetime(2021, 8, 20, 0, 30),
    "reminder": NOW,
    "rejected": datetime(2021, 9, 21, 0, 30),
    "urging_letter": datetime(2021, 9, 22, 0, 30),
    "escalation-1": datetime(2021, 9, 29, 0, 30),
    "escalation-2": datetime(2021, 10, 13, 0, 30),
    "digest": datetime(2021, 9, 20, 0, 30),
    "alert": NOW,
}

TITLES = {
    "approval_notice": "Thông báo nghĩa vụ báo cáo (on approval, to the unit, cc the traveller)",
    "reminder": "Nhắc hạn (5 and 1 working days before the deadline, with .ics)",
    "rejected": "Báo cáo chưa đạt yêu cầu (report sent back, new deadline)",
    "urging_letter": "Công văn đôn đốc (overdue: to the head of the unit, cc the unit, DOCX)",
    "escalation-1": "Đề xuất xử lý, level 1 (to the department's leadership, draft letter)",
    "escalation-2": "Báo cáo UBND tỉnh, level 2 (to provincial leadership and inspectorate)",
    "digest": "Tổng hợp hằng tuần (weekly digest to coordinators and leadership)",
    "alert": "Cảnh báo (a notice that cannot be routed or was refused, to coordinators)",
}


def sample_rows() -> list[tuple[str, dict[str, Any]]]:
    base = {
        "case_id": 12,
        "workflow": "trip",
        "state": "report_due",
        "name": "Nguyễn Văn An",
        "position": "Phó Trưởng phòng",
        "unit_code": "SYT",
        "unit_name": "Sở Y tế",
        "category": "unit",
        "country_codes": ["KH"],
        "purpose": "official",
        "decision_number": "36/QĐ-SNgV",
        "decision_date": "2021-08-20",
        "issuer": "department",
        "planned_start": "2021-08-30",
        "planned_end": "2021-09-06",
        "actual_start": "2021-08-30",
        "actual_end": "2021-09-06",
        "deadline": "2021-09-21",
        "email": "an@syt.example.vn",
        "escalation_level": 0,
        "reason": None,
    }
    cases = [
        {**base, "case_id": 12, "urging_number": "14/SNgV-LSHTQT"},
        {
            **base,
            "case_id": 9,
            "name": "Trần Thị Bình",
            "position": "Chuyên viên",
            "decision_number": "31/QĐ-SNgV",
            "decision_date": "2021-07-12",
            "deadline": "2021-08-10",
            "urging_number": "11/SNgV-LSHTQT",
        },
    ]
    urging = {"letter_number": "14/SNgV-LSHTQT", "date": "2021-09-22"}
    digest = {
        "year": 2021,
        "week": 38,
        "week_start": "2021-09-20",
        "week_end": "2021-09-26",
        "due": [{"name": "Nguyễn Văn An", "unit_name": "Sở Y tế", "deadline": "2021-09-21"}],
        "overdue": [
            {
                "name": "Trần Thị Bình",
                "unit_name": "Sở Y tế",
                "deadline": "2021-08-10",
                "days_overdue": 41,
                "escalation_level": 1,
            }
        ],
        "escalated": [
            {"name": "Trần Thị Bình", "unit_name": "Sở Y tế", "level": 1, "on": "2021-09-17"}
        ],
        "rate": {
            "year": 2021,
            "due": 19,
            "filed": 7,
            "on_time": 5,
            "pct": 37,
            "by_category": [
                {"category": "standing_committee", "due": 1, "filed": 1, "pct": 100},
                {"category": "unit", "due": 18, "filed": 6, "pct": 33},
            ],
        },
    }
    alert = {
        "kind": "reminder",
        "cause": "unroutable",
        "reason": "no address for unit",
        "to": [],
        "missing": ["unit"],
        "outbox_key": "trip:15:reminder:2021-09-21:1",
        "outbox_id": 41,
    }
    return [
        (
            "approval_notice",
            {
                **base,
                "state": "approved",
                "deadline": None,
                "actual_end": None,
                "actual_start": None,
            },
        ),
        ("reminder", base),
        (
            "rejected",
            {
                **base,
                "state": "report_due",
                "deadline": "2021-09-28",
                "reason": "Báo cáo chưa nêu kết quả làm việc với đối tác và kiến nghị, "
                "đề xuất sau chuyến đi.",
            },
        ),
        ("urging_letter", {**base, "state": "overdue"}),
        (
            "escalation",
            {**base, "state": "escalated", "escalation_level": 1, "cases": cases, "urging": urging},
        ),
        (
            "escalation",
            {**base, "state": "escalated", "escalation_level": 2, "cases": cases, "urging": urging},
        ),
        ("digest", {"digest": digest}),
        ("alert", {**base, "unit_name": "Ban Dân tộc", "unit_code": "BDT", "alert": alert}),
    ]


def render_examples(out: Path, config: Config, calendar: BusinessCalendar) -> str:
    """Write HTML, PNG and DOCX files into ``out``; the markdown of the examples."""
    out.mkdir(parents=True, exist_ok=True)
    renderer = Renderer()
    numbers = {
        "urging_letter": "14/SNgV-LSHTQT",
        "escalation-1": "15/SNgV-LSHTQT",
        "escalation-2": "19/SNgV-LSHTQT",
    }
    md: list[str] = []
    for kind, snapshot in sample_rows():
        level = snapshot.get("escalation_level") or (1 if kind == "reminder" else 0)
        name = f"{kind}-{level}" if kind == "escalation" else kind
        row = {
            "kind": kind,
            "level": level,
            "context": snapshot,
            "letter_number": numbers.get(name),
            "case_id": snapshot.get("case_id"),
        }
        link = None
        if kind in ("reminder", "rejected", "urging_letter"):
            link = f"{config.organisation.base_url}/r/eyJjIjoxMn0.YUBZUA.example"
        sent = SENT[name]
        ctx = notice_context(
            row, config, sent, calendar, link=link, link_expires=date(2021, 10, 14)
        )
        if name in numbers:
            ctx["letter_date"] = sent.date().isoformat()
        rendered = renderer.render(kind, "vi", ctx)
        (out / f"{name}.html").write_text(rendered.html, encoding="utf-8")
        html_png = _screenshot(out / f"{name}.html", out / f"{name}.png")
        md += [f"### `{kind}`: {TITLES[name]}", "", f"**Subject:** {rendered.subject}", ""]
        md += ["```text", rendered.text.rstrip(), "```", ""]
        md.append(
            f"![HTML of {name}](notifications/{html_png.name})"
            if html_png
            else "_(HTML screenshot not made: headless Chromium is not installed.)_"
        )
        md.append("")
        if name in numbers:
            letter = renderer.render_letter(kind, "vi", ctx)
            data = letter_docx(
                letter, number=numbers[name], on=sent.date(), org=ctx["org"], created=sent
            )
            docx = out / letter_filename(kind, numbers[name])
            docx.write_bytes(data)
            page = _docx_page(docx, out / f"{name}-letter.png")
            md += [f"The attached letter, [{docx.name}](notifications/{docx.name}):", ""]
            md.append(
                f"![First page of the {name} letter](notifications/{page.name})"
                if page
                else "_(DOCX page image not made: LibreOffice or pdftoppm missing.)_"
            )
            md.append("")
    english = renderer.render(
        "reminder",
        "en",
        notice_context(
            {"kind": "reminder", "level": 1, "context": sample_rows()[1][1]},
            config,
            NOW,
            calendar,
        ),
    )
    md += [
        "### The same reminder in English (a unit whose language is `en`)",
        "",
        f"**Subject:** {english.subject}",
        "",
        "```text",
        english.text.rstrip(),
        "```",
        "",
    ]
    return "\n".join(md)


def _screenshot(html: Path, png: Path) -> Path | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        return None
    subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--screenshot={png}",
            "--window-size=760,1300",
            html.resolve().as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    return png


def _docx_page(docx: Path, png: Path) -> Path | None:
    office = shutil.which("soffice") or shutil.which("libreoffice")
    pdftoppm = shutil.which("pdftoppm")
    if office is None or pdftoppm is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [office, "--headless", "--convert-to", "pdf", "--outdir", tmp, str(docx)],
            check=True,
            capture_output=True,
            timeout=180,
        )
        pdf = Path(tmp) / (docx.stem + ".pdf")
        subprocess.run(
            [
                pdftoppm,
                "-png",
                "-r",
                "80",
                "-f",
                "1",
                "-l",
                "1",
                "-singlefile",
                str(pdf),
                str(png.with_suffix("")),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    return png


def main(argv: list[str]) -> int:
    doc = DOCS / "notifications.md"
    # This script is its own edge: the examples show the built-in configuration with no
    # database, so the calendar in effect is the configured one, without an overlay.
    config = load_config(None, {})
    section = render_examples(DOCS / "notifications", config, config.business_calendar())
    text = doc.read_text(encoding="utf-8")
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    doc.write_text(f"{head}{START}\n\n{section}\n{END}{tail}", encoding="utf-8")
    print(f"wrote {doc} and {DOCS / 'notifications'}/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
