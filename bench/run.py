"""The benchmark harness: ``python -m bench.run [--quick] [--only NAME[,NAME]]``.

Runs every scenario (or the named ones), prints one line per figure, writes the
figures to ``bench/results.json`` (a list of ``{"name", "value", "unit", "baseline",
"baseline_value", "ratio"}``, plus ``scenario``, ``goal``, ``met`` and ``note`` where
they apply) and regenerates the table in ``docs/performance.md`` with the machine it
ran on. ``--quick`` runs every scenario at a tenth of its size, for trying changes:
its figures go to ``var/bench/results-quick.json`` and the docs are left alone
(``--scale`` sets any factor; ``--results`` and ``--doc`` write elsewhere, as the
harness test does). ``--only`` replaces the named scenarios' figures and keeps the
others.

A scenario that fails its own correctness check reports no figure; the harness
records why and exits with status 1.
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import platform
import sqlite3
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from bench.common import PG_URL, REPO, not_measured

SCENARIOS: dict[str, str] = {
    "timers": "bench.bench_timers",
    "apscheduler": "bench.bench_apscheduler",
    "pg": "bench.bench_pg",
    "growth": "bench.bench_growth",
    "mail": "bench.bench_mail",
    "import": "bench.bench_import",
    "web": "bench.bench_web",
    "machines": "bench.bench_machines",
}
RESULTS = REPO / "bench" / "results.json"
QUICK_RESULTS = REPO / "var" / "bench" / "results-quick.json"
DOC = REPO / "docs" / "performance.md"
TABLE_START = "<!-- bench:table:start (written by python -m bench.run; do not edit) -->"
TABLE_END = "<!-- bench:table:end -->"
BUDGET_S = 600


def run_scenario(name: str, scale: float) -> tuple[list[dict[str, Any]], bool]:
    """(figures, ok) of one scenario; a failure becomes a not-measured figure."""
    module_name = SCENARIOS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        return [not_measured(name, "-", f"{module_name.replace('.', '/')}.py does not exist yet")], True
    try:
        figures = list(module.run(scale))
    except Exception as exc:  # one scenario's failure must not hide the others' figures
        traceback.print_exc()
        return [not_measured(name, "-", f"the scenario failed: {type(exc).__name__}: {exc}")], False
    finally:
        gc.collect()
    return figures, True


def line(fig: dict[str, Any]) -> str:
    value = "not measured" if fig["value"] is None else f"{_num(fig['value'])} {fig['unit']}"
    out = f"{fig['name']}: {value}"
    if fig.get("baseline_value") is not None:
        out += f" | {fig['baseline']}: {_num(fig['baseline_value'])}"
    if fig.get("ratio") is not None:
        out += f" | ratio {fig['ratio']:g}"
    if fig.get("goal"):
        verdict = {True: "met", False: "MISSED", None: "n/a"}[fig.get("met")]
        out += f" | goal {fig['goal']}: {verdict}"
    if fig["value"] is None and fig.get("note"):
        out += f" ({fig['note']})"
    return out


def _num(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


# -- the machine --------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = "unknown"
    try:
        for text_line in Path("/proc/cpuinfo").read_text().splitlines():
            if text_line.startswith("model name"):
                cpu = text_line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "unknown"
    ram = "unknown"
    try:
        for text_line in Path("/proc/meminfo").read_text().splitlines():
            if text_line.startswith("MemTotal"):
                ram = f"{int(text_line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    return {
        "cpu": cpu,
        "cores": f"{usable} usable ({os.cpu_count()} online)",
        "ram": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": _pg_version(),
    }


def _pg_version() -> str:
    try:
        import psycopg

        url = PG_URL.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(url, connect_timeout=3) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])
    except Exception as exc:  # the table says so; the PG scenario reports its own failure
        return f"not reachable ({type(exc).__name__})"


# -- writing --------------------------------------------------------------------------------


def merge(old: list[dict[str, Any]], new: list[dict[str, Any]], ran: list[str]) -> list[dict[str, Any]]:
    kept = [f for f in old if f.get("scenario") not in ran]
    order = list(SCENARIOS)
    return sorted(kept + new, key=lambda f: order.index(f.get("scenario", order[-1])))


def write_json(path: Path, figures: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(figures, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)


def table(figures: list[dict[str, Any]], info: dict[str, str], stamp: str, seconds: float) -> str:
    rows = [
        TABLE_START,
        "",
        f"Last full run: {stamp}, {seconds / 60:.1f} minutes. Machine: {info['cpu']}, "
        f"{info['cores']} cores, {info['ram']} RAM, {info['os']}; Python {info['python']}, "
        f"SQLite {info['sqlite']}, PostgreSQL {info['postgresql']}.",
        "",
        "| Scenario | Figure | theodoi | Baseline | Baseline value | Ratio | Goal | Met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for fig in figures:
        value = "not measured" if fig["value"] is None else f"{_num(fig['value'])} {fig['unit']}"
        base = "" if fig.get("baseline_value") is None else _num(fig["baseline_value"])
        ratio = "" if fig.get("ratio") is None else f"{fig['ratio']:g}"
        met = {True: "yes", False: "**no**", None: ""}[fig.get("met")]
        rows.append(
            f"| {fig.get('scenario', '')} | {_cell(fig['name'])} | {value} | "
            f"{_cell(fig.get('baseline') or '')} | {base} | {ratio} | "
            f"{_cell(fig.get('goal') or '')} | {met} |"
        )
    notes = [f for f in figures if f.get("note")]
    if notes:
        rows += ["", "Notes from the run:", ""]
        rows += [f"- *{_cell(f['name'])}*: {f['note']}" for f in notes]
    rows += ["", TABLE_END]
    return "\n".join(rows)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def write_doc(doc: Path, block: str) -> None:
    if doc.exists():
        text = doc.read_text(encoding="utf-8")
    else:
        text = "# Performance\n\n" + TABLE_START + "\n" + TABLE_END + "\n"
    if TABLE_START in text and TABLE_END in text:
        head, rest = text.split(TABLE_START, 1)
        _old, tail = rest.split(TABLE_END, 1)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text, encoding="utf-8")


# -- main --------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="every scenario at a tenth of its size")
    parser.add_argument("--only", default="", help=f"comma-separated: {', '.join(SCENARIOS)}")
    parser.add_argument("--scale", type=float, help="any size factor (tests use a tiny one)")
    parser.add_argument("--results", type=Path, help="write the figures here instead")
    parser.add_argument("--doc", type=Path, help="write the table into this file instead")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(SCENARIOS)
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        parser.error(f"unknown scenario {', '.join(unknown)}; known: {', '.join(SCENARIOS)}")
    scale = args.scale or (0.1 if args.quick else 1.0)
    reporting = scale == 1.0 or bool(args.results)  # a reduced run leaves the docs alone
    started = time.perf_counter()
    figures: list[dict[str, Any]] = []
    failed: list[str] = []
    for name in names:
        print(f"[{name}]", file=sys.stderr, flush=True)
        t0 = time.perf_counter()
        scenario_figures, ok = run_scenario(name, scale)
        for fig in scenario_figures:
            fig["scenario"] = name
            print(line(fig), flush=True)
        if not ok:
            failed.append(name)
        figures.extend(scenario_figures)
        print(f"[{name}] {time.perf_counter() - t0:.1f} s", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - started
    print(f"total {elapsed:.1f} s", file=sys.stderr)
    if not reporting:
        write_json(QUICK_RESULTS, figures)
        print(f"reduced-size figures in {QUICK_RESULTS} (docs untouched)", file=sys.stderr)
    else:
        results, doc = args.results or RESULTS, args.doc or DOC
        old = json.loads(results.read_text(encoding="utf-8")) if results.exists() and args.only else []
        merged = merge(old, figures, names)
        write_json(results, merged)
        from kernel.clock import SystemClock

        stamp = SystemClock().now().strftime("%Y-%m-%d %H:%M UTC")
        if args.only:
            stamp += f" (only {', '.join(names)} re-run)"
        if scale != 1.0:
            stamp += f" (scale {scale:g}: not a reporting run)"
        write_doc(doc, table(merged, machine(), stamp, elapsed))
        print(f"wrote {results} and {doc}", file=sys.stderr)
    if elapsed > BUDGET_S and scale == 1.0 and not args.only:
        print(f"warning: the run took {elapsed:.0f} s, over the {BUDGET_S} s budget", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
