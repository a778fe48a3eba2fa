"""The layers hold: import-linter contracts, no hidden imports, no optional guards.

``.importlinter`` at the repository root writes the order down (cli → web → engine →
workflows | notifications → storage → kernel; SQL libraries only in storage). These
tests run it, and check two things it cannot see: project imports hidden inside
functions (they hide cycles) and ``except ImportError`` guards around declared
dependencies. Either is allowed only with a comment on the line saying why.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("kernel", "storage", "workflows", "notifications", "engine", "web", "cli")
WHY = "# why:"


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (REPO / pkg).rglob("*.py") if "migrations" not in p.parts)


def _has_why(lines: list[str], lineno: int) -> bool:
    line = lines[lineno - 1]
    above = lines[lineno - 2] if lineno >= 2 else ""
    return WHY in line or WHY in above


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run(
        [str(lint), "--no-cache"], cwd=REPO, capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "BROKEN" not in result.stdout


def _local_project_imports(path: Path) -> list[str]:
    source = path.read_text(encoding="utf-8")
    lines = source.splitlines()
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for inner in ast.walk(node):
            if isinstance(inner, ast.Import):
                names = [alias.name for alias in inner.names]
            elif isinstance(inner, ast.ImportFrom) and inner.level == 0 and inner.module:
                names = [inner.module]
            else:
                continue
            if any(n.split(".")[0] in PACKAGES for n in names) and not _has_why(lines, inner.lineno):
                found.append(f"{path.relative_to(REPO)}:{inner.lineno}")
    return sorted(set(found))


def test_no_function_local_imports_of_our_modules() -> None:
    offenders = [hit for path in _modules() for hit in _local_project_imports(path)]
    assert not offenders, "imports inside functions (add '# why: …' if needed):\n" + "\n".join(
        offenders
    )


def test_no_import_error_guards() -> None:
    offenders = []
    for path in _modules():
        source = path.read_text(encoding="utf-8")
        lines = source.splitlines()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.ExceptHandler) and node.type is not None:
                names = {n.id for n in ast.walk(node.type) if isinstance(n, ast.Name)}
                if names & {"ImportError", "ModuleNotFoundError"} and not _has_why(
                    lines, node.lineno
                ):
                    offenders.append(f"{path.relative_to(REPO)}:{node.lineno}")
    assert not offenders, "ImportError guards (add '# why: …' if needed):\n" + "\n".join(offenders)
