"""Scenario 6: importing 10,000 trips from .xlsx, and the compliance report over
1,000,000 trips.

    .venv/bin/python -m bench.bench_import [--scale 0.1] [--append]

``run(scale)`` is what ``bench/run.py`` calls (``scale`` 0.1 for ``--quick``).

**Import.** 10,000 trip rows (about two travellers per decision, 2020–2025, 40 %
with a report filed) written to an .xlsx file, imported by the real pipeline
(read, validate, backfill each trip's history as of now, one transaction). Checked
before it is reported: one new case per row, each in the state its dates imply
(computed here independently of the engine), and the compliance report's totals
agree with the rows. Baseline, same file, same run: reading it with openpyxl in
read-only mode and nothing else (the floor any .xlsx import pays); the ratio is
theodoi's rows/s over the baseline's.

**Report.** 1,000,000 trips with their history (bench/dataset.py's mix of states,
plus the events that lead to each state, built by SQL), then ``report compliance``
for the whole year, recomputed from the history. Checked: the totals equal the
counts of the cases' states. Baseline: the naive figure a dashboard would compute,
one ``GROUP BY state`` over the current states (no history, no as-of).
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bench import dataset
from bench.common import REPO, check, figure, say, scratch, sized, sqlite_url, timed

IMPORT_ROWS = 10_000
REPORT_CASES = 1_000_000
NOW = datetime(2025, 6, 2, 3, 0)  # 10:00 local
HEADER = [
    "Số quyết định", "Ngày quyết định", "Cơ quan quyết định", "Họ và tên", "Chức vụ",
    "Đơn vị", "Diện quản lý", "Nước đến", "Mục đích", "Ngày đi", "Ngày về",
    "Ngày nộp báo cáo", "Báo cáo đạt",
]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng"]
MIDDLE = ["Văn", "Thị", "Minh", "Quốc", "Thanh", "Ngọc", "Hữu", "Thu"]
GIVEN = ["An", "Bình", "Châu", "Dũng", "Giang", "Hà", "Hùng", "Lan", "Mai", "Nam", "Phúc",
         "Quân", "Sơn", "Tâm", "Trang", "Tuấn", "Vinh", "Yến"]
COUNTRIES = ["Campuchia", "Lào", "Hàn Quốc", "Nhật Bản", "Thái Lan", "Singapore", "KH", "KR"]


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    return [*import_figures(sized(IMPORT_ROWS, scale, 100)),
            *report_figures(sized(REPORT_CASES, scale, 1000))]


# -- import -------------------------------------------------------------------------------


def make_rows(n: int, seed: int = 7) -> list[list[object]]:
    """n trips, 2020-01-01 … 2025-05: about two travellers per decision, 40 % filed."""
    rng = random.Random(seed)
    rows: list[list[object]] = []
    day = date(2020, 1, 1)
    number: dict[int, int] = {}
    while len(rows) < n:
        day += timedelta(days=rng.choice((0, 0, 1)))
        if day > date(2025, 5, 20):
            day = date(2020, 1, 1) + timedelta(days=rng.randrange(1900))
        issuer = "UBND tỉnh" if rng.random() < 0.05 else "Sở Ngoại vụ"
        number[day.year] = number.get(day.year, 0) + 1
        dnum = f"{number[day.year]:02d}/QĐ-{'UBND' if issuer == 'UBND tỉnh' else 'SNgV'}"
        for _ in range(rng.choice((1, 1, 2, 3))):
            if len(rows) >= n:
                break
            departure = day + timedelta(days=rng.randrange(3, 20))
            back = departure + timedelta(days=rng.randrange(1, 12))
            filed: object = ""
            if back < date(2025, 5, 25) and rng.random() < 0.4:
                filed = min(back + timedelta(days=rng.randrange(0, 40)), date(2025, 6, 1))
            name = f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)} {len(rows)}"
            rows.append([
                dnum, day, issuer, name, "Chuyên viên", f"U{rng.randrange(50):02d}",
                "BTV Tỉnh ủy" if rng.random() < 0.05 else "địa phương, đơn vị",
                rng.choice(COUNTRIES), "việc riêng" if rng.random() < 0.2 else "công vụ",
                departure, back, filed, "có" if filed and rng.random() < 0.5 else "",
            ])
    return rows


def write_files(folder: Path, n: int) -> tuple[Path, Path, list[list[object]]]:
    from openpyxl import Workbook

    units = folder / "units.csv"
    units.write_text(
        "code,name,email\n"
        + "".join(f"U{i:02d},Đơn vị {i:02d},u{i:02d}@bench.local\n" for i in range(50)),
        encoding="utf-8",
    )
    rows = make_rows(n)
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Đoàn ra")
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    trips = folder / "trips.xlsx"
    book.save(trips)
    return units, trips, rows


def _raw_read(path: Path) -> int:
    from openpyxl import load_workbook

    book = load_workbook(path, read_only=True, data_only=True)
    count = sum(1 for _ in book.worksheets[0].iter_rows(values_only=True)) - 1
    book.close()
    return count


def _expected_states(row: list[object], today: date) -> set[str]:
    filed, departure, back = row[11], row[9], row[10]
    if filed:
        return {"closed"} if row[12] else {"report_filed"}
    if departure > today:  # type: ignore[operator]
        return {"approved"}
    if back > today:  # type: ignore[operator]
        return {"travelling"}
    if back + timedelta(days=35) < today:  # type: ignore[operator]
        return {"overdue", "escalated"}
    return {"report_due", "overdue", "escalated"}


def import_figures(n: int) -> list[dict[str, Any]]:
    import storage.cases
    from bench.common import open_app
    from engine.imports import ImportOptions, import_file
    from engine.reports import Period, compliance

    with scratch("import") as folder:
        say(f"import: writing {n:,} trips to .xlsx")
        units, trips, rows = write_files(folder, n)
        app = open_app(sqlite_url(folder / "import.db"), NOW)
        try:
            app.db.upgrade()
            import_file(app, "units", units, ImportOptions())
            say("import: importing")
            clock = timed()
            with clock.running():
                result = import_file(app, "trips", trips, ImportOptions(actor="bench"))
            check(result.result.count("created") == n, f"{result.result.count('created')} cases "
                  f"created for {n} rows")
            with app.db.session(write=False) as session:
                cases = {c.name: c for c in storage.cases.find_cases(session, workflow="trip")}
                report = compliance(session, Period(date(2020, 1, 1), date(2025, 12, 31)),
                                    date(2025, 6, 2), app.config.organisation.tz)
            check(len(cases) == n, f"{len(cases)} trip cases for {n} rows")
            today = date(2025, 6, 2)
            wrong = [r[3] for r in rows if cases[r[3]].state not in _expected_states(r, today)]
            check(not wrong, f"{len(wrong)} trips in the wrong state, e.g. {wrong[:3]}")
            filed = sum(1 for r in rows if r[11])
            check(report["cases"] == n and report["totals"]["filed"] == filed,
                  f"report: {report['cases']} cases, {report['totals']['filed']} filed; "
                  f"expected {n}, {filed}")
            raw_clock = timed()
            with raw_clock.running():
                raw = _raw_read(trips)
            check(raw == n, f"openpyxl read {raw} rows, expected {n}")
        finally:
            app.close()
    rate, raw_rate = n / clock.wall, n / raw_clock.wall
    return [
        figure(f"import_trips_xlsx_{n}", rate, "rows/s",
               "openpyxl read-only read of the same file", raw_rate,
               note=f"{clock.wall:.1f} s wall, {clock.cpu:.1f} s CPU for {n:,} trips"),
    ]


# -- report -------------------------------------------------------------------------------

_DAY = "|| ' 00:00:00.000000'"
# The history that leads to each state of bench/dataset.py's mix (the cases carry their
# dates; the events take them). One INSERT … SELECT per step.
_EVENTS_SQL = [
    f"""SELECT id, 'create', NULL, 'approved', date(planned_start, '-10 days') {_DAY},
        '{{}}' FROM "case" """,
    f"""SELECT id, 'depart', 'approved', 'travelling', actual_start {_DAY}, '{{}}'
        FROM "case" WHERE actual_start IS NOT NULL""",
    f"""SELECT id, 'return', 'travelling', 'returned', actual_end {_DAY}, '{{}}'
        FROM "case" WHERE actual_end IS NOT NULL""",
    f"""SELECT id, 'open_report', 'returned', 'report_due', actual_end {_DAY}, '{{}}'
        FROM "case" WHERE actual_end IS NOT NULL""",
    f"""SELECT id, 'file', CASE WHEN filed_late THEN 'overdue' ELSE 'report_due' END,
        'report_filed', report_filed_on {_DAY},
        '{{"on": "' || report_filed_on || '"}}' FROM "case" WHERE state = 'closed'""",
    f"""SELECT id, 'accept', 'report_filed', 'closed', report_filed_on {_DAY}, '{{}}'
        FROM "case" WHERE state = 'closed'""",
    f"""SELECT id, 'deadline_passed', 'report_due', 'overdue', date(deadline, '+1 day') {_DAY},
        '{{}}' FROM "case" WHERE state = 'escalated'""",
    f"""SELECT id, 'escalate', 'overdue', 'escalated', date(deadline, '+8 days') {_DAY},
        '{{}}' FROM "case" WHERE state = 'escalated'""",
    f"""SELECT id, 'escalate', 'escalated', 'escalated', date(deadline, '+22 days') {_DAY},
        '{{}}' FROM "case" WHERE state = 'escalated'""",
]


def build_report_dataset(path: Path, cases: int) -> dict[str, int]:
    """bench/dataset.py's trips (no timer due), then their history."""
    dataset.build_sqlite(path, dataset.simple_plan(cases, 0))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        conn.execute("DROP INDEX ix_event_case_at")
        for select_sql in _EVENTS_SQL:
            conn.execute(
                "INSERT INTO event (case_id, event, from_state, to_state, at, data, actor, "
                f"recorded_at) SELECT *, 'bench', '2025-06-13 00:00:00.000000' FROM ({select_sql})"
            )
        conn.execute("CREATE INDEX ix_event_case_at ON event (case_id, at)")
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        counts = dict(conn.execute('SELECT state, count(*) FROM "case" GROUP BY state'))
        counts["events"] = conn.execute("SELECT count(*) FROM event").fetchone()[0]
    finally:
        conn.close()
    return counts


