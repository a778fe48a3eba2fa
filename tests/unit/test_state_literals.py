"""No state name outside workflows/ where a state is classified.

Reports, the digest and the pages ask a state's tags (``Workflow.states_tagged``,
``Workflow.phase``, ``Registry.states_tagged``), never its name, so that a state or a
case type added in its own module needs no change elsewhere. This test scans
``engine/ notifications/ web/ storage/ cli/`` (Python and templates) for the quoted
name of a state of any registered workflow used to classify:

* Python: a comparison with a state (``x.state == "overdue"``,
  ``state in ("report_due", …)``); a tuple, list or set literal made only of state
  names, one of which is not also a tag (``("overdue", "escalated")``); a state name
  passed to a function or keyword that speaks of a state (``cases_in_state(s,
  "escalated")``, ``state="overdue"``) or set under a ``"state"`` key of a dict;
* templates: ``state == 'overdue'``, ``state in (…)`` and the like.

A name may stay where code means one state of one workflow (a transition's source, a
test fixture's sample); such a place goes in ALLOWED with its reason.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from engine.registry import Registry
from workflows.definition import TAGS

ROOT = Path(__file__).resolve().parents[2]
SCANNED = ("engine", "notifications", "web", "storage", "cli")
TEMPLATE_SUFFIXES = {".html", ".txt", ".j2", ".jinja", ".md"}

# (path, state name) → why the name is fine there. Keep it short.
ALLOWED: dict[tuple[str, str], str] = {
    # sample contexts for previewing each notice template (`theodoi notices examples`):
    # a fixture describing one trip in one state, not a classification
    ("notifications/examples.py", "report_due"): "sample notice context",
    ("notifications/examples.py", "approved"): "sample notice context",
    ("notifications/examples.py", "overdue"): "sample notice context",
    ("notifications/examples.py", "escalated"): "sample notice context",
    # the digest's section names ("due", "overdue" lists of lines), not states
    ("notifications/truth.py", "due"): "digest section name",
    ("notifications/truth.py", "overdue"): "digest section name",
}

_REGISTRY = Registry.load()
STATES = frozenset(s for name in _REGISTRY.names() for s in _REGISTRY[name].workflow.states)
UNTAGGED = STATES - TAGS  # names that can only mean a state ("overdue", "report_due" …)


def _statey(node: ast.AST) -> bool:
    """An expression that is a state: ``state``, ``x.state``, ``from_state`` …"""
    if isinstance(node, ast.Attribute):
        return "state" in node.attr
    if isinstance(node, ast.Name):
        return "state" in node.id.lower()
    if isinstance(node, ast.Subscript):  # row["state"]
        key = node.slice
        return isinstance(key, ast.Constant) and "state" in str(key.value)
    return False


def _strings(node: ast.AST) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [s for e in node.elts for s in _strings(e)]
    return []


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def python_hits(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    hits: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_statey(side) for side in sides):
                for side in sides:
                    hits += [(node.lineno, s) for s in _strings(side) if s in STATES]
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)):
            items = [e for e in node.elts if isinstance(e, ast.Constant)]
            values = [e.value for e in items]
            if (
                values
                and len(items) == len(node.elts)
                and all(isinstance(v, str) and v in STATES for v in values)
                and any(v in UNTAGGED for v in values)
            ):
                hits += [(node.lineno, v) for v in values]
        elif isinstance(node, ast.Dict):
            for key, value in zip(node.keys, node.values, strict=True):
                if isinstance(key, ast.Constant) and "state" in str(key.value):
                    hits += [(node.lineno, s) for s in _strings(value) if s in STATES]
        elif isinstance(node, ast.Call):
            name = _call_name(node).lower()
            if "state" in name and "tagged" not in name:
                for arg in [*node.args, *(k.value for k in node.keywords)]:
                    hits += [(node.lineno, s) for s in _strings(arg) if s in STATES]
            for k in node.keywords:
                if k.arg and "state" in k.arg:
                    hits += [(node.lineno, s) for s in _strings(k.value) if s in STATES]
    return sorted(set(hits), key=hits.index)


_QUOTED = r"""['"](\w+)['"]"""
TEMPLATE_PATTERNS = (
    re.compile(r"state\w*\s*(?:==|!=)\s*" + _QUOTED),
    re.compile(_QUOTED + r"\s*(?:==|!=)\s*\w*\.?\w*state"),
    re.compile(r"state\w*\s+(?:not\s+)?in\s*[\(\[]([^\)\]]*)[\)\]]"),
)


def template_hits(path: Path) -> list[tuple[int, str]]:
    hits = []
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for pattern in TEMPLATE_PATTERNS:
            for match in pattern.finditer(line):
                for name in re.findall(r"\w+", match.group(1)):
                    if name in STATES:
                        hits.append((lineno, name))
    return hits


def scan() -> tuple[list[str], set[tuple[str, str]]]:
    """(the hits not allowed, the allowed entries that were hit)."""
    found, used = [], set()
    for top in SCANNED:
        for path in sorted((ROOT / top).rglob("*")):
            if not path.is_file() or "migrations" in path.parts:
                continue
            rel = path.relative_to(ROOT).as_posix()
            if path.suffix == ".py":
                hits = python_hits(path)
            elif path.suffix in TEMPLATE_SUFFIXES:
                hits = template_hits(path)
            else:
                continue
            found += [f"{rel}:{n}: '{s}'" for n, s in hits if (rel, s) not in ALLOWED]
            used |= {(rel, s) for _n, s in hits if (rel, s) in ALLOWED}
    return found, used


def test_no_state_name_classifies_a_state_outside_workflows() -> None:
    found, used = scan()
    assert set(ALLOWED) <= used, f"stale ALLOWED entries: {sorted(set(ALLOWED) - used)}"
    assert not found, (
        "state names used outside workflows/ (ask the state tags instead: "
        "wf.states_tagged('late'), wf.phase(state), registry.states_tagged(...)):\n"
        + "\n".join(found)
    )


def test_the_scanner_finds_what_it_should(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "LATE = ('overdue', 'escalated')\n"
        "if case.state == 'report_due': pass\n"
        "if row['state'] in ('due', 'filed'): pass\n"
        "pages.cases_in_state(s, 'escalated')\n"
        "wf.states_tagged('escalated')\n"  # a tag: fine
        "if wf.phase(case.state) in ('due', 'late'): pass\n"  # phases: fine
        "KEYS = ('cases', 'due', 'filed')\n"  # report columns: fine
        "fields = {'state': 'overdue', 'due': 3}\n"
    )
    assert python_hits(sample) == [
        (1, "overdue"),
        (1, "escalated"),
        (2, "report_due"),
        (3, "due"),
        (3, "filed"),
        (4, "escalated"),
        (8, "overdue"),
    ]
    page = tmp_path / "page.html"
    page.write_text("{% if case.state == 'overdue' %}x{% endif %}\n{% if r.state in ('due',) %}")
    assert template_hits(page) == [(1, "overdue"), (2, "due")]
