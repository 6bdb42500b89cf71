"""Open the archive repository for reading only: never creating it, never writing, always closing it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dulwich.objects import Commit
from dulwich.refs import HEADREF
from dulwich.repo import Repo

from mcp_agent_mail.config import Settings


@contextlib.contextmanager
def reading(settings: Settings) -> Iterator[Repo | None]:
    """Yield the archive repository, or None when there is none yet; closed afterwards."""
    root = Path(settings.storage.root)
    if not (root / ".git" / "HEAD").is_file():
        yield None
        return
    repo = Repo(str(root))
    try:
        yield repo
    finally:
        with contextlib.suppress(Exception):
            repo.close()


def head(repo: Repo) -> Commit | None:
    """Return the commit HEAD points at, or None on an empty repository."""
    try:
        sha = repo.refs[HEADREF]
    except KeyError:
        return None
    obj = repo.object_store[sha]
    return obj if isinstance(obj, Commit) else None


def _person(raw: bytes) -> tuple[str, str]:
    text = raw.decode("utf-8", "replace")
    name, _, email = text.partition("<")
    return name.strip(), email.rstrip(">").strip()


def commit_summary(commit: Commit) -> dict[str, Any]:
    """Shape a commit for a listing: sha, short sha, subject line, body, author and author time."""
    message = commit.message.decode("utf-8", "replace")
    subject, _, body = message.partition("\n")
    author, email = _person(commit.author)
    return {
        "sha": commit.id.decode(),
        "short_sha": commit.id.decode()[:10],
        "summary": subject,
        "body": body.strip("\n"),
        "author": author,
        "author_email": email,
        "authored_ts": datetime.fromtimestamp(commit.author_time, UTC).isoformat(),
        "parents": [sha.decode() for sha in commit.parents],
    }
