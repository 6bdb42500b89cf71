"""The project's words for stored data: "archive" is the Git archive, a "restore point" is the zip."""

from __future__ import annotations

import re

ZIP_CALLED_ARCHIVE = re.compile(
    r"\bsaved archives?\b"
    r"|\bold archives?\b"
    r"|\bbackup archives?\b"
    r"|\bzip archives?\b"
    r"|\brestore[- ]point archives?\b"
    r"|\barchives? \(restore point"
    r"|\brestored? from (?:the |an? )?(?:old |saved )?archives?\b",
    re.IGNORECASE,
)


def flatten(text: str) -> str:
    """Return ``text`` on one line, without the box drawing of rich help screens."""
    return " ".join(text.replace("│", " ").split())


def zip_called_archive(text: str) -> list[str]:
    """Return each phrase of ``text`` (with some context) that calls a restore point an archive."""
    flat = flatten(text)
    return [flat[max(0, m.start() - 40) : m.end() + 40] for m in ZIP_CALLED_ARCHIVE.finditer(flat)]
