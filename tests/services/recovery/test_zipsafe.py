"""Restore point zips (services.recovery.zipsafe): what verification accepts and refuses, and safe extraction."""

from __future__ import annotations

import hashlib
import json
import stat
import zipfile
from pathlib import Path
from typing import Any

import pytest

from mcp_agent_mail.errors import ArchiveError
from mcp_agent_mail.services.recovery.zipsafe import (
    METADATA_NAME,
    SNAPSHOT_NAME,
    STORAGE_PREFIX,
    extract_file,
    extract_tree,
    verify_restore_point,
)

GOOD_FILES = {
    SNAPSHOT_NAME: b"SQLite format 3\x00 pretend",
    STORAGE_PREFIX + "projects/p/project.json": b'{"slug": "p"}\n',
    STORAGE_PREFIX + ".git/HEAD": b"ref: refs/heads/main\n",
}
GOOD_DIRS = ["snapshot", "storage_repo", "storage_repo/projects", "storage_repo/projects/p", "storage_repo/.git"]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def make_restore_point(
    path: Path,
    files: dict[str, bytes] | None = None,
    *,
    metadata: dict[str, Any] | None = None,
    modes: dict[str, int] | None = None,
    extra: dict[str, bytes] | None = None,
) -> Path:
    """Write a restore point zip: ``files`` listed with their hashes, ``extra`` members not listed."""
    files = dict(GOOD_FILES if files is None else files)
    meta: dict[str, Any] = {
        "format_version": 1,
        "directories": GOOD_DIRS,
        "files": {name: _sha(data) for name, data in files.items()},
        **(metadata or {}),
    }
    with zipfile.ZipFile(path, "w") as zf:
        for name in GOOD_DIRS:
            info = zipfile.ZipInfo(name + "/")
            info.external_attr = (stat.S_IFDIR | 0o755) << 16
            zf.writestr(info, b"")
        for name, data in {**files, **(extra or {})}.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (modes or {}).get(name, stat.S_IFREG | 0o644) << 16
            zf.writestr(info, data)
        zf.writestr(METADATA_NAME, json.dumps(meta))
    return path


def test_a_complete_restore_point_verifies_with_its_metadata_and_size(tmp_path):
    verified = verify_restore_point(make_restore_point(tmp_path / "rp.zip"))
    assert verified.snapshot_member == SNAPSHOT_NAME
    assert set(verified.files) == set(GOOD_FILES)
    assert verified.total_bytes == sum(len(data) for data in GOOD_FILES.values())
    assert verified.metadata["format_version"] == 1


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda p: p.write_bytes(b"not a zip at all"), "File is not a zip file"),
        (lambda p: make_restore_point(p, metadata={"format_version": 2}), "unsupported format_version 2"),
        (lambda p: make_restore_point(p, metadata={"files": {"x": "nothex"}}), "no valid 'files' table"),
        (lambda p: make_restore_point(p, extra={STORAGE_PREFIX + "sneaky.txt": b"x"}), "is not listed"),
        (
            lambda p: make_restore_point(p, {k: v for k, v in GOOD_FILES.items() if k != SNAPSHOT_NAME}),
            "snapshot",
        ),
        (
            lambda p: make_restore_point(p, {**GOOD_FILES, "elsewhere/file.txt": b"x"}),
            "unexpected member 'elsewhere/file.txt'",
        ),
        (
            lambda p: make_restore_point(p, {**GOOD_FILES, STORAGE_PREFIX + ".git/objects/info/alternates": b"/x"}),
            "would make Git read another repository",
        ),
        (
            lambda p: make_restore_point(p, modes={STORAGE_PREFIX + "projects/p/project.json": stat.S_IFLNK | 0o777}),
            "is a symbolic link",
        ),
    ],
    ids=["not-zip", "future-format", "bad-hashes", "unlisted", "no-snapshot", "stray", "git-redirect", "symlink"],
)
def test_a_damaged_or_hostile_restore_point_is_refused_with_the_reason(tmp_path, build, reason):
    path = tmp_path / "rp.zip"
    build(path)
    with pytest.raises(ArchiveError) as caught:
        verify_restore_point(path)
    assert reason in caught.value.message and caught.value.message.startswith("rp.zip cannot be restored")
    assert "archive save" in (caught.value.hint or "")


def test_a_member_whose_bytes_do_not_match_its_hash_is_refused(tmp_path):
    path = make_restore_point(tmp_path / "rp.zip", metadata={"files": {name: "0" * 64 for name in GOOD_FILES}})
    with pytest.raises(ArchiveError, match="does not match its SHA-256"):
        verify_restore_point(path)
    with pytest.raises(ArchiveError, match="it is not a file"):
        verify_restore_point(tmp_path / "missing.zip")


def test_extraction_writes_the_verified_tree_without_execute_bits(tmp_path):
    script = STORAGE_PREFIX + "projects/p/run.sh"
    files = {**GOOD_FILES, script: b"#!/bin/sh\necho hi\n"}
    path = make_restore_point(tmp_path / "rp.zip", files, modes={script: stat.S_IFREG | 0o755})
    verified = verify_restore_point(path)
    dest = tmp_path / "out"
    count = extract_tree(verified, STORAGE_PREFIX, dest, keep=lambda rel: not rel.startswith(".git"))
    assert count == 2
    assert (dest / "projects/p/project.json").read_bytes() == b'{"slug": "p"}\n'
    assert not (dest / ".git").exists()
    assert not (dest / "projects/p/run.sh").stat().st_mode & 0o111
    with pytest.raises(FileExistsError):
        extract_tree(verified, STORAGE_PREFIX, dest)  # the destination must be new


def test_one_member_is_extracted_to_a_new_file_only(tmp_path):
    verified = verify_restore_point(make_restore_point(tmp_path / "rp.zip"))
    target = tmp_path / "snapshot.sqlite3"
    extract_file(verified, SNAPSHOT_NAME, target)
    assert target.read_bytes() == GOOD_FILES[SNAPSHOT_NAME]
    with pytest.raises(FileExistsError):
        extract_file(verified, SNAPSHOT_NAME, target)
    assert target.read_bytes() == GOOD_FILES[SNAPSHOT_NAME]
