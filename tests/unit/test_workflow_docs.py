"""docs/workflows.md embeds each workflow's diagram generated from the code: this
fails when a workflow changed and the document was not regenerated."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from engine.registry import Registry

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_diagrams", ROOT / "docs" / "gen_diagrams.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_docs_diagrams_are_up_to_date():
    gen = _generator()
    current = gen.DOC.read_text(encoding="utf-8")
    assert gen.render(current, Registry.load()) == current, (
        "docs/workflows.md is out of date: run .venv/bin/python docs/gen_diagrams.py"
    )


def test_every_workflow_has_its_diagram_in_the_docs():
    text = (ROOT / "docs" / "workflows.md").read_text(encoding="utf-8")
    for name in Registry.load().names():
        assert f"<!-- diagram:{name} -->" in text


def test_a_stale_diagram_is_detected():
    gen = _generator()
    current = gen.DOC.read_text(encoding="utf-8")
    stale = current.replace("in_force --> expiring: expiring ⏱", "in_force --> expiring: x", 1)
    assert stale != current
    assert gen.render(stale, Registry.load()) == current
