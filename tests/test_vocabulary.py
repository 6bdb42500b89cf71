"""Source and docs say "archive" for the Git archive only, and "restore point" for the zip."""

from __future__ import annotations

from pathlib import Path

from vocabulary import zip_called_archive

ROOT = Path(__file__).resolve().parents[1]
TEXTS = sorted([*(ROOT / "src").rglob("*.py"), *(ROOT / "docs").rglob("*.md"), ROOT / "README.md"])


def test_no_source_file_or_doc_calls_a_restore_point_an_archive():
    assert len(TEXTS) > 50
    found = {str(p.relative_to(ROOT)): zip_called_archive(p.read_text(encoding="utf-8")) for p in TEXTS}
    assert {path: phrases for path, phrases in found.items() if phrases} == {}


def test_the_check_recognises_the_old_phrasings():
    for old in (
        "A saved archive (restore point) is missing, corrupt or unsafe.",
        "Repair it with git or restore a saved archive.",
        "A stored pattern (restored from an old archive, or stored before a limit existed).",
        '"""Restore point archives: the member layout."""',
    ):
        assert zip_called_archive(old), old
    for fine in (
        "Rebuild the database from the Git archive at STORAGE_ROOT.",
        "Replace the database and Git archive with a restore point.",
        "Make an archived project writable again.",
        "Every archive commit that writes a message carries a Message-Id.",
    ):
        assert zip_called_archive(fine) == [], fine
