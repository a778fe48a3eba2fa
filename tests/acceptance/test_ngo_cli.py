"""The NGO, agreement and workflow commands as a user runs them: the main flows in
real subprocesses, the quick checks through Typer's runner in this process."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from cli.commands import full_app
from tests.acceptance.test_cli import run


def test_projects_and_agreements_through_the_cli(tmp_path: Path) -> None:
    db = tmp_path / "cli.db"
    run(db, "init")
    run(
        db,
        "unit",
        "add",
        "SKHDT",
        "--name",
        "Sở Kế hoạch và Đầu tư",
        "--email",
        "skhdt@example.vn",
        "--head-email",
        "gd.skhdt@example.vn",
    )
    project = run(
        db,
        "--now",
        "2020-02-20 09:00",
        "ngo",
        "add",
        "--ngo",
        "World Vision International",
        "--name",
        "Nước sạch Tân Biên",
        "--code",
        "WV-2020-01",
        "--unit",
        "SKHDT",
        "--receiving-agency",
        "UBND huyện Tân Biên",
        "--managing-agency",
        "UBND tỉnh Tây Ninh",
        "--approval-number",
        "123/QĐ-UBND",
        "--approval-date",
        "15/02/2020",
        "--approving-body",
        "UBND tỉnh",
        "--value",
        "250000",
        "--currency",
        "USD",
        "--start",
        "2020-03-01",
        "--end",
        "2022-02-28",
        "--receiving-agency-email",
        "tanbien@example.vn",
        "--contact-email",
        "wv@example.org",
    ).stdout.strip()
    agreement = run(
        db,
        "--now",
        "2020-02-20 09:00",
        "agreement",
        "add",
        "--title",
        "Thỏa thuận hợp tác Tây Ninh – Prey Veng",
        "--reference",
        "TTQT-2018-PV",
        "--partner",
        "Ủy ban hành chính tỉnh Prey Veng",
        "--country",
        "KH",
        "--unit",
        "SKHDT",
        "--signed",
        "2018-12-17",
        "--start",
        "2018-12-17",
        "--end",
        "2021-12-17",
    ).stdout.strip()
    run(db, "simulate", "--until", "2021-01-20", "--no-send")

    rows = json.loads(run(db, "cases", "--workflow", "ngo_report", "--format", "json").stdout)
    assert [(r["state"], r["deadline"], r["parent_id"]) for r in rows] == [
        ("escalated", "2020-07-15", int(project)),
        ("overdue", "2021-01-15", int(project)),
    ]
    run(db, "--now", "2021-01-20 10:00", "event", str(rows[1]["id"]), "file")
    owed = json.loads(run(db, "ngo", "obligations", project, "--format", "json").stdout)
    assert [(o["period"], o["state"], o["filed_late"]) for o in owed] == [
        ("2020-H1", "escalated", None),
        ("2020-Y", "filed", True),
    ]

    run(db, "simulate", "--until", "2021-12-20", "--no-send")
    reviews = json.loads(run(db, "agreement", "reviews", agreement, "--format", "json").stdout)
    assert [(r["period"], r["deadline"], r["state"]) for r in reviews] == [
        ("review-1", "2022-01-17", "due")
    ]


def test_workflow_list_and_show() -> None:
    runner, app = CliRunner(), full_app()
    names = runner.invoke(app, ["workflow", "list"])
    assert names.exit_code == 0
    assert "ngo_project" in names.stdout and "agreement_review" in names.stdout
    mermaid = runner.invoke(app, ["workflow", "show", "agreement", "--format", "mermaid"])
    assert mermaid.stdout.startswith("stateDiagram-v2")
    assert "in_force --> expiring: expiring ⏱" in mermaid.stdout
    text = runner.invoke(app, ["workflow", "show", "ngo_report"]).stdout
    assert "file: due, overdue, escalated → filed  [tells the parent obligation_filed]" in text
    unknown = runner.invoke(app, ["workflow", "show", "nothing"])
    assert unknown.exit_code == 2 and "unknown workflow" in unknown.stderr


def test_bad_input_is_one_clear_line(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("THEODOI_STORAGE__URL", f"sqlite:///{tmp_path / 'x.db'}")
    runner, app = CliRunner(), full_app()
    assert runner.invoke(app, ["init"]).exit_code == 0
    base = [
        "ngo",
        "add",
        "--ngo",
        "X",
        "--name",
        "Y",
        "--code",
        "Z",
        "--receiving-agency",
        "A",
        "--start",
        "2020-03-01",
    ]
    bad = runner.invoke(app, [*base, "--unit", "NOPE", "--end", "2022-02-28"])
    assert bad.exit_code == 2 and "unknown unit 'NOPE'" in bad.stderr
    runner.invoke(app, ["unit", "add", "SKHDT", "--name", "Sở KHĐT"])
    bad = runner.invoke(app, [*base, "--unit", "SKHDT", "--end", "2019-02-28"])
    assert bad.exit_code == 2 and "not after the start date" in bad.stderr
    bad = runner.invoke(app, [*base, "--unit", "SKHDT", "--end", "31/02/2022"])
    assert bad.exit_code == 2 and "end:" in bad.stderr