def report_figures(n: int) -> list[dict[str, Any]]:
    from bench.common import open_app
    from engine.reports import Period, compliance

    with scratch("report") as folder:
        path = folder / "report.db"
        say(f"report: building {n:,} trips with their history")
        counts = build_report_dataset(path, n)
        app = open_app(sqlite_url(path), datetime(2026, 1, 1))
        try:
            say("report: compliance over the whole year")
            clock = timed()
            with clock.running(), app.db.session(write=False) as session:
                report = compliance(session, Period(date(2025, 1, 1), date(2025, 12, 31)),
                                    date(2026, 1, 1), app.config.organisation.tz)
        finally:
            app.close()
        totals = report["totals"]
        check(report["cases"] == n, f"report counts {report['cases']} trips of {n}")
        expected = (counts.get("closed", 0), counts.get("escalated", 0),
                    counts.get("report_due", 0))
        got = (totals["filed"], totals["outstanding"], totals["not_yet_due"])
        check(got == expected, f"filed/outstanding/not yet due {got}, expected {expected}")
        conn = sqlite3.connect(path)
        base = timed()
        with base.running():
            naive = dict(conn.execute('SELECT state, count(*) FROM "case" GROUP BY state'))
        conn.close()
        check(sum(naive.values()) == n, "the naive count disagrees with the case count")
    return [
        figure(f"report_compliance_{n}", clock.wall, "s",
               "GROUP BY state over current states (no history)", base.wall,
               note=f"{counts['events']:,} history rows; {clock.cpu:.1f} s CPU"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--append", action="store_true", help="merge into bench/results.json")
    args = parser.parse_args()
    results = run(args.scale)
    for r in results:
        base = (f" (baseline {r['baseline']}: {r['baseline_value']}, ratio {r['ratio']})"
                if r["baseline"] else "")
        print(f"{r['name']}: {r['value']} {r['unit']}{base}")
    if args.append:
        path = REPO / "bench" / "results.json"
        existing = json.loads(path.read_text()) if path.exists() else []
        names = {r["name"] for r in results}
        merged = [r for r in existing if r.get("name") not in names] + results
        path.write_text(json.dumps(merged, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    sys.exit(main())
