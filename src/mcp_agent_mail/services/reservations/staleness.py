"""Whether the holder of a file reservation has provably stopped working on it.

A holder is *stale* only when every available signal says so:

- the agent has been inactive (``agents.last_active_ts``) for at least
  ``FILE_RESERVATION_INACTIVITY_SECONDS`` (a retired agent counts as inactive);
- it has not sent, read or acknowledged mail within ``FILE_RESERVATION_ACTIVITY_GRACE_SECONDS``;
- for file patterns, when the project's directory exists on this machine: no file matching the
  pattern was modified within the grace period, and no commit within the grace period touched a
  matching path in the Git repository holding that directory.

Every scan is bounded (files visited, commits walked); a scan that cannot finish, or a
repository that cannot be read, proves nothing and so keeps the holder non-stale. Virtual
patterns (``tool://``, ``resource://``, ``service://``) rely on agent and mail activity only.
A stored pattern that no longer validates is read as covering the whole workspace.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dulwich.errors import NotGitRepository
from dulwich.repo import Repo
from sqlalchemy import RowMapping, func, select

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import ReadTransaction, schema
from mcp_agent_mail.services.reservations.patterns import has_glob, is_virtual, pattern_matches, read_stored_pattern
from mcp_agent_mail.timeutil import ensure_utc, iso

logger = logging.getLogger("mcp_agent_mail.staleness")

MAX_FILES_VISITED = 50_000
MAX_COMMITS = 200
GIT_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class AgentActivity:
    """What the database knows about a holder's recent work."""

    last_active: datetime | None
    last_mail: datetime | None
    retired: bool


@dataclass(frozen=True, slots=True)
class WorkspaceActivity:
    """What the project's directory and repository say about recent work on a pattern."""

    checked: bool = False  # False for virtual patterns and directories absent from this machine
    workspace_found: bool = False
    files_matched: bool = False
    last_file_change: datetime | None = None
    scan_complete: bool = True
    repository: bool = False
    repository_readable: bool = True
    last_commit: datetime | None = None


@dataclass(frozen=True, slots=True)
class Staleness:
    """The verdict on one reservation, with the evidence behind it."""

    stale: bool
    reasons: list[str]
    last_agent_activity: datetime | None
    last_mail_activity: datetime | None
    last_filesystem_activity: datetime | None
    last_git_activity: datetime | None


def _newest(*values: datetime | None) -> datetime | None:
    present = [ensure_utc(v) for v in values if v is not None]
    return max(present) if present else None


async def agent_activity(session: ReadTransaction, holder: RowMapping) -> AgentActivity:
    """Return the holder's last activity and its latest mail sent, read or acknowledged."""
    m, r = schema.messages, schema.message_recipients
    sent = (await session.execute(select(func.max(m.c.created_ts)).where(m.c.sender_id == holder["id"]))).scalar()
    receipts = (
        await session.execute(select(func.max(r.c.read_ts), func.max(r.c.ack_ts)).where(r.c.agent_id == holder["id"]))
    ).one()
    return AgentActivity(
        last_active=holder["last_active_ts"],
        last_mail=_newest(sent, receipts[0], receipts[1]),
        retired=holder["retired_at"] is not None,
    )


# ---------------------------------------------------------------------------
# Workspace (filesystem and Git), synchronous: run it in a worker thread


def _scan_root(pattern: str) -> str:
    """Return the directory (relative to the workspace) below which ``pattern`` can match."""
    body = pattern.rstrip("/")
    if "/" not in body:
        return ""  # a slash-less gitignore pattern matches at any depth
    segments = body.split("/")
    literal: list[str] = []
    for segment in segments:
        if has_glob(segment):
            break
        literal.append(segment)
    return "/".join(literal)


def _walk_files(start: Path) -> Iterator[os.DirEntry[str]]:
    """Yield the regular files below ``start`` (no symlinks followed, ``.git`` skipped)."""
    stack = [start]
    while stack:
        directory = stack.pop()
        try:
            with os.scandir(directory) as entries:
                for entry in entries:
                    if entry.name == ".git":
                        continue
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(Path(entry.path))
                        elif entry.is_file(follow_symlinks=False):
                            yield entry
                    except OSError:
                        continue
        except OSError:
            continue


