"""The guard's hook body: collect the paths a commit or push touches and refuse those other agents reserved.

``run_hook`` is what the installed plugin calls; ``run_check`` backs ``mcp-agent-mail
guard check``. Both read the mailbox database directly (see ``guard.check``): a SQLite file
(``database_path``) or a PostgreSQL database (``database_url``, stored without its password,
and the ``passfile`` that ``guard install`` wrote; see :mod:`mcp_agent_mail.guard`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from mcp_agent_mail.guard.check import (
    Conflict,
    find_conflicts,
    project_slug_for_repo,
)
from mcp_agent_mail.guard.mailbox import (
    Mailbox,
    MailboxUnreadable,
    PostgresMailbox,
    is_postgres_url,
    parse_postgres_url,
)
from mcp_agent_mail.wording import agrees, counted

BYPASS_ENV = "AGENT_MAIL_BYPASS"
MODE_ENV = "AGENT_MAIL_GUARD_MODE"
AGENT_ENV = "AGENT_NAME"
TRUTHY = frozenset({"1", "true", "t", "yes", "y"})
WARN_MODES = frozenset({"warn", "advisory", "adv"})
MAX_LINES = 20
_ZERO_SHA = frozenset("0")
_GIT_TIMEOUT = 120


class GitFailed(Exception):
    """A git command the guard needs failed."""


def _say(line: str) -> None:
    sys.stderr.write(line + "\n")


def _git(*args: str, cwd: Path | None = None, stdin: bytes | None = None) -> bytes:
    """Run git (inheriting the hook's environment, so GIT_INDEX_FILE etc. apply) and return its stdout."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, input=stdin, capture_output=True, check=False, timeout=_GIT_TIMEOUT
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise GitFailed(f"git {args[0]}: {exc}") from exc
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", errors="replace").strip() or f"exit status {done.returncode}"
        raise GitFailed(f"git {' '.join(args[:2])}: {why}")
    return done.stdout


def _git_ignorecase(cwd: Path | None = None) -> bool:
    try:
        return _git("config", "--bool", "core.ignorecase", cwd=cwd).strip() == b"true"
    except GitFailed:
        return False  # unset: git config exits 1


def parse_name_status(output: bytes) -> list[str]:
    """Return the paths of ``--name-status -z`` output in order; renames and copies give old and new names."""
    fields = output.split(b"\0")
    paths: list[str] = []
    i = 0
    while i < len(fields):
        status = fields[i]
        if not status:
            i += 1
            continue
        names = 2 if status[:1] in (b"R", b"C") else 1
        for raw in fields[i + 1 : i + 1 + names]:
            paths.append(raw.decode("utf-8", errors="surrogateescape"))
        i += 1 + names
    return list(dict.fromkeys(paths))


def staged_paths() -> list[str]:
    """Return the paths the commit being made adds, changes, deletes or renames (old and new names)."""
    return parse_name_status(_git("diff", "--cached", "--name-status", "-M", "-z"))


def _is_zero(sha: str) -> bool:
    return not sha or set(sha) <= _ZERO_SHA


def _known(sha: str) -> bool:
    try:
        _git("cat-file", "-e", f"{sha}^{{commit}}")
    except GitFailed:
        return False
    return True


def pushed_paths(argv: list[str], updates: str) -> list[str]:
    """Return the paths touched by the commits a push sends that the remote does not have yet."""
    remote = argv[0] if argv and argv[0] else "origin"
    commits: list[str] = []
    for line in updates.splitlines():
        fields = line.split()
        if len(fields) != 4:
            continue
        _local_ref, local_sha, _remote_ref, remote_sha = fields
        if _is_zero(local_sha):
            continue  # deleting a remote branch sends no commits
        exclude = [f"^{remote_sha}"] if not _is_zero(remote_sha) and _known(remote_sha) else []
        listed = _git("rev-list", local_sha, *exclude, "--not", f"--remotes={remote}")
        commits.extend(listed.decode().split())
    if not commits:
        return []
    shas = "".join(f"{sha}\n" for sha in dict.fromkeys(commits)).encode()
    tree = _git("diff-tree", "--stdin", "-r", "--no-commit-id", "--name-status", "-M", "-z", stdin=shas)
    return parse_name_status(tree)


def _read_stdin() -> str:
    stream = sys.stdin
    if stream is None or stream.isatty():
        return ""
    return stream.buffer.read().decode("utf-8", errors="replace")


def report_conflicts(tag: str, conflicts: list[Conflict], *, agent_name: str | None) -> None:
    """Write the conflict report to stderr: a header, up to MAX_LINES conflicts, and what to do."""
    files = len({c.path for c in conflicts})
    _say(f"{tag} mcp-agent-mail: {counted(files, 'file')} {agrees(files, 'is', 'are')} reserved by other agents:")
    for c in conflicts[:MAX_LINES]:
        until = c.expires_ts.isoformat(timespec="seconds")
        how = "matches" if c.problem is None else "is covered by the unreadable pattern"
        _say(f"  {c.path}  {how} {c.pattern}  (held by {c.holder} until {until})")
    if len(conflicts) > MAX_LINES:
        _say(f"  ... and {len(conflicts) - MAX_LINES} more")
    for holder, problem in dict.fromkeys((c.holder, c.problem) for c in conflicts if c.problem):
        _say(
            f"{tag} {holder}'s reservation cannot be read: {problem} It counts as covering every path "
            f"until {holder} releases it or it expires."
        )
    if not agent_name:
        _say(
            f"{AGENT_ENV} is not set, so every holder counts: set {AGENT_ENV}=<your agent name> "
            "if some of these reservations are yours."
        )
    _say(
        f"Coordinate with the holder (send_message) or wait; {MODE_ENV}=warn to only warn, {BYPASS_ENV}=1 to skip once."
    )


def _report_unreadable(tag: str, exc: MailboxUnreadable) -> None:
    _say(f"{tag} mcp-agent-mail guard cannot read the mailbox at {exc.path}: {exc.why}")
    reinstall = "reinstall the guard with `mcp-agent-mail guard install <project> <repo>`"
    if isinstance(exc.path, PostgresMailbox):
        _say(
            f"Check that the database is up and reachable from here, {reinstall} if it moved, or set {BYPASS_ENV}=1 "
            "to skip it once."
        )
    else:
        _say(f"{reinstall[0].upper()}{reinstall[1:]}, or set {BYPASS_ENV}=1 to skip it once.")


def plugin_mailbox(database_path: str | Path | None, database_url: str | None, passfile: str | None) -> Mailbox:
    """Return the mailbox an installed plugin names: its SQLite file, or its PostgreSQL URL and password file."""
    if database_url:
        try:
            return parse_postgres_url(database_url, passfile=passfile)
        except ValueError as exc:
            raise MailboxUnreadable(Path("<hook>"), f"{exc}; reinstall the guard") from None
    if database_path is None or not str(database_path).strip():
        raise MailboxUnreadable(Path("<hook>"), "the hook names no mailbox database; reinstall the guard")
    return Path(database_path)


def _warn_mode(tag: str) -> bool:
    mode = os.environ.get(MODE_ENV, "").strip().lower()
    if mode and mode != "block" and mode not in WARN_MODES:
        _say(f"{tag} unknown {MODE_ENV}={mode!r}; using block (choose block or warn).")
    return mode in WARN_MODES


def run_hook(
    hook: str,
    *,
    project_slug: str,
    argv: list[str],
    database_path: str | Path | None = None,
    database_url: str | None = None,
    passfile: str | None = None,
) -> int:
    """Run the guard as Git's ``hook`` (pre-commit or pre-push) and return the exit code for Git."""
    tag = f"[{hook}]"
    if os.environ.get(BYPASS_ENV, "").strip().lower() in TRUTHY:
        _say(f"{tag} mcp-agent-mail guard bypassed ({BYPASS_ENV})")
        return 0
    warn = _warn_mode(tag)
    refuse = 0 if warn else 1
    agent = os.environ.get(AGENT_ENV, "").strip() or None
    try:
        paths = pushed_paths(argv, _read_stdin()) if hook == "pre-push" else staged_paths()
    except GitFailed as exc:
        _say(f"{tag} mcp-agent-mail guard could not list the changed paths: {exc}")
        return refuse
    if not paths:
        return 0
    try:
        mailbox = plugin_mailbox(database_path, database_url, passfile)
        conflicts = find_conflicts(mailbox, project_slug, paths, agent_name=agent, ignorecase=_git_ignorecase())
    except MailboxUnreadable as exc:
        _report_unreadable(tag, exc)
        return refuse
    if not conflicts:
        return 0
    report_conflicts(tag, conflicts, agent_name=agent)
    if warn:
        _say(f"{tag} {MODE_ENV}=warn: continuing anyway.")
    return refuse


def _configured_database() -> Mailbox | None:
    """Return the mailbox DATABASE_URL names (a PostgreSQL one with its password, kept in memory only)."""
    from mcp_agent_mail.config import get_settings
    from mcp_agent_mail.db.engine import sqlite_path_from_url

    url = get_settings().database.url
    if is_postgres_url(url):
        try:
            return parse_postgres_url(url)
        except ValueError:
            return None
    return sqlite_path_from_url(url)


def _main_work_tree(root: Path) -> Path:
    """Return the main work tree of the repository at ``root`` (``root`` itself unless it is a linked worktree)."""
    try:
        common = _git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=root).decode().strip()
    except GitFailed:
        return root
    common_dir = Path(common)
    return common_dir.parent if common_dir.name == ".git" else root


