"""How text becomes searchable words on PostgreSQL, the same way for messages and for queries.

SQLite's FTS5 (``unicode61 remove_diacritics 2``) splits text at every character that is not a
letter or digit, folds case and drops accents. PostgreSQL's parser instead keeps file paths,
URLs, e-mail addresses, versions and hyphenated words whole, and folds case by the database's
locale. So before PostgreSQL parses anything, ASCII punctuation becomes a space and accented
Latin, Greek and Cyrillic letters become their plain lower-case letter: with the ``simple``
configuration (no stemming, no stop words) that yields FTS5's words in any locale.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_RANGES = ((0x00C0, 0x024F), (0x0370, 0x03FF), (0x0400, 0x04FF), (0x1E00, 0x1EFF))
ASCII_SEPARATORS = r"[\x01-\x2f\x3a-\x40\x5b-\x60\x7b-\x7f]+"
"""ASCII characters that are neither letters nor digits (a regular expression both Python and PostgreSQL read)."""
_SEPARATORS = re.compile(ASCII_SEPARATORS.replace(r"\x01", r"\x00"))


def _folded(char: str) -> str | None:
    """Return the plain lower-case letter of an accented or capital letter, or None to keep it as it is."""
    stripped = "".join(c for c in unicodedata.normalize("NFD", char) if not unicodedata.combining(c)).lower()
    return stripped if len(stripped) == 1 and stripped != char and stripped.isalnum() else None


@lru_cache(maxsize=1)
def fold_pairs() -> tuple[str, str]:
    """Return the characters to replace and their replacements, as two strings of equal length."""
    source, target = [], []
    for low, high in _RANGES:
        for code in range(low, high + 1):
            folded = _folded(chr(code))
            if folded is not None:
                source.append(chr(code))
                target.append(folded)
    return "".join(source), "".join(target)


@lru_cache(maxsize=1)
def _table() -> dict[int, str]:
    source, target = fold_pairs()
    return {ord(s): t for s, t in zip(source, target, strict=True)}


def lexemes(text: str) -> list[str]:
    """Return the words of ``text`` as the index stores them (before PostgreSQL's own lower-casing)."""
    return [word for word in _SEPARATORS.split(text.translate(_table())) if word]


__all__ = ["ASCII_SEPARATORS", "fold_pairs", "lexemes"]
