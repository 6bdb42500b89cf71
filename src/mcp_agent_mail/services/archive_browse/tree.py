"""The archive's tree at HEAD: folder listings (paged) and file views (capped, binary files not inlined).

Paths are repository-relative and read from Git objects only, never from the work tree, so
nothing outside the archive can be reached: absolute paths, ``.`` and ``..`` segments,
backslashes and control characters are refused, and so is any path through a symbolic link.
"""

from __future__ import annotations

import asyncio
import codecs
import re
import stat
from dataclasses import dataclass, field
from typing import Any

from dulwich.objects import Blob, ObjectID, Tree
from dulwich.repo import Repo

from mcp_agent_mail.config import Settings
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.archive_browse.gitread import commit_summary, head, reading

FILE_CAP_BYTES = 256 * 1024
MAX_PATH_CHARS = 1024
MAX_PAGE = 1000
MAX_PAGE_SIZE = 500
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BINARY_PROBE = 8000
_GITLINK = 0o160000


@dataclass
class TreeView:
    """A folder listing or a file's content at HEAD."""

    path: str
    kind: str  # "dir" or "file"
    commit: dict[str, Any] | None = None
    entries: list[dict[str, Any]] = field(default_factory=list)
    page: int = 1
    page_size: int = 200
    has_next: bool = False
    size: int = 0
    text: str | None = None
    binary: bool = False
    truncated: bool = False
    cap_bytes: int = FILE_CAP_BYTES
    empty_archive: bool = False


def check_path(raw: str) -> str:
    """Validate a repository-relative path; return it without surrounding slashes ('' is the root)."""
    path = raw if isinstance(raw, str) else ""
    if len(path) > MAX_PATH_CHARS:
        raise InvalidArgumentError(f"The path is longer than {MAX_PATH_CHARS} characters.")
    if _CONTROL.search(path) or "\\" in path:
        raise InvalidArgumentError("The path contains a control character or a backslash.")
    if path.startswith("/"):
        raise InvalidArgumentError(
            f"{path!r} is an absolute path.", hint="Use a path relative to the archive, e.g. projects."
        )
    trimmed = path.rstrip("/")
    parts = trimmed.split("/") if trimmed else []
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidArgumentError(
            f"{path!r} has an empty, '.' or '..' segment.", hint="Use a path relative to the archive, e.g. projects."
        )
    return trimmed


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISLNK(mode):
        return "link"
    if mode == _GITLINK:
        return "submodule"
    return "file"


def _walk_to(repo: Repo, root: ObjectID, path: str) -> tuple[int, ObjectID]:
    """Return ``(mode, sha)`` of ``path`` in the tree ``root``, refusing any symbolic link on the way."""
    mode, sha = stat.S_IFDIR, root
    walked: list[str] = []
    for part in path.split("/") if path else []:
        walked.append(part)
        if not stat.S_ISDIR(mode):
            raise NotFoundError(f"{'/'.join(walked)!r} is not in the archive at HEAD.")
        tree = repo.object_store[sha]
        if not isinstance(tree, Tree):
            raise NotFoundError(f"{'/'.join(walked)!r} is not in the archive at HEAD.")
        try:
            mode, sha = tree[part.encode("utf-8")]
        except KeyError:
            raise NotFoundError(
                f"{'/'.join(walked)!r} is not in the archive at HEAD.", hint="Go up a folder and pick an entry."
            ) from None
        if stat.S_ISLNK(mode):
            raise InvalidArgumentError(f"{'/'.join(walked)!r} is a symbolic link; links are not followed.")
        if mode == _GITLINK:
            raise InvalidArgumentError(f"{'/'.join(walked)!r} is a submodule, which the archive does not browse.")
    return mode, sha


def _listing(repo: Repo, view: TreeView, sha: ObjectID, page: int, page_size: int) -> None:
    tree = repo.object_store[sha]
    assert isinstance(tree, Tree)
    items = sorted(tree.items(), key=lambda e: (not stat.S_ISDIR(e.mode), e.path))
    start = (page - 1) * page_size
    chosen = items[start : start + page_size]
    view.has_next = len(items) > start + page_size
    prefix = view.path + "/" if view.path else ""
    for entry in chosen:
        name = entry.path.decode("utf-8", "replace")
        item: dict[str, Any] = {"name": name, "path": prefix + name, "kind": _kind(entry.mode)}
        if item["kind"] == "file":
            blob = repo.object_store[entry.sha]
            item["size"] = blob.raw_length() if isinstance(blob, Blob) else 0
        view.entries.append(item)


def _decoded(data: bytes, truncated: bool) -> str | None:
    """Return the text of UTF-8 bytes (an incomplete last character allowed when cut), or None when binary."""
    if b"\x00" in data[:_BINARY_PROBE]:
        return None
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        return decoder.decode(data, final=not truncated)
    except UnicodeDecodeError:
        return None


def _file(repo: Repo, view: TreeView, sha: ObjectID) -> None:
    blob = repo.object_store[sha]
    if not isinstance(blob, Blob):
        raise NotFoundError(f"{view.path!r} is not a file.")
    data = blob.as_raw_string()
    view.size = len(data)
    view.truncated = len(data) > FILE_CAP_BYTES
    text = _decoded(data[:FILE_CAP_BYTES], view.truncated)
    if text is None:
        view.binary = True
    else:
        view.text = text


def _browse(settings: Settings, path: str, page: int, page_size: int) -> TreeView:
    view = TreeView(path=path, kind="dir", page=page, page_size=page_size)
    with reading(settings) as repo:
        tip = head(repo) if repo is not None else None
        if repo is None or tip is None:
            if path:
                raise NotFoundError(f"{path!r} is not in the archive: it has no commits yet.")
            view.empty_archive = True
            return view
        view.commit = commit_summary(tip)
        mode, sha = _walk_to(repo, tip.tree, path)
        if stat.S_ISDIR(mode):
            _listing(repo, view, sha, page, page_size)
        else:
            view.kind = "file"
            _file(repo, view, sha)
    return view


async def browse(settings: Settings, path: str = "", *, page: int = 1, page_size: int = 200) -> TreeView:
    """Return the folder or file at ``path`` in HEAD (INVALID_ARGUMENT for unsafe paths, NOT_FOUND if absent)."""
    clean = check_path(path)
    for value, name, high in ((page, "page", MAX_PAGE), (page_size, "page_size", MAX_PAGE_SIZE)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
            raise InvalidArgumentError(f"{name} must be an integer from 1 to {high}; got {value!r}.")
    return await asyncio.to_thread(_browse, settings, clean, page, page_size)


__all__ = ["FILE_CAP_BYTES", "TreeView", "browse", "check_path"]
