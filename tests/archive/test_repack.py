"""Packs that pile up in the archive are merged into one by the writer, as ``git gc --auto`` would."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import pytest
from dulwich.objects import Blob

from mcp_agent_mail.archive import objects, repack
from mcp_agent_mail.archive.flush import flush_pending

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git program")


def _extra_packs(root: Path, count: int) -> list[bytes]:
    """Write ``count`` small packs of blobs nobody refers to yet; return the blobs' contents."""
    pack_dir = root / ".git" / "objects" / "pack"
    contents = []
    for number in range(count):
        blob = Blob.from_string(f"pack {number} of {count}".encode())
        objects.write_pack(os.fspath(pack_dir), [(blob.id, blob.type_num, blob.as_raw_string())], str(root))
        contents.append(blob.as_raw_string())
    return contents


def _pack_files(root: Path) -> list[str]:
    return sorted(name for name in os.listdir(root / ".git" / "objects" / "pack") if name.endswith(".pack"))


def test_the_writer_merges_the_packs_once_there_are_more_than_the_limit(seed, archive, settings, monkeypatch):
    monkeypatch.setattr(repack, "PACK_LIMIT", 3)
    root = Path(settings.storage.root)
    pid = seed.project()
    blue, red = seed.agent(pid, "BlueLake"), seed.agent(pid, "RedFox")
    seed.message(pid, blue, "First", to=(red,))
    flush_pending(settings)
    # Three packs are within the limit: nothing is merged.
    _extra_packs(root, 3 - len(_pack_files(root)))
    seed.message(pid, red, "Second", to=(blue,))
    flush_pending(settings)
    assert len(_pack_files(root)) == 3
    history = archive.subjects()
    committed = archive.git("ls-tree", "-r", "HEAD")

    # A fourth pack passes the limit; the next batch's flush merges them all.
    _extra_packs(root, 1)
    seed.message(pid, blue, "Third", to=(red,))
    flush_pending(settings)

    assert len(_pack_files(root)) == 1
    archive.git("fsck", "--no-progress", "--no-dangling")  # raises when Git finds anything wrong
    assert archive.subjects() == ["mail: BlueLake -> RedFox | Third", *history]
    assert archive.git("ls-tree", "-r", "HEAD~1") == committed
    assert "Second" in archive.git("show", "HEAD~1", "--stat")
    archive.assert_clean()

    # The writer goes on writing into the merged repository.
    seed.message(pid, red, "Fourth", to=(blue,))
    flush_pending(settings)
    assert archive.subjects()[0] == "mail: RedFox -> BlueLake | Fourth"
    archive.git("fsck", "--no-progress", "--no-dangling")


def test_without_git_the_packs_stay_and_a_warning_says_so_once(seed, archive, settings, monkeypatch, caplog, tmp_path):
    monkeypatch.setattr(repack, "PACK_LIMIT", 2)
    monkeypatch.setattr(repack, "_warned_missing_git", [])
    root = Path(settings.storage.root)
    pid = seed.project()
    blue = seed.agent(pid, "BlueLake")
    flush_pending(settings)
    _extra_packs(root, 3)
    packs = _pack_files(root)
    empty = tmp_path / "no-programs"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with caplog.at_level(logging.WARNING, logger=repack.__name__):
        seed.message(pid, blue, "Note to self", to=(blue,))
        flush_pending(settings)
        seed.message(pid, blue, "Another", to=(blue,))
        flush_pending(settings)
    assert _pack_files(root) == packs
    warnings = [record.getMessage() for record in caplog.records if record.name == repack.__name__]
    assert len(warnings) == 1
    assert "no git program" in warnings[0]
    monkeypatch.undo()
    assert archive.subjects()[0] == "mail: BlueLake -> BlueLake | Another"


def test_a_failed_merge_leaves_the_packs_and_waits_before_trying_again(seed, archive, settings, monkeypatch, caplog):
    monkeypatch.setattr(repack, "PACK_LIMIT", 2)
    root = Path(settings.storage.root)
    repack._failed_at.pop(str(root), None)
    pid = seed.project()
    blue = seed.agent(pid, "BlueLake")
    flush_pending(settings)
    _extra_packs(root, 3)
    packs = _pack_files(root)
    working = repack._git_command
    # A git command that fails: the packs stay as they were.
    monkeypatch.setattr(repack, "_git_command", lambda git: [git, "repack", "--no-such-option"])
    try:
        with caplog.at_level(logging.WARNING, logger=repack.__name__):
            seed.message(pid, blue, "Note to self", to=(blue,))
            flush_pending(settings)
        assert _pack_files(root) == packs
        assert any("merging 3 packs failed" in record.getMessage() for record in caplog.records)
        # Within the back-off the writer does not try again, even with a working command.
        monkeypatch.setattr(repack, "_git_command", working)
        seed.message(pid, blue, "Another", to=(blue,))
        flush_pending(settings)
        assert _pack_files(root) == packs
        assert archive.subjects()[0] == "mail: BlueLake -> BlueLake | Another"
        archive.assert_clean()
    finally:
        repack._failed_at.pop(str(root), None)