def _file_activity(workspace: Path, pattern: str, cutoff: float) -> tuple[bool, float | None, bool]:
    """Return (any file matched, newest mtime seen, scan complete); stops at the first recent file."""
    start = workspace / _scan_root(pattern) if _scan_root(pattern) else workspace
    matched, newest = False, None
    try:
        if start.is_file():
            return True, start.stat().st_mtime, True
    except OSError:
        return False, None, True
    if not start.is_dir():
        return False, None, True
    for visited, entry in enumerate(_walk_files(start), start=1):
        if visited > MAX_FILES_VISITED:
            return matched, newest, False
        rel = os.path.relpath(entry.path, workspace).replace(os.sep, "/")
        if not pattern_matches(pattern, rel):
            continue
        try:
            mtime = entry.stat(follow_symlinks=False).st_mtime
        except OSError:
            continue
        matched = True
        newest = mtime if newest is None else max(newest, mtime)
        if mtime >= cutoff:
            break
    return matched, newest, True


def _changed_paths(entry: object) -> Iterator[str]:
    """Yield the paths a walked commit added, modified or deleted (relative to the repository root)."""
    changes = entry.changes()  # type: ignore[attr-defined]
    flat: list[object] = []
    for change in changes:
        if isinstance(change, list):
            flat.extend(c for c in change if c is not None)
        else:
            flat.append(change)
    for change in flat:
        for side in (change.old, change.new):  # type: ignore[attr-defined]
            if side is not None and side.path:
                yield side.path.decode("utf-8", "surrogateescape")


def _git_activity(workspace: Path, pattern: str, now: datetime) -> tuple[bool, bool, datetime | None]:
    """Return (in a repository, history readable, newest recent commit touching the pattern)."""
    try:
        repo = Repo.discover(str(workspace))
    except (NotGitRepository, OSError):
        return False, True, None
    try:
        root = Path(repo.path).resolve()
        prefix = os.path.relpath(workspace.resolve(), root).replace(os.sep, "/")
        prefix = "" if prefix == "." else prefix + "/"
        if prefix.startswith("../"):
            return False, True, None
        try:
            head = repo.head()
        except KeyError:
            return True, True, None  # no commits yet
        since = int((now - GIT_WINDOW).timestamp())
        walker = repo.get_walker(include=[head], max_entries=MAX_COMMITS, since=since)
        for walked in walker:
            for path in _changed_paths(walked):
                if not path.startswith(prefix):
                    continue
                if pattern_matches(pattern, path[len(prefix) :]):
                    return True, True, datetime.fromtimestamp(walked.commit.commit_time, UTC)
        return True, True, None
    except Exception:  # a damaged repository proves nothing either way
        logger.warning("could not read the Git history of %s", workspace, exc_info=True)
        return True, False, None
    finally:
        repo.close()


def workspace_activity(human_key: str, path_pattern: str, now: datetime) -> WorkspaceActivity:
    """Inspect the project's directory and repository for recent work on ``path_pattern`` (blocking)."""
    if is_virtual(path_pattern.strip()):
        return WorkspaceActivity()
    # A stored pattern that no longer validates is read as "**": any recent work keeps its holder.
    pattern, _problem = read_stored_pattern(path_pattern)
    workspace = Path(human_key)
    if not workspace.is_dir():
        return WorkspaceActivity(checked=True)
    grace = timedelta(seconds=get_settings().file_reservation_activity_grace_seconds)
    matched, newest, complete = _file_activity(workspace, pattern, (now - grace).timestamp())
    repository, readable, commit = _git_activity(workspace, pattern, now)
    return WorkspaceActivity(
        checked=True,
        workspace_found=True,
        files_matched=matched,
        last_file_change=datetime.fromtimestamp(newest, UTC) if newest is not None else None,
        scan_complete=complete,
        repository=repository,
        repository_readable=readable,
        last_commit=commit,
    )


# ---------------------------------------------------------------------------
# Verdict


