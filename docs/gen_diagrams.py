"""Rewrite the diagrams in docs/workflows.md from the workflow definitions.

Each diagram sits between ``<!-- diagram:NAME -->`` and ``<!-- /diagram -->``;
everything between the markers is replaced by NAME's Mermaid diagram. Run it after
changing a workflow: ``.venv/bin/python docs/gen_diagrams.py`` (``--check`` exits 1
when the file is out of date, without writing).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.diagram import mermaid  # noqa: E402
from engine.registry import Registry  # noqa: E402

DOC = ROOT / "docs" / "workflows.md"
BLOCK = re.compile(r"(<!-- diagram:(\w+) -->\n).*?(<!-- /diagram -->)", re.DOTALL)


def render(text: str, registry: Registry) -> str:
    def fill(match: re.Match[str]) -> str:
        name = match.group(2)
        body = mermaid(registry[name].workflow)
        return f"{match.group(1)}```mermaid\n{body}```\n{match.group(3)}"

    return BLOCK.sub(fill, text)


def main(argv: list[str]) -> int:
    current = DOC.read_text(encoding="utf-8")
    fresh = render(current, Registry.load())
    if "--check" in argv:
        if fresh != current:
            print("docs/workflows.md is out of date: run docs/gen_diagrams.py", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(fresh, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
