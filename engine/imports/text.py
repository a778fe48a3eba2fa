"""Text folding for headers and synonyms.

The identity key (:func:`name_key`) lives in :mod:`kernel.text`, shared with the
workflows and every creation path; it is re-exported here for the import's modules.
"""

from __future__ import annotations

import re

from kernel.text import name_key, strip_diacritics

__all__ = ["fold", "name_key", "strip_diacritics"]

_SPACES = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s]|_")


def fold(text: str) -> str:
    """Like :func:`name_key`, and punctuation and underscores become spaces: for
    headers and synonyms (``"Diện quản lý"`` → ``"dien quan ly"``,
    ``"decision_number"`` → ``"decision number"``)."""
    return _SPACES.sub(" ", _PUNCT.sub(" ", name_key(text))).strip()
