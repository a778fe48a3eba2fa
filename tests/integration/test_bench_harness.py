"""The benchmark harness, end to end at a tiny size: correctness only, no timing.

The timer scenario builds 1,000 cases (100 due), fires them through the real engine
and checks that each fired exactly once before it reports; the harness writes the
figures and the docs table. Plus: the checks do catch a lost or doubled timer.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import firing, run
from bench.common import BenchError

KEYS = {"name", "value", "unit", "baseline", "baseline_value", "ratio"}


def test_timer_scenario_through_the_harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("THEODOI_BENCH_TMP", str(tmp_path))
    results, doc = tmp_path / "results.json", tmp_path / "performance.md"
    doc.write_text(
        "# Performance\n\nintro stays\n\n" + run.TABLE_START + "\nold\n" + run.TABLE_END + "\n\ntail stays\n",
        encoding="utf-8",
    )

    status = run.main(
        ["--only", "timers", "--scale", "0.001", "--results", str(results), "--doc", str(doc)]
    )

    assert status == 0
    figures = json.loads(results.read_text(encoding="utf-8"))
    assert [f["scenario"] for f in figures] == ["timers", "timers"]
    for fig in figures:
        assert set(fig) >= KEYS
        assert fig["value"] > 0 and fig["baseline_value"] > 0 and fig["ratio"] > 0
        assert "100 due of 1,000 cases" in fig["name"]
    assert figures[1]["unit"] == "rows/s"
    assert "5 rows per timer" in figures[1]["note"]
    text = doc.read_text(encoding="utf-8")
    assert "intro stays" in text and "tail stays" in text and "\nold\n" not in text
    assert "timers fired end to end" in text and "Machine:" in text and "SQLite" in text
    assert list(tmp_path.glob("theodoi-bench-*")) == []  # the scratch folder is gone


def _counts(**changes: int) -> dict[str, int]:
    base = {
        "timers": 10,
        "due_pending": 0,
        "fired": 0,
        "events": 0,
        "passed_events": 0,
        "passed_cases": 0,
        "overdue": 0,
        "escalations": 0,
        "outbox": 0,
        "outbox_cases": 0,
        "outbox_parked": 0,
    }
    return {**base, **changes}


def test_the_firing_check_counts_rows_and_catches_lost_or_doubled_timers() -> None:
    before = _counts()
    good = _counts(
        timers=13, fired=3, events=3, passed_events=3, passed_cases=3, overdue=3,
        escalations=3, outbox=3, outbox_cases=3,
    )
    assert firing.verify(before, good, 3) == 5.0

    with pytest.raises(BenchError, match="fired"):
        firing.verify(before, {**good, "fired": 2}, 3)
    with pytest.raises(BenchError, match="twice"):
        firing.verify(before, {**good, "passed_cases": 2}, 3)
    with pytest.raises(BenchError, match="pending"):
        firing.verify(before, {**good, "due_pending": 1}, 3)
    with pytest.raises(BenchError, match="letters"):
        firing.verify(before, {**good, "outbox": 4}, 3)


def test_a_failing_scenario_is_reported_not_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(scale: float) -> list:
        raise BenchError("3 timers fired, 4 were due")

    monkeypatch.setattr("bench.bench_timers.run", broken)
    figures, ok = run.run_scenario("timers", 0.001)
    assert not ok
    assert figures[0]["value"] is None
    assert "3 timers fired, 4 were due" in figures[0]["note"]
    assert "not measured" in run.line(figures[0])