def judge(agent: AgentActivity, workspace: WorkspaceActivity | None, now: datetime) -> Staleness:
    """Combine the evidence into a verdict with ordered reason tokens (``workspace`` None: not inspected yet)."""
    settings = get_settings()
    inactivity = settings.file_reservation_inactivity_seconds
    grace_s = settings.file_reservation_activity_grace_seconds
    grace = timedelta(seconds=grace_s)
    reasons: list[str] = []
    blockers = 0

    last_active = ensure_utc(agent.last_active) if agent.last_active is not None else None
    if agent.retired:
        reasons.append("agent_retired")
    elif last_active is None or now - last_active >= timedelta(seconds=inactivity):
        reasons.append(f"agent_inactive>{inactivity}s")
    else:
        reasons.append("agent_recently_active")
        blockers += 1

    last_mail = ensure_utc(agent.last_mail) if agent.last_mail is not None else None
    if last_mail is not None and now - last_mail < grace:
        reasons.append("mail_activity_recent")
        blockers += 1
    else:
        reasons.append(f"no_recent_mail_activity>{grace_s}s")

    if workspace is None:
        pass
    elif not workspace.checked:
        reasons.append("virtual_reservation")
    elif not workspace.workspace_found:
        reasons.append("workspace_not_on_server")
    else:
        last_file = workspace.last_file_change
        if last_file is not None and now - last_file < grace:
            reasons.append("filesystem_activity_recent")
            blockers += 1
        elif not workspace.scan_complete:
            reasons.append("filesystem_scan_incomplete")
            blockers += 1
        elif workspace.files_matched:
            reasons.append(f"no_recent_filesystem_activity>{grace_s}s")
        else:
            reasons.append("path_pattern_unmatched")
        if not workspace.repository:
            reasons.append("no_git_repository")
        elif not workspace.repository_readable:
            reasons.append("git_history_unreadable")
            blockers += 1
        elif workspace.last_commit is not None and now - workspace.last_commit < grace:
            reasons.append("git_activity_recent")
            blockers += 1
        else:
            reasons.append(f"no_recent_git_activity>{grace_s}s")

    return Staleness(
        stale=blockers == 0,
        reasons=reasons,
        last_agent_activity=last_active,
        last_mail_activity=last_mail,
        last_filesystem_activity=workspace.last_file_change if workspace else None,
        last_git_activity=workspace.last_commit if workspace else None,
    )


def _ago(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "none found"
    minutes = int((now - value).total_seconds() // 60)
    return f"{iso(value)} ({minutes} min ago)"


def release_notice(
    *, holder: str, actor: str, reservation_id: int, pattern: str, project_key: str, verdict: Staleness, note: str
) -> str:
    """Return the Markdown mail telling a holder that its stale lease was released, and how to get it back."""
    settings = get_settings()
    now = datetime.now(UTC)
    lines = [
        f"Hello {holder},",
        "",
        f"{actor} released your file reservation #{reservation_id} on `{pattern}` because it looked abandoned:",
        "",
        *[f"- `{reason}`" for reason in verdict.reasons],
        "",
        "Details:",
        "",
        f"- your last activity: {_ago(verdict.last_agent_activity, now)}",
        f"- your last mail sent, read or acknowledged: {_ago(verdict.last_mail_activity, now)}",
        f"- last change to a matching file: {_ago(verdict.last_filesystem_activity, now)}",
        f"- last commit touching the pattern: {_ago(verdict.last_git_activity, now)}",
        f"- thresholds: inactive for {settings.file_reservation_inactivity_seconds} s, "
        f"no activity within {settings.file_reservation_activity_grace_seconds} s",
    ]
    if note:
        lines += ["", f"Note from {actor}:", "", *[f"> {line}" for line in note.splitlines()]]
    lines += [
        "",
        "If you still need these files, reserve them again with file_reservation_paths "
        f'(project_key "{project_key}", paths ["{pattern}"]); if someone holds them now, '
        "the result lists the holder: reply here or message them to coordinate.",
    ]
    return "\n".join(lines) + "\n"


__all__ = [
    "AgentActivity",
    "Staleness",
    "WorkspaceActivity",
    "agent_activity",
    "judge",
    "release_notice",
    "workspace_activity",
]
