"""Read the Git archive as it is (work tree and committed tree) and compare it with the database's projection."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dulwich.object_store import iter_tree_contents
from dulwich.objects import Blob, ObjectID
from dulwich.refs import HEADREF
from dulwich.repo import Repo

from mcp_agent_mail.archive import paths
from mcp_agent_mail.archive.repo import stale_lock_files, writer_lock

_RESERVATION_FILE = re.compile(r"^id-(\d+)\.json$")
_ATTACHMENT_FILE = re.compile(r"^([0-9a-f]{64})(\.[A-Za-z0-9]{1,16})?$")
_AGENT_FILES = ("profile.json", "contacts.json")
_SAMPLE = 20


def _skip_dir(rel_dir: str) -> bool:
    return rel_dir == ".git" or rel_dir.startswith(".git/")


def worktree_paths(root: Path) -> list[str]:
    """Return every file in the work tree (repo-relative POSIX paths), ``.git`` excluded."""
    found: list[str] = []
    if not root.is_dir():
        return found
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/")
        dirnames[:] = sorted(d for d in dirnames if not _skip_dir(f"{rel_dir}/{d}".lstrip("/")))
        for name in sorted(filenames):
            rel = f"{rel_dir}/{name}" if rel_dir else name
            if os.path.isfile(os.path.join(dirpath, name)):
                found.append(rel)
    return found


def read_worktree_file(root: Path, rel: str) -> bytes | None:
    """Return a work-tree file's bytes, or None when it is missing or unreadable."""
    try:
        return (root / rel).read_bytes()
    except OSError:
        return None


@contextlib.contextmanager
def open_existing_repo(root: Path) -> Iterator[Repo | None]:
    """Yield the repository at ``root`` without creating anything (None when there is none)."""
    gitdir = root / ".git"
    if not (gitdir / "HEAD").is_file() or not (gitdir / "objects").is_dir():
        yield None
        return
    try:
        repo = Repo(str(root))
    except Exception:  # a damaged repository reads as no repository
        yield None
        return
    try:
        yield repo
    finally:
        repo.close()


def head_blobs(repo: Repo) -> dict[str, ObjectID]:
    """Return path -> blob id of every file committed at HEAD (empty on an unborn branch)."""
    try:
        head = repo.refs[HEADREF]
        tree = repo.object_store[head].tree  # type: ignore[attr-defined]
    except KeyError:
        return {}
    return {
        entry.path.decode("utf-8", "surrogateescape"): entry.sha
        for entry in iter_tree_contents(repo.object_store, tree)
        if entry.path is not None and entry.sha is not None
    }


def read_blob(repo: Repo, sha: ObjectID) -> bytes | None:
    """Return a blob's content, or None when the object is missing or not a blob."""
    try:
        obj = repo.object_store[sha]
    except KeyError:
        return None
    return obj.data if isinstance(obj, Blob) else None


def blob_id(data: bytes) -> ObjectID:
    """Return the Git blob id of ``data``."""
    return Blob.from_string(data).id


def is_managed(rel: str) -> bool:
    """Tell whether a path is one the projection owns (project, agent, message copy, digest, reservation)."""
    parts = rel.split("/")
    if len(parts) < 3 or parts[0] != "projects":
        return False
    if len(parts) == 3:
        return parts[2] == "project.json"
    section = parts[2]
    if section == "agents":
        if len(parts) == 5:
            return parts[4] in _AGENT_FILES
        return len(parts) >= 6 and parts[4] in ("inbox", "outbox") and bool(paths.MESSAGE_ID_SUFFIX.search(rel))
    if section == "messages":
        if len(parts) == 5 and parts[3] == "threads":
            return parts[4].endswith(".md")
        return bool(paths.MESSAGE_ID_SUFFIX.search(rel))
    if section == "file_reservations":
        return len(parts) == 4 and bool(_RESERVATION_FILE.match(parts[3]))
    return False


