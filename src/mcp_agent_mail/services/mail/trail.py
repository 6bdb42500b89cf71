"""Where a message shows in the Git archive: the commit that first recorded it."""

from __future__ import annotations

import asyncio
import contextlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dulwich.refs import HEADREF
from dulwich.repo import Repo

from mcp_agent_mail.config import Settings, get_settings

MAX_SCANNED_COMMITS = 2000


def _mentions(message_id: int) -> re.Pattern[bytes]:
    return re.compile(rb"^Message-Id:\s*" + str(message_id).encode() + rb"\s*$", re.MULTILINE)


def _find(settings: Settings, message_id: int) -> dict[str, Any] | None:
    root = Path(settings.storage.root)
    if not (root / ".git" / "HEAD").is_file():
        return None
    pattern = _mentions(message_id)
    found: dict[str, Any] | None = None
    repo = Repo(str(root))
    try:
        try:
            head = repo.refs[HEADREF]
        except KeyError:
            return None
        for scanned, entry in enumerate(repo.get_walker(include=[head])):
            if scanned >= MAX_SCANNED_COMMITS:
                break
            commit = entry.commit
            if pattern.search(commit.message):  # newest first: the last match is the oldest, which recorded it
                found = {
                    "sha": commit.id.decode(),
                    "short": commit.id.decode()[:12],
                    "summary": commit.message.decode("utf-8", "replace").split("\n", 1)[0],
                    "authored_ts": datetime.fromtimestamp(commit.author_time, UTC).isoformat(),
                }
    finally:
        with contextlib.suppress(Exception):
            repo.close()
    return found


async def message_commit(message_id: int, settings: Settings | None = None) -> dict[str, Any] | None:
    """Return the archive commit that first recorded a message (sha, summary, time), or None if none yet."""
    return await asyncio.to_thread(_find, settings or get_settings(), message_id)


__all__ = ["message_commit"]
