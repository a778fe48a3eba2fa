"""Cell values → typed values. Each parser returns the value or raises ValueError (or
:class:`~kernel.errors.InvalidInput`) whose message says what is wrong, in words a
coordinator understands; the row reader puts it on the cell's row and column.

Dates and countries are the kernel's (:mod:`kernel.dates`, :mod:`kernel.countries`:
the same parsers the CLI and the web use); issuer, category and purpose are the trip
workflow's vocabularies (:attr:`workflows.trip.WORKFLOW.vocabularies`).
"""

from __future__ import annotations

import re
import unicodedata

from kernel.text import fold
from workflows.decision import ISSUER
from workflows.trip import CATEGORY, PURPOSE


def text(value: object) -> str:
    """A cell as trimmed text with single spaces (numbers without a trailing .0)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return " ".join(unicodedata.normalize("NFC", str(value)).split())


_AROUND_MARKS = re.compile(r"\s*([/\-])\s*")


def decision_number(value: object) -> str:
    """``"09 / QĐ-SNgV"`` → ``"09/QĐ-SNgV"``: spaces around ``/`` and ``-`` dropped."""
    return _AROUND_MARKS.sub(r"\1", text(value))


parse_issuer = ISSUER.parse
parse_category = CATEGORY.parse
parse_purpose = PURPOSE.parse


def _choice(synonyms: dict[str, tuple[str, ...]], what: str, allowed: str):
    table = {fold(s): key for key, spellings in synonyms.items() for s in (key, *spellings)}

    def parse(value: object) -> str:
        key = table.get(fold(text(value)))
        if key is None:
            raise ValueError(f"unknown {what}; use {allowed}")
        return key

    return parse


# fmt: off
parse_yes_no = _choice(
    {
        "yes": ("y", "true", "1", "x", "có", "rồi", "đã", "đạt", "đã duyệt", "accepted"),
        "no": ("n", "false", "0", "không", "chưa", "chưa đạt", "không đạt"),
    },
    "yes/no value",
    "yes (có) or no (không)",
)
# fmt: on


_EMAIL = re.compile(r"^[^@\s,;]+@[^@\s,;]+\.[^@\s,;]+$")


def parse_email(value: object) -> str:
    raw = text(value)
    if not _EMAIL.match(raw):
        raise ValueError("not an e-mail address")
    return raw
