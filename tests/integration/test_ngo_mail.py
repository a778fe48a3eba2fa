"""NGO report notices delivered over real SMTP (aiosmtpd) while time is simulated:
reminders to the receiving agency and the NGO's contact, the urging letter and the
proposal to leadership, each rendered from its own templates."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest

from cli.simulation import simulate
from cli.wiring import open_app
from engine.app import App
from kernel.clock import ManualClock
from tests.conftest import make_config
from tests.ngo_support import add_project, add_unit, children, local, outbox
from tests.smtp_server import SmtpServer, smtp_server  # noqa: F401


@pytest.fixture
def app(tmp_path: Path, smtp_server: SmtpServer) -> Iterator[App]:  # noqa: F811
    config = make_config(f"sqlite:///{tmp_path / 'theodoi.db'}", **smtp_server.config_env())
    application = open_app(
        config, ManualClock(datetime(2020, 2, 20, 1, 0)), upgrade=True, worker_id="test"
    )
    yield application
    application.close()


def test_reminders_urging_and_escalation_reach_a_real_smtp_server(
    app: App,
    smtp_server: SmtpServer,  # noqa: F811
) -> None:
    project = add_project(app, add_unit(app))
    lines = list(simulate(app, local(app, date(2020, 8, 15)), send=True))
    assert any("opened by case" in line for line in lines)

    h1 = children(app, project)["2020-H1"]
    assert [r.status for r in outbox(app, h1.id)] == ["sent"] * 4
    reminders = smtp_server.by_kind("obligation_reminder")
    assert len(reminders) == 2
    first = reminders[0]
    assert set(first.rcpt_tos) == {
        "ubnd.tanbien@tayninh.gov.vn",
        "contact@wvi.org",
        "skhdt@tayninh.gov.vn",
    }
    assert first.subject == (
        "Nhắc hạn nộp báo cáo 6 tháng đầu năm 2020 của dự án viện trợ "
        "“Nước sạch cho trường học huyện Tân Biên” (hạn 15/07/2020)"
    )
    text = first.text()
    assert "Kính gửi: UBND huyện Tân Biên" in text
    assert "World Vision International" in text
    assert "ngày 15 tháng 7 năm 2020" in text
    assert any(name.endswith(".ics") for name in first.attachments())

    (urging,) = smtp_server.by_kind("obligation_urging_letter")
    assert urging.rcpt_tos[0] == "ubnd.tanbien@tayninh.gov.vn"
    assert "đôn đốc, chấn chỉnh" in urging.subject
    assert any(name.endswith(".docx") for name in urging.attachments())

    (escalation,) = smtp_server.by_kind("obligation_escalation")
    assert "bangiamdoc@songoaivu.local" in escalation.rcpt_tos
    assert escalation.subject.startswith("Đề xuất lãnh đạo xem xét, xử lý")
    assert any(name.endswith(".docx") for name in escalation.attachments())