def run_check(
    paths: list[str],
    *,
    repo: Path,
    agent_name: str | None,
    advisory: bool,
    database_path: Mailbox | None = None,
) -> int:
    """Check ``paths`` of the repository at ``repo`` against other agents' exclusive reservations; return 0 or 1.

    ``database_path`` is the mailbox to read (a SQLite file or a PostgresMailbox); by default, DATABASE_URL's.
    """
    tag = "[guard check]"
    refuse = 0 if advisory else 1
    try:
        root = Path(_git("rev-parse", "--show-toplevel", cwd=Path(repo)).decode().strip())
    except GitFailed as exc:
        _say(f"{tag} {repo} is not inside a Git work tree: {exc}")
        return refuse
    database = database_path or _configured_database()
    if database is None:
        _say(f"{tag} the guard reads a SQLite file or a PostgreSQL database, and DATABASE_URL names neither.")
        return refuse
    try:
        slug = project_slug_for_repo(database, root)
        if slug is None:  # a linked worktree belongs to its main tree's project
            main_tree = _main_work_tree(root)
            slug = project_slug_for_repo(database, main_tree) if main_tree != root else None
        if slug is None:
            _say(f"{tag} no mailbox project has the human key {root}.")
            _say("Create it with ensure_project (human_key = the repository root), or pass --repo.")
            return refuse
        conflicts = find_conflicts(database, slug, paths, agent_name=agent_name, ignorecase=_git_ignorecase(root))
    except MailboxUnreadable as exc:
        _report_unreadable(tag, exc)
        return refuse
    if not conflicts:
        return 0
    report_conflicts(tag, conflicts, agent_name=agent_name)
    return refuse


__all__ = ["parse_name_status", "pushed_paths", "report_conflicts", "run_check", "run_hook", "staged_paths"]
