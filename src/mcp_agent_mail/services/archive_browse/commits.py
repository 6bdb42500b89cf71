"""Recent archive commits (paged) and one commit's changes with a size-capped unified diff."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dulwich.diff_tree import tree_changes
from dulwich.objects import Commit, ObjectID
from dulwich.patch import write_tree_diff
from dulwich.repo import Repo

from mcp_agent_mail.config import Settings
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.archive_browse.gitread import commit_summary, head, reading

MAX_PAGE = 200
MAX_PAGE_SIZE = 100
MAX_SCANNED_COMMITS = 20_000
DIFF_CAP_BYTES = 512 * 1024
MAX_LISTED_FILES = 500
_SHA = re.compile(r"^[0-9a-fA-F]{7,40}$")


@dataclass
class CommitLog:
    """One page of the archive's history, newest first."""

    page: int
    page_size: int
    commits: list[dict[str, Any]] = field(default_factory=list)
    has_next: bool = False
    empty_archive: bool = False


@dataclass
class CommitDetail:
    """One commit: its metadata, the files it changed and its unified diff (cut at a size cap)."""

    commit: dict[str, Any]
    files: list[dict[str, str]] = field(default_factory=list)
    files_truncated: bool = False
    diff_lines: list[tuple[str, str]] = field(default_factory=list)
    diff_truncated: bool = False
    diff_cap_bytes: int = DIFF_CAP_BYTES


def _check_int(value: int, name: str, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise InvalidArgumentError(f"{name} must be an integer from 1 to {high}; got {value!r}.")


def _log(settings: Settings, page: int, page_size: int) -> CommitLog:
    log = CommitLog(page=page, page_size=page_size)
    with reading(settings) as repo:
        tip = head(repo) if repo is not None else None
        if repo is None or tip is None:
            log.empty_archive = True
            return log
        skip = (page - 1) * page_size
        walker = repo.get_walker(include=[tip.id], max_entries=skip + page_size + 1)
        for index, entry in enumerate(walker):
            if index < skip:
                continue
            if len(log.commits) == page_size:
                log.has_next = True
                break
            log.commits.append(commit_summary(entry.commit))
    return log


async def recent_commits(settings: Settings, *, page: int = 1, page_size: int = 25) -> CommitLog:
    """Return one page of the archive's commits, newest first (empty when the archive has none)."""
    _check_int(page, "page", MAX_PAGE)
    _check_int(page_size, "page_size", MAX_PAGE_SIZE)
    return await asyncio.to_thread(_log, settings, page, page_size)


def check_sha(sha: str) -> str:
    """Validate a commit id: 7 to 40 hexadecimal digits; return it lower-cased."""
    if not isinstance(sha, str) or not _SHA.match(sha):
        raise InvalidArgumentError(
            f"{sha!r} is not a commit id.", hint="A commit id is 7 to 40 hexadecimal digits, e.g. 3f2a9c1."
        )
    return sha.lower()


def _find(repo: Repo, sha: str) -> Commit:
    missing = NotFoundError(f"No commit {sha} in the archive.", hint="Pick a commit from the archive's history.")
    if len(sha) == 40:
        try:
            obj = repo.object_store[ObjectID(sha.encode())]
        except KeyError:
            raise missing from None
        if not isinstance(obj, Commit):
            raise missing
        return obj
    tip = head(repo)
    if tip is None:
        raise missing
    for entry in repo.get_walker(include=[tip.id], max_entries=MAX_SCANNED_COMMITS):
        if entry.commit.id.decode().startswith(sha):
            return entry.commit
    raise missing


class _Full(Exception):
    """Raised by the diff sink once the cap is reached, to stop computing the rest of the diff."""


class _Capped:
    """A byte sink that keeps at most ``cap`` bytes, then stops the writer (``truncated`` says so)."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.parts: list[bytes] = []
        self.size = 0
        self.truncated = False

    def write(self, data: bytes) -> int:
        room = self.cap - self.size
        kept = data[: max(0, room)]
        self.parts.append(kept)
        self.size += len(kept)
        if len(data) > len(kept):
            self.truncated = True
            raise _Full
        return len(data)

    def writelines(self, lines: Iterable[bytes]) -> None:
        for line in lines:
            self.write(line)

    def text(self) -> str:
        return b"".join(self.parts).decode("utf-8", "replace")


def _line_kind(line: str) -> str:
    if line.startswith(("+++", "---", "diff ", "index ", "new file", "deleted file", "Binary files")):
        return "meta"
    if line.startswith("@@"):
        return "hunk"
    if line.startswith("+"):
        return "add"
    if line.startswith("-"):
        return "del"
    return "context"


def _detail(settings: Settings, sha: str) -> CommitDetail:
    with reading(settings) as repo:
        if repo is None:
            raise NotFoundError(f"No commit {sha}: the archive has no history yet.")
        commit = _find(repo, sha)
        parent_tree = None
        if commit.parents:
            parent = repo.object_store[commit.parents[0]]
            parent_tree = parent.tree if isinstance(parent, Commit) else None
        detail = CommitDetail(commit=commit_summary(commit))
        for change in tree_changes(repo.object_store, parent_tree, commit.tree):
            if len(detail.files) >= MAX_LISTED_FILES:
                detail.files_truncated = True
                break
            old_path = change.old.path.decode("utf-8", "replace") if change.old and change.old.path else ""
            new_path = change.new.path.decode("utf-8", "replace") if change.new and change.new.path else ""
            detail.files.append({"change": change.type, "path": new_path or old_path, "old_path": old_path})
        sink = _Capped(DIFF_CAP_BYTES)
        with contextlib.suppress(_Full):
            write_tree_diff(sink, repo.object_store, parent_tree, commit.tree)  # type: ignore[arg-type]
    detail.diff_truncated = sink.truncated
    text = sink.text()
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    detail.diff_lines = [(_line_kind(line), line) for line in lines]
    return detail


async def commit_detail(settings: Settings, sha: str) -> CommitDetail:
    """Return one commit with its changed files and diff; INVALID_ARGUMENT for a malformed id, NOT_FOUND if absent."""
    wanted = check_sha(sha)
    return await asyncio.to_thread(_detail, settings, wanted)


__all__ = ["DIFF_CAP_BYTES", "CommitDetail", "CommitLog", "check_sha", "commit_detail", "recent_commits"]
