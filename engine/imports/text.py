"""Text folding shared by headers, synonyms and identities.

:func:`name_key` is THE normaliser for a traveller's name (``Case.name_key``): every
place that identifies a person by name must use it, so an import, the CLI and the web
agree on who is who.
"""

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
    """A person's identity for matching: lowercase, no diacritics, single spaces."""
    return _SPACES.sub(" ", strip_diacritics(str(name)).lower()).strip()


def fold(text: str) -> str:
    """Like :func:`name_key`, and punctuation and underscores become spaces: for
    headers and synonyms (``"Diện quản lý"`` → ``"dien quan ly"``,
    ``"decision_number"`` → ``"decision number"``)."""
    return _SPACES.sub(" ", _PUNCT.sub(" ", name_key(text))).strip()
