"""Git lock files: one rule removes them (only under the writer lock), one rule keeps them out of restore points."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from mcp_agent_mail.archive.repo import (
    LOCK_NAME,
    clear_stale_locks,
    holds_writer_lock,
    is_git_lock,
    stale_lock_files,
    writer_lock,
)

SHA_DIR, SHA_REST = "ab", "cd" * 19


def _leftovers(root: Path) -> dict[str, Path]:
    """Lock files a writer killed mid-commit could leave, plus files that are not locks."""
    git = root / ".git"
    files = {
        "index": git / "index.lock",
        "head": git / "HEAD.lock",
        "ref": git / "refs" / "heads" / "main.lock",
        "object": git / "objects" / SHA_DIR / f"{SHA_REST}.lock",
        "not_a_lock": git / "refs" / "heads" / "main",
        "work_tree": root / "projects" / "demo" / "notes.lock",
    }
    for path in files.values():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return files


def test_without_the_writer_lock_nothing_is_removed(tmp_path):
    files = _leftovers(tmp_path)
    with pytest.raises(RuntimeError, match="writer lock"):
        clear_stale_locks(tmp_path)
    assert all(path.exists() for path in files.values())


def test_the_writer_lock_holder_removes_every_git_lock_file_and_nothing_else(tmp_path):
    files = _leftovers(tmp_path)
    with writer_lock(tmp_path, 5.0) as acquired:
        assert acquired and holds_writer_lock(tmp_path)
        removed = clear_stale_locks(tmp_path)
    assert sorted(removed) == sorted(files[k] for k in ("index", "head", "ref", "object"))
    assert not any(files[k].exists() for k in ("index", "head", "ref", "object"))
    assert files["not_a_lock"].exists() and files["work_tree"].exists()
    assert (tmp_path / ".git" / LOCK_NAME).exists()  # the writer lock itself is never removed
    assert stale_lock_files(tmp_path) == []


def test_the_loose_object_scan_can_be_skipped(tmp_path):
    files = _leftovers(tmp_path)
    with writer_lock(tmp_path, 5.0) as acquired:
        assert acquired
        clear_stale_locks(tmp_path, objects=False)
    assert files["object"].exists() and not files["index"].exists()


def test_only_the_holding_thread_counts_as_the_holder(tmp_path):
    _leftovers(tmp_path)
    seen: dict[str, object] = {}

    def other_thread() -> None:
        seen["holds"] = holds_writer_lock(tmp_path)
        try:
            clear_stale_locks(tmp_path)
        except RuntimeError as exc:
            seen["error"] = exc

    with writer_lock(tmp_path, 5.0) as acquired:
        assert acquired
        assert not holds_writer_lock(tmp_path / "elsewhere")
        worker = threading.Thread(target=other_thread)
        worker.start()
        worker.join(timeout=60)
    assert seen["holds"] is False and isinstance(seen["error"], RuntimeError)
    assert not holds_writer_lock(tmp_path)  # released with the block
    assert len(stale_lock_files(tmp_path)) == 4


def test_without_a_repository_there_is_nothing_to_remove(tmp_path):
    assert clear_stale_locks(tmp_path / "no-archive-yet") == []


@pytest.mark.parametrize(
    ("rel", "lock"),
    [
        (".git/index.lock", True),
        (".git/refs/heads/main.lock", True),
        (f".git/objects/{SHA_DIR}/{SHA_REST}.lock", True),
        (f".git/{LOCK_NAME}", True),
        (".git/config", False),
        (".git/refs/heads/main", False),
        ("projects/demo/notes.lock", False),
        (".gitattributes", False),
    ],
)
def test_which_paths_are_git_lock_files(rel, lock):
    assert is_git_lock(rel) is lock
