"""What an import refuses: every problem found, named by file, row, column and value."""

from __future__ import annotations

from dataclasses import dataclass

from kernel.errors import TheodoiError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file. ``row`` is the spreadsheet row (1 = header
    row of a file that starts with its header); 0 means the file as a whole."""

    file: str
    row: int
    column: str
    value: str
    problem: str


class ImportRefused(TheodoiError):
    """The file has errors: nothing was written. ``problems`` lists all of them."""

    def __init__(self, problems: list[Problem]) -> None:
        first = problems[0] if problems else None
        where = f"{first.file} row {first.row}: {first.problem}" if first else "no detail"
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        super().__init__(f"import refused, nothing written: {where}{more}")
        self.problems = problems
