"""Import benchmark: 10,000 trips from an .xlsx file, then a compliance report on them.

    .venv/bin/python bench/bench_import.py [--scale 0.1] [--append]

``run(scale)`` is what ``bench/run.py`` calls; it returns result rows in the format of
``bench/results.json`` (``name, value, unit, baseline, baseline_value, ratio``).

Each figure is reported only after its correctness check: every row became one case,
the cases are in the states their dates imply (checked against an independent
computation), and the compliance report's totals agree with the rows.

Baseline, measured in the same run on the same file: reading it with openpyxl in
read-only mode and nothing else (the floor any .xlsx import pays). The ratio is
theodoi's rows/s over the baseline's rows/s.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.app import App  # noqa: E402
from engine.clock import ManualClock  # noqa: E402
from engine.config import load_config  # noqa: E402
from engine.imports import ImportOptions, import_file  # noqa: E402
from engine.reports import Period, compliance  # noqa: E402

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


def make_rows(n: int, seed: int = 7) -> list[list[object]]:
    """n trips, 2020-01-01 … 2025-05: about two travellers per decision, 40 % filed."""
    rng = random.Random(seed)
    rows: list[list[object]] = []
    day = date(2020, 1, 1)
    number = {}
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
            filed = ""
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


def run(scale: float = 1.0) -> list[dict]:
    n = max(100, int(10_000 * scale))
    with tempfile.TemporaryDirectory(prefix="theodoi-bench-import-") as tmp:
        folder = Path(tmp)
        units, trips, rows = write_files(folder, n)
        config = load_config(env={"THEODOI_STORAGE__URL": f"sqlite:///{folder / 'b.db'}"})
        app = App.open(config, ManualClock(NOW), upgrade=True)
        try:
            import_file(app, "units", units, ImportOptions())
            started = time.perf_counter()
            result = import_file(app, "trips", trips, ImportOptions(actor="bench"))
            elapsed = time.perf_counter() - started
            _check_import(app, result, rows)

            started = time.perf_counter()
            raw = _raw_read(trips)
            raw_elapsed = time.perf_counter() - started
            assert raw == n, f"openpyxl read {raw} rows, expected {n}"

            started = time.perf_counter()
            with app.db.session(write=False) as session:
                report = compliance(
                    session, Period(date(2020, 1, 1), date(2025, 12, 31)), date(2025, 6, 2),
                    config.organisation.tz,
                )
            report_elapsed = time.perf_counter() - started
            filed = sum(1 for r in rows if r[11])
            assert report["cases"] == n, report["cases"]
            assert report["totals"]["filed"] == filed, (report["totals"], filed)
        finally:
            app.close()
    rate, raw_rate = n / elapsed, n / raw_elapsed
    return [
        {
            "name": f"import_trips_xlsx_{n}",
            "value": round(rate, 1),
            "unit": "rows/s",
            "baseline": "openpyxl read-only read of the same file",
            "baseline_value": round(raw_rate, 1),
            "ratio": round(rate / raw_rate, 3),
            "seconds": round(elapsed, 2),
        },
        {
            "name": f"report_compliance_{n}",
            "value": round(report_elapsed, 3),
            "unit": "s",
            "baseline": None,
            "baseline_value": None,
            "ratio": None,
        },
    ]


def _check_import(app: App, result, rows: list[list[object]]) -> None:
    """Every row one new case; filed rows filed, unfiled past rows overdue or escalated."""
    from storage import queries

    created = result.result.count("created")
    assert created == len(rows), f"{created} cases created for {len(rows)} rows"
    with app.db.session(write=False) as session:
        cases = queries.find_cases(session, workflow="trip")
    assert len(cases) == len(rows)
    by_key = {c.name: c for c in cases}
    today = date(2025, 6, 2)
    for row in rows:
        case = by_key[row[3]]
        filed, departure, back = row[11], row[9], row[10]
        if filed:
            expected = {"closed"} if row[12] else {"report_filed"}
        elif departure > today:
            expected = {"approved"}
        elif back > today:
            expected = {"travelling"}
        elif back + timedelta(days=35) < today:
            expected = {"overdue", "escalated"}
        else:
            expected = {"report_due", "overdue", "escalated"}
        assert case.state in expected, (row, case.state)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--append", action="store_true", help="merge into bench/results.json")
    args = parser.parse_args()
    results = run(args.scale)
    for r in results:
        base = f" (baseline {r['baseline']}: {r['baseline_value']} {r['unit']}, ratio {r['ratio']})"
        print(f"{r['name']}: {r['value']} {r['unit']}" + (base if r["baseline"] else ""))
    if args.append:
        path = ROOT / "bench" / "results.json"
        existing = json.loads(path.read_text()) if path.exists() else []
        names = {r["name"] for r in results}
        merged = [r for r in existing if r.get("name") not in names] + results
        path.write_text(json.dumps(merged, ensure_ascii=False, indent=2) + "\n")


if __name__ == "__main__":
    main()
