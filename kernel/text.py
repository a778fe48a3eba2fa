"""The one identity key: how theodoi folds a name, a project code or a reference to
match it (``Case.name_key``). Every place that identifies a case by a name uses
:func:`name_key`, so an import, the CLI, the web and the workflows agree on who (or
what) is who."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def strip_diacritics(text: str) -> str:
    """``"Nguyễn Văn Đức"`` → ``"Nguyen Van Duc"`` (đ/Đ are letters of their own in
    Unicode, not d with a mark, so they are mapped by hand)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def name_key(name: str) -> str:
    """An identity for matching: lowercase, no diacritics, single spaces."""
    return _SPACES.sub(" ", strip_diacritics(str(name)).lower()).strip()


def decision_identity(number: str, year: int, name: str) -> tuple[str, int, str]:
    """Who a case opened under a decision is (a traveller of a trip decision): the
    decision's number and year (numbers restart each year) and the folded name."""
    return number, year, name_key(name)
