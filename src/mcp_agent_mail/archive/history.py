"""Read-only views of archive history (commits touching an agent's folder)."""

from __future__ import annotations

import contextlib
import posixpath
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from dulwich.object_store import tree_lookup_path
from dulwich.objects import Commit
from dulwich.refs import HEADREF
from dulwich.repo import Repo
from sqlalchemy import func, or_, select

from mcp_agent_mail.archive import paths
from mcp_agent_mail.config import Settings
from mcp_agent_mail.db import schema, sync_read_connection

MAX_SCANNED_COMMITS = 2000
_MESSAGE_ID = re.compile(rb"^Message-Id:\s*(\d+)\s*$", re.MULTILINE)


def _agent_folder(settings: Settings, project_key: str, agent_name: str) -> str | None:
    p, a = schema.projects, schema.agents
    key = (project_key or "").strip()
    if not key:
        return None
    keys = {key, posixpath.normpath(key)} if key.startswith("/") else {key}
    with sync_read_connection(settings) as conn:
        project = (
            conn.execute(select(p.c.id, p.c.slug).where(or_(p.c.human_key.in_(keys), p.c.slug == key.lower())))
            .mappings()
            .first()
        )
        if project is None:
            return None
        name = conn.execute(
            select(a.c.name).where(a.c.project_id == project["id"], func.lower(a.c.name) == agent_name.strip().lower())
        ).scalar()
    return paths.agent_dir(project["slug"], name or agent_name.strip())


def _subtree(repo: Repo, commit: Commit, path: bytes) -> bytes | None:
    try:
        return tree_lookup_path(repo.object_store.__getitem__, commit.tree, path)[1]
    except KeyError:
        return None


def agent_commits(settings: Settings, project_key: str, agent_name: str, limit: int) -> list[dict[str, Any]]:
    """Return up to ``limit`` commits (newest first) that changed the agent's archive folder, each with the ids
    of the messages it wrote (its ``Message-Id`` trailers)."""
    root = Path(settings.storage.root)
    if limit < 1 or not (root / ".git" / "HEAD").is_file():
        return []
    folder = _agent_folder(settings, project_key, agent_name)
    if folder is None:
        return []
    target = folder.encode()
    results: list[dict[str, Any]] = []
    repo = Repo(str(root))
    try:
        try:
            head = repo.refs[HEADREF]
        except KeyError:
            return []
        for scanned, entry in enumerate(repo.get_walker(include=[head])):
            if scanned >= MAX_SCANNED_COMMITS or len(results) >= limit:
                break
            commit = entry.commit
            current = _subtree(repo, commit, target)
            parents = [repo.object_store[sha] for sha in commit.parents]
            before = [_subtree(repo, parent, target) for parent in parents if isinstance(parent, Commit)]
            changed = all(old != current for old in before) if before else current is not None
            if changed:
                results.append(
                    {
                        "hexsha": commit.id.decode()[:12],
                        "summary": commit.message.decode("utf-8", "replace").split("\n", 1)[0],
                        "authored_ts": datetime.fromtimestamp(commit.author_time, UTC).isoformat(),
                        "message_ids": sorted({int(found) for found in _MESSAGE_ID.findall(commit.message)}),
                    }
                )
    finally:
        with contextlib.suppress(Exception):
            repo.close()
    return results
