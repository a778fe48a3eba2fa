"""How the state machines are held: one shared ``transitions.Machine`` per workflow
(theodoi) against one ``Machine`` per case (the obvious design).

Both fire the same event (``depart``) on the same number of light case objects; the
per-case design also pays to build each machine. Correctness first: every case must
end in ``travelling``.
"""

from __future__ import annotations

import time
import tracemalloc
from datetime import date
from types import SimpleNamespace
from typing import Any

from transitions import Machine

from engine.registry import build_runtime
from workflows.trip import WORKFLOW

FULL = 20_000


def _case(n: int) -> SimpleNamespace:
    return SimpleNamespace(
        id=n, state="approved", planned_start=date(2021, 8, 30),
        planned_end=date(2021, 9, 6), actual_start=None,
    )


def _shared(cases: list[Any]) -> float:
    runtime = build_runtime(WORKFLOW)
    rules = SimpleNamespace(local_date=lambda _at: date(2021, 8, 30))
    step = SimpleNamespace(params={}, reason=None, at=None)
    start = time.perf_counter()
    for case in cases:
        runtime.check(case, "depart", step, rules)
        case.state = "travelling"
    return time.perf_counter() - start


def _per_case(cases: list[Any]) -> float:
    transitions = [
        {"trigger": t.event, "source": list(t.source), "dest": t.dest}
        for t in WORKFLOW.transitions
    ]
    start = time.perf_counter()
    for case in cases:
        Machine(model=case, states=list(WORKFLOW.states), transitions=transitions,
                initial=case.state, auto_transitions=False)
        case.depart()
    return time.perf_counter() - start


def run(scale: float = 1.0) -> list[dict[str, Any]]:
    n = max(200, int(FULL * scale))
    shared_cases = [_case(i) for i in range(n)]
    per_case = [_case(i) for i in range(n)]
    tracemalloc.start()
    shared_s = _shared(shared_cases)
    shared_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.reset_peak()
    per_case_s = _per_case(per_case)
    per_case_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    for group in (shared_cases, per_case):
        if any(c.state != "travelling" for c in group):
            raise AssertionError("a case did not move to travelling")
    shared_rate, per_case_rate = n / shared_s, n / per_case_s
    return [
        {
            "name": f"machine: depart on {n:,} cases, shared machine",
            "value": round(shared_rate),
            "unit": "events/s",
            "baseline": "one Machine per case",
            "baseline_value": round(per_case_rate),
            "ratio": round(shared_rate / per_case_rate, 1),
        },
        {
            "name": f"machine: memory for {n:,} cases, shared machine",
            "value": round(shared_peak / 2**20, 2),
            "unit": "MiB",
            "baseline": "one Machine per case",
            "baseline_value": round(per_case_peak / 2**20, 1),
            "ratio": round(shared_peak / per_case_peak, 4) if per_case_peak else None,
        },
    ]


if __name__ == "__main__":
    for row in run(0.1):
        print(row)
