"""The one identity key and the one way text is folded for comparing.

:func:`name_key` is how theodoi folds a name, a project code or a reference to match
it (``Case.name_key``, the name search). Every place that identifies a case by a name
uses it, so an import, the CLI, the web and the workflows agree on who (or what) is
who. :func:`fold` is the same with punctuation as spaces: how a header, a vocabulary
term or a country name is compared, whatever its spelling."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]|_")


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


def fold(text: str) -> str:
    """Like :func:`name_key`, and punctuation and underscores become spaces
    (``"Ủy ban nhân dân  tỉnh"`` → ``"uy ban nhan dan tinh"``, ``"decision_number"``
    → ``"decision number"``)."""
    return _SPACES.sub(" ", _PUNCT.sub(" ", name_key(text))).strip()
