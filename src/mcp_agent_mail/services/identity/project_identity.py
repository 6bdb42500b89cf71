"""Facts about a project's repository (root, worktree, branch, remote, stable uid), read without writing anything."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dulwich.config import ConfigFile

from mcp_agent_mail.db import run_read
from mcp_agent_mail.services.identity.resolve import resolve_project

UID_FILE = ".agent-mail-project-id"
CONFIG_FILE = ".agent-mail.yaml"
_YAML_KEY = re.compile(r"^\s*(project_uid|product_uid)\s*:\s*['\"]?([A-Za-z0-9._:-]{1,128})['\"]?\s*$", re.M)
_SCP_REMOTE = re.compile(r"^(?:[^@/]+@)?([^:/]+):(.+)$")


@dataclass(frozen=True)
class _Git:
    root: Path
    git_dir: Path
    common_dir: Path


def _find_git(start: Path) -> _Git | None:
    for folder in (start, *start.parents):
        marker = folder / ".git"
        if marker.is_dir():
            return _Git(folder, marker, marker)
        if marker.is_file():
            text = marker.read_text(errors="replace").strip()
            if not text.startswith("gitdir:"):
                return None
            git_dir = (folder / text.split(":", 1)[1].strip()).resolve()
            common = git_dir
            commondir = git_dir / "commondir"
            if commondir.is_file():
                common = (git_dir / commondir.read_text().strip()).resolve()
            return _Git(folder, git_dir, common)
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace").strip() or None
    except OSError:
        return None


def normalise_remote(url: str) -> str | None:
    """Return ``host/owner/repo`` for a Git remote URL (credentials, scheme and ``.git`` dropped)."""
    raw = url.strip()
    if "://" in raw:
        rest = raw.split("://", 1)[1]
        host_part, _, path = rest.partition("/")
        host = host_part.rsplit("@", 1)[-1].split(":", 1)[0]
    else:
        match = _SCP_REMOTE.match(raw)
        if match is None:
            return None
        host, path = match.group(1), match.group(2)
    path = path.strip("/")
    if path.endswith(".git"):
        path = path[:-4]
    if not host or not path:
        return None
    return f"{host.lower()}/{path}"


def _config(common: Path) -> ConfigFile | None:
    try:
        return ConfigFile.from_path(str(common / "config"))
    except (OSError, ValueError):
        return None


def _config_value(config: ConfigFile | None, section: tuple[bytes, ...], key: bytes) -> str | None:
    if config is None:
        return None
    try:
        return config.get(section, key).decode(errors="replace")
    except KeyError:
        return None


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def repository_facts(path: str) -> dict[str, Any]:
    """Describe the repository holding ``path`` and derive the project's stable uid (blocking, read-only)."""
    canonical = Path(os.path.realpath(path))
    facts: dict[str, Any] = {"identity_mode_used": "dir", "canonical_path": str(canonical)}
    git = _find_git(canonical) if canonical.is_dir() else None
    discovery: dict[str, str] = {}
    uid: str | None = None
    source = "path"
    if git is not None:
        config = _config(git.common_dir)
        head = _read(git.git_dir / "HEAD") or ""
        remote_url = _config_value(config, (b"remote", b"origin"), b"url")
        remote = normalise_remote(remote_url) if remote_url else None
        ignorecase = _config_value(config, (b"core",), b"ignorecase")
        facts.update(
            repo_root=str(git.root),
            git_common_dir=str(git.common_dir),
            branch=head[len("ref: refs/heads/") :] if head.startswith("ref: refs/heads/") else None,
            worktree_name=git.git_dir.name if git.git_dir != git.common_dir else None,
            core_ignorecase=ignorecase.lower() == "true" if ignorecase else False,
            normalized_remote=remote,
        )
        discovery = dict(_YAML_KEY.findall(_read(git.root / CONFIG_FILE) or ""))
        default = (_read(git.common_dir / "refs/remotes/origin/HEAD") or "").rsplit("/", 1)[-1] or "main"
        candidates = (
            ("committed_file", _read(git.root / UID_FILE)),
            ("config_file", discovery.get("project_uid")),
            ("private_marker", _read(git.common_dir / "agent-mail" / "project-id")),
            ("remote", _sha(f"{remote}@{default}") if remote else None),
            ("git_common_dir", _sha(str(git.common_dir))),
        )
        source, uid = next(((s, v) for s, v in candidates if v), ("path", None))
    facts["project_uid"] = uid or _sha(str(canonical))
    facts["project_uid_source"] = source
    facts["discovery"] = discovery or None
    return facts


async def project_identity(project_key: str) -> dict[str, Any]:
    """Return a registered project's slug and human key with its repository facts (NOT_FOUND if unknown)."""
    project = await run_read(lambda session: resolve_project(session, project_key))
    facts = await asyncio.to_thread(repository_facts, project["human_key"])
    return {"slug": project["slug"], "human_key": project["human_key"], **facts}