def attachment_sha(rel: str) -> str | None:
    """Return the SHA-256 named by a stored attachment path (``projects/<slug>/attachments/<xx>/<sha><ext>``)."""
    parts = rel.split("/")
    if len(parts) != 5 or parts[0] != "projects" or parts[2] != "attachments":
        return None
    match = _ATTACHMENT_FILE.match(parts[4])
    if match is None or parts[3] != match.group(1)[:2]:
        return None
    return match.group(1)


@dataclass
class ArchiveDrift:
    """How the archive differs from the projection of the database."""

    expected: dict[str, bytes]
    missing_worktree: list[str] = field(default_factory=list)
    differ_worktree: list[str] = field(default_factory=list)
    missing_committed: list[str] = field(default_factory=list)
    differ_committed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    has_repo: bool = True

    @property
    def to_write(self) -> list[str]:
        """Paths whose projection must be written (and committed)."""
        return sorted(
            set(self.missing_worktree)
            | set(self.differ_worktree)
            | set(self.missing_committed)
            | set(self.differ_committed)
        )

    @property
    def clean(self) -> bool:
        """True when work tree and HEAD both hold exactly the projection."""
        return not self.to_write and not self.extra

    def details(self) -> dict[str, object]:
        """Counts and a sample of paths of each kind of difference."""
        data: dict[str, object] = {"expected_files": len(self.expected)}
        for key in ("missing_worktree", "differ_worktree", "missing_committed", "differ_committed", "extra"):
            values: list[str] = getattr(self, key)
            if values:
                data[key] = len(values)
                data[f"{key}_sample"] = values[:_SAMPLE]
        return data


def compare_archive(expected: dict[str, bytes], root: Path) -> ArchiveDrift:
    """Compare ``expected`` (repo path -> bytes) with the work tree and the HEAD commit at ``root``."""
    drift = ArchiveDrift(expected)
    on_disk = set(worktree_paths(root))
    for rel, data in sorted(expected.items()):
        if rel not in on_disk:
            drift.missing_worktree.append(rel)
        elif read_worktree_file(root, rel) != data:
            drift.differ_worktree.append(rel)
    extra = {rel for rel in on_disk if rel not in expected and is_managed(rel)}
    with open_existing_repo(root) as repo:
        if repo is None:
            drift.has_repo = False
            drift.missing_committed = sorted(expected)
        else:
            committed = head_blobs(repo)
            for rel, data in sorted(expected.items()):
                sha = committed.get(rel)
                if sha is None:
                    drift.missing_committed.append(rel)
                elif sha != blob_id(data):
                    drift.differ_committed.append(rel)
            extra.update(rel for rel in committed if rel not in expected and is_managed(rel))
    drift.extra = sorted(extra)
    return drift


def archive_source_files(root: Path) -> tuple[dict[str, bytes], list[str]]:
    """Return the archive's managed files and stored attachments (work tree over HEAD) and the paths read from HEAD."""
    files: dict[str, bytes] = {}
    for rel in worktree_paths(root):
        if is_managed(rel) or attachment_sha(rel):
            data = read_worktree_file(root, rel)
            if data is not None:
                files[rel] = data
    from_history: list[str] = []
    with open_existing_repo(root) as repo:
        if repo is not None:
            for rel, sha in head_blobs(repo).items():
                if rel in files or not (is_managed(rel) or attachment_sha(rel)):
                    continue
                data = read_blob(repo, sha)
                if data is not None:
                    files[rel] = data
                    from_history.append(rel)
    return files, sorted(from_history)


def git_lock_files(root: Path) -> list[Path]:
    """Return Git lock files (``index.lock``, ``HEAD.lock``, ref and loose-object locks) under ``root/.git``."""
    return stale_lock_files(root)


@contextlib.contextmanager
def idle_writer(root: Path) -> Iterator[bool]:
    """Hold the archive writer lock if nobody holds it; yield whether it was free (never waits)."""
    if not (root / ".git").is_dir():
        yield True
        return
    with writer_lock(root, 0.0) as acquired:
        yield acquired
