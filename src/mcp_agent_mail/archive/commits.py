"""Read-only lookup of the archive commit that added each message.

Every archive commit that writes a message carries a ``Message-Id: <id>``
trailer (receipts and deletions carry it too). One walk from ``HEAD`` reads
the trailers; a commit is the one that *added* a message when the message's
canonical file exists in it and in none of its parents. The walk stops once
every wanted message is found, or after a bounded number of commits.
"""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dulwich.object_store import tree_lookup_path
from dulwich.objects import Commit
from dulwich.refs import HEADREF
from dulwich.repo import Repo

MAX_SCANNED_COMMITS = 2000
_TRAILER = re.compile(rb"^Message-Id:\s*(\d+)\s*$", re.MULTILINE)


def _has_path(repo: Repo, commit: Commit, path: bytes) -> bool:
    try:
        tree_lookup_path(repo.object_store.__getitem__, commit.tree, path)
    except KeyError:
        return False
    return True


def commit_info(commit: Commit) -> dict[str, Any]:
    """Shape a commit for clients: short sha, subject line and author time."""
    return {
        "hexsha": commit.id.decode()[:12],
        "summary": commit.message.decode("utf-8", "replace").split("\n", 1)[0],
        "authored_ts": datetime.fromtimestamp(commit.author_time, UTC).isoformat(),
    }


def adding_commits(
    root: Path, canonical_paths: dict[int, str], *, max_commits: int = MAX_SCANNED_COMMITS
) -> dict[int, dict[str, Any]]:
    """Map message ids to the commit that added their canonical file (ids not found are left out)."""
    if not canonical_paths or not (root / ".git" / "HEAD").is_file():
        return {}
    wanted = {message_id: path.encode() for message_id, path in canonical_paths.items()}
    found: dict[int, dict[str, Any]] = {}
    repo = Repo(str(root))
    try:
        try:
            head = repo.refs[HEADREF]
        except KeyError:
            return {}
        for scanned, entry in enumerate(repo.get_walker(include=[head])):
            if scanned >= max_commits or len(found) == len(wanted):
                break
            commit = entry.commit
            ids = {int(m) for m in _TRAILER.findall(commit.message)} & (wanted.keys() - found.keys())
            if not ids:
                continue
            parents = [p for p in (repo.object_store[sha] for sha in commit.parents) if isinstance(p, Commit)]
            for message_id in ids:
                path = wanted[message_id]
                if _has_path(repo, commit, path) and not any(_has_path(repo, p, path) for p in parents):
                    found[message_id] = commit_info(commit)
    finally:
        with contextlib.suppress(Exception):
            repo.close()
    return found
