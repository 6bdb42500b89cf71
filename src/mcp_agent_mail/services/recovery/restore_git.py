"""What a restore point may put into ``.git``: nothing that runs code or points Git somewhere else.

A restore point can come from anywhere, and Git (and dulwich, which the archive
writer uses) obeys much of what it finds in ``.git``: ``core.worktree`` moves
the work tree, ``commondir``, ``objects/info/alternates`` and a ``.git`` *file*
send it to another repository, hooks and filter drivers run programs. So a
restore refuses the redirections outright, restores only the parts of ``.git``
that hold the archive's history (objects, refs, logs, HEAD, index), drops hooks
and everything unknown, and writes a fresh ``config`` with only the settings the
archive needs.
"""

from __future__ import annotations

import re
from pathlib import Path

from dulwich.refs import Ref, check_ref_format

from mcp_agent_mail.archive.repo import is_git_lock

GIT_DIR = ".git"
CONFIG = """[core]
\trepositoryformatversion = 0
\tfilemode = true
\tbare = false
\tlogallrefupdates = true
[commit]
\tgpgsign = false
"""
_CONFIG_KEYS = {
    "core.repositoryformatversion",
    "core.filemode",
    "core.bare",
    "core.logallrefupdates",
    "commit.gpgsign",
}
# Files that make Git read objects, refs or settings from another place.
_REDIRECTS = {
    "commondir",
    "gitdir",
    "config.worktree",
    "objects/info/alternates",
    "objects/info/http-alternates",
    "info/grafts",
}
_REDIRECT_DIRS = ("worktrees", "modules")
# What of .git is restored; anything else (hooks, FETCH_HEAD, lock files, ...) is left out.
_KEPT_TOP = {"HEAD", "config", "description", "index", "packed-refs", "refs", "objects", "logs", "branches"}
_KEPT_INFO = {"info", "info/exclude"}
_SHA1 = re.compile(rb"[0-9a-f]{40}")
_SECTION = re.compile(r'^\s*\[\s*([^\]\s"]+)(?:\s+"([^"]*)")?\s*\]')
_KEY = re.compile(r"^\s*([A-Za-z][A-Za-z0-9-]*)\s*(?:=|$)")


def _is_git_name(part: str) -> bool:
    # Case-insensitive file systems and Windows trailing dots/spaces make these the same folder.
    return part.rstrip(". ").casefold() == GIT_DIR


def check_storage_member(rel: str, *, is_dir: bool) -> None:
    """Raise ValueError for a storage member (path relative to the storage root) that redirects Git."""
    parts = rel.split("/")
    for depth, part in enumerate(parts):
        if _is_git_name(part) and (depth > 0 or part != GIT_DIR):
            raise ValueError(f"storage member {rel!r} is a Git directory inside the archive's work tree")
    if parts[0] != GIT_DIR:
        return
    if len(parts) == 1:
        if not is_dir:
            raise ValueError("storage_repo/.git is a file (a link to another repository), not a Git directory")
        return
    inner = "/".join(parts[1:])
    if inner in _REDIRECTS or parts[1] in _REDIRECT_DIRS:
        raise ValueError(f"storage member {rel!r} would make Git read another repository")


def restored(rel: str) -> bool:
    """Tell whether a storage member (path relative to the storage root) is restored at all."""
    parts = rel.split("/")
    if parts[0] != GIT_DIR or len(parts) == 1:
        return True
    if is_git_lock(rel):
        return False
    if parts[1] == "info":
        return "/".join(parts[1:]) in _KEPT_INFO
    return parts[1] in _KEPT_TOP


def _config_keys(text: str) -> list[str]:
    """Return ``section[.sub].key`` for every setting of a Git config file (as written, best effort)."""
    keys: list[str] = []
    section = ""
    for line in text.splitlines():
        header = _SECTION.match(line)
        if header:
            name, sub = header.group(1).lower(), header.group(2)
            section = f"{name}.{sub}" if sub is not None else name
            continue
        key = _KEY.match(line)
        if key and section and not line.lstrip().startswith(("#", ";")):
            keys.append(f"{section}.{key.group(1).lower()}")
    return keys


def _check_ref_value(name: str, raw: bytes) -> None:
    value = raw.strip()
    if _SHA1.fullmatch(value):
        return
    if value.startswith(b"ref: ") and check_ref_format(Ref(value[5:].strip())):
        return
    raise ValueError(f"{name} is neither a commit id nor a reference under refs/")


def _check_packed_refs(raw: bytes) -> None:
    for line in raw.splitlines():
        if not line or line.startswith(b"#"):
            continue
        if line.startswith(b"^") and _SHA1.fullmatch(line[1:].strip()):
            continue
        sha, _, name = line.partition(b" ")
        if not (_SHA1.fullmatch(sha) and check_ref_format(Ref(name.strip()))):
            raise ValueError("packed-refs holds a line that is not '<commit id> refs/...'")


def secure_git_dir(storage: Path) -> list[str]:
    """Check the refs of a freshly extracted ``storage/.git`` and replace its config; return notes for people."""
    git_dir = storage / GIT_DIR
    if not git_dir.is_dir():
        return []
    notes: list[str] = []
    head = git_dir / "HEAD"
    if head.is_file():
        _check_ref_value(".git/HEAD", head.read_bytes())
    refs = git_dir / "refs"
    if refs.is_dir():
        for ref in sorted(p for p in refs.rglob("*") if p.is_file()):
            _check_ref_value(ref.relative_to(storage).as_posix(), ref.read_bytes())
    packed = git_dir / "packed-refs"
    if packed.is_file():
        _check_packed_refs(packed.read_bytes())
    config = git_dir / "config"
    if config.is_file():
        original = config.read_text(encoding="utf-8", errors="replace")
        dropped = sorted({key for key in _config_keys(original) if key not in _CONFIG_KEYS})
        if dropped:
            notes.append(f"Git settings of the restore point not restored: {', '.join(dropped)}.")
        config.unlink()
    config.write_text(CONFIG, encoding="utf-8")
    (git_dir / "hooks").mkdir(exist_ok=True)
    return notes


def left_out(members: list[str]) -> list[str]:
    """Return the notes for storage members that a restore does not restore (hooks and unknown ``.git`` files)."""
    hooks = sorted(m for m in members if m.startswith(f"{GIT_DIR}/hooks/"))
    other = sorted(m for m in members if not restored(m) and m not in hooks and not is_git_lock(m))
    notes = []
    if hooks:
        notes.append(
            f"Git hooks not restored (they never run from a restored archive): "
            f"{', '.join(h.rsplit('/', 1)[-1] for h in hooks)}."
        )
    if other:
        shown = ", ".join(other[:10]) + (f" and {len(other) - 10} more" if len(other) > 10 else "")
        notes.append(f"Unknown files in .git not restored: {shown}.")
    return notes


__all__ = ["CONFIG", "check_storage_member", "left_out", "restored", "secure_git_dir"]
