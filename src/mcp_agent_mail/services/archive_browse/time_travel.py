"""An agent's inbox as the archive recorded it at a chosen time, read from Git history.

The snapshot is the newest archive commit authored at or before the chosen time; the inbox is
the agent's ``inbox`` folder in that commit, each file described by its JSON front matter
(sender, subject, importance, time). Nothing here reads the database's messages, so the page
shows what the archive held then, including mail deleted since.
"""

from __future__ import annotations

import asyncio
import stat
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dulwich.object_store import tree_lookup_path
from dulwich.objects import Blob, Commit, ObjectID, Tree
from dulwich.repo import Repo
from sqlalchemy import RowMapping

from mcp_agent_mail.archive import paths
from mcp_agent_mail.archive.render import parse_message_document
from mcp_agent_mail.config import Settings
from mcp_agent_mail.db import ReadTransaction, run_read
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.archive_browse.gitread import commit_summary, head, reading
from mcp_agent_mail.services.identity.resolve import get_agent, resolve_project
from mcp_agent_mail.timeutil import iso, parse_timestamp

MAX_SCANNED_COMMITS = 20_000
MAX_INBOX_FILES = 20_000
MAX_PAGE = 1000
MAX_PAGE_SIZE = 200


@dataclass
class InboxSnapshot:
    """An agent's inbox in the newest commit at or before ``requested``."""

    project: dict[str, Any]
    agent: str
    requested: str
    commit: dict[str, Any] | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    page: int = 1
    page_size: int = 50
    has_next: bool = False
    total: int = 0
    note: str | None = None


def parse_moment(raw: str) -> datetime:
    """Read the chosen time: ISO-8601, minutes enough (``2026-12-01T10:00``); no offset means UTC."""
    return parse_timestamp(raw, field="at")


def _snapshot_commit(repo: Repo, until: int) -> tuple[Commit | None, bool]:
    """Return the newest commit authored at or before ``until`` and whether the scan stopped at its bound."""
    tip = head(repo)
    if tip is None:
        return None, False
    for scanned, entry in enumerate(repo.get_walker(include=[tip.id])):
        if scanned >= MAX_SCANNED_COMMITS:
            return None, True
        if entry.commit.author_time <= until:
            return entry.commit, False
    return None, False


def _inbox_files(repo: Repo, commit: Commit, folder: str) -> list[tuple[str, ObjectID]]:
    """Return ``(name, blob sha)`` of the Markdown files under ``folder`` (year/month levels), newest name first."""
    found: list[tuple[str, ObjectID]] = []
    pending: list[tuple[ObjectID, int]] = []
    try:
        mode, sha = tree_lookup_path(repo.object_store.__getitem__, commit.tree, folder.encode())
    except KeyError:
        return []
    if not stat.S_ISDIR(mode):
        return []
    pending.append((sha, 0))
    while pending and len(found) < MAX_INBOX_FILES:
        tree_sha, depth = pending.pop()
        tree = repo.object_store[tree_sha]
        if not isinstance(tree, Tree):
            continue
        for entry in tree.items():
            if stat.S_ISDIR(entry.mode) and depth < 2:
                pending.append((entry.sha, depth + 1))
            elif stat.S_ISREG(entry.mode) and entry.path.endswith(b".md"):
                found.append((entry.path.decode("utf-8", "replace"), entry.sha))
    found.sort(key=lambda item: item[0], reverse=True)
    return found


def _describe(repo: Repo, name: str, sha: ObjectID) -> dict[str, Any]:
    """Describe one inbox file from its front matter, falling back to what its file name says."""
    match = paths.MESSAGE_ID_SUFFIX.search(name)
    item: dict[str, Any] = {
        "id": int(match.group(1)) if match else None,
        "subject": name.split("__")[1] if name.count("__") >= 2 else name,
        "from": "",
        "importance": "",
        "created": "",
        "file": name,
    }
    blob = repo.object_store[sha]
    if not isinstance(blob, Blob):
        return item
    try:
        front, _body = parse_message_document(blob.as_raw_string())
    except (ValueError, UnicodeDecodeError):
        return item
    for key in ("id", "subject", "from", "importance", "created", "thread_id"):
        value = front.get(key)
        if isinstance(value, (str, int)) and not isinstance(value, bool):
            item[key] = value
    if not isinstance(item["id"], int):
        item["id"] = None
    try:
        item["created"] = iso(parse_timestamp(str(item["created"]))) if item["created"] else ""
    except InvalidArgumentError:
        item["created"] = ""
    return item


def _read_history(
    settings: Settings, snapshot: InboxSnapshot, folder: str, until: int, page: int, page_size: int
) -> InboxSnapshot:
    with reading(settings) as repo:
        if repo is None:
            snapshot.note = "The archive has no history yet."
            return snapshot
        commit, cut = _snapshot_commit(repo, until)
        if commit is None:
            snapshot.note = (
                f"Only the newest {MAX_SCANNED_COMMITS} commits are searched, and none is that old."
                if cut
                else "No archive commit was made at or before that time; pick a later time."
            )
            return snapshot
        snapshot.commit = commit_summary(commit)
        files = _inbox_files(repo, commit, folder)
        snapshot.total = len(files)
        start = (page - 1) * page_size
        snapshot.has_next = len(files) > start + page_size
        snapshot.messages = [_describe(repo, name, sha) for name, sha in files[start : start + page_size]]
        if not files:
            snapshot.note = "The agent's inbox was empty at that time."
    return snapshot


async def _owner(project_key: str, agent_name: str) -> tuple[RowMapping, RowMapping]:
    async def read(session: ReadTransaction) -> tuple[RowMapping, RowMapping]:
        project = await resolve_project(session, project_key)
        return project, await get_agent(session, project, agent_name)

    return await run_read(read)


async def inbox_owner(project_key: str, agent_name: str) -> tuple[dict[str, Any], str]:
    """Return the project (slug, human key) and the agent's exact name (NOT_FOUND when either is unknown)."""
    project, agent = await _owner(project_key, agent_name)
    return {"slug": project["slug"], "human_key": project["human_key"]}, str(agent["name"])


async def inbox_at(
    settings: Settings, project_key: str, agent_name: str, at: str, *, page: int = 1, page_size: int = 50
) -> InboxSnapshot:
    """Return the agent's inbox as the archive held it at ``at`` (NOT_FOUND for an unknown project or agent)."""
    moment = parse_moment(at)
    for value, name, high in ((page, "page", MAX_PAGE), (page_size, "page_size", MAX_PAGE_SIZE)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise InvalidArgumentError(f"{name} must be an integer from 1 to {high}; got {value!r}.")

    project, agent = await _owner(project_key, agent_name)
    snapshot = InboxSnapshot(
        project={"slug": project["slug"], "human_key": project["human_key"]},
        agent=agent["name"],
        requested=iso(moment) or "",
        page=page,
        page_size=page_size,
    )
    folder = paths.agent_dir(project["slug"], agent["name"]) + "/inbox"
    until = int(moment.timestamp())
    return await asyncio.to_thread(_read_history, settings, snapshot, folder, until, page, page_size)


__all__ = ["InboxSnapshot", "inbox_at", "inbox_owner", "parse_moment"]
