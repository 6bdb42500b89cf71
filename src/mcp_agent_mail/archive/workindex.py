"""The archive's Git index, kept in memory between batches and rewritten without re-encoding unchanged entries.

The index only mirrors the work tree for people who run ``git status`` in the
archive and lets the writer skip files whose content and stat are unchanged;
commits are built from the ``HEAD`` tree. Only the holder of the writer lock
touches it. A cached copy is reused while the file on disk is the one this
process wrote last (same inode, size and times); anything else is read again,
and an unreadable index is rebuilt from ``HEAD``.
"""

from __future__ import annotations

import bisect
import contextlib
import hashlib
import logging
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

from dulwich.file import GitFile
from dulwich.index import FLAG_VALID, Index, IndexEntry
from dulwich.objects import Blob, ObjectID, Tree
from dulwich.refs import HEADREF
from dulwich.repo import Repo

from mcp_agent_mail.archive import paths

logger = logging.getLogger(__name__)

_HEADER = struct.Struct(">4sLL")
_ENTRY = struct.Struct(">LLLLLLLLLL20sH")
_MASK = 0xFFFFFFFF
_NAME_MASK = 0x0FFF

Fingerprint = tuple[int, int, int, int]


def _fingerprint(path: str) -> Fingerprint | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def _seconds(value: int | float | tuple[int, int]) -> tuple[int, int]:
    if isinstance(value, tuple):
        return value
    if isinstance(value, int):
        return value, 0
    whole, fraction = divmod(value, 1.0)
    return int(whole), int(fraction * 1_000_000_000)


def pack_entry(name: bytes, entry: IndexEntry) -> bytes | None:
    """Encode one stage-0 entry in index format 2 (None when it needs a newer format)."""
    if entry.extended_flags or entry.flags & ~(FLAG_VALID | _NAME_MASK):
        return None
    ctime_s, ctime_ns = _seconds(entry.ctime)
    mtime_s, mtime_ns = _seconds(entry.mtime)
    head = _ENTRY.pack(
        ctime_s & _MASK,
        ctime_ns & _MASK,
        mtime_s & _MASK,
        mtime_ns & _MASK,
        entry.dev & _MASK,
        entry.ino & _MASK,
        entry.mode & _MASK,
        entry.uid & _MASK,
        entry.gid & _MASK,
        entry.size & _MASK,
        bytes.fromhex(entry.sha.decode("ascii")),
        (entry.flags & FLAG_VALID) | min(len(name), _NAME_MASK),
    )
    size = len(head) + len(name)
    return head + name + b"\0" * (((size + 8) & ~7) - size)


@dataclass
class WorkIndex:
    """An in-memory index with each entry's encoded form cached."""

    path: str
    index: Index
    fingerprint: Fingerprint | None = None
    dirty: bool = False
    _packed: dict[bytes, bytes | None] = field(default_factory=dict)
    _names: list[bytes] | None = None  # sorted entry names, kept in step once the index was first written
    _by_message: dict[int, set[str]] | None = None

    def __contains__(self, key: bytes) -> bool:
        return key in self.index

    def __iter__(self) -> Iterator[bytes]:
        return iter(list(self.index))

    def get(self, key: bytes) -> IndexEntry | None:
        """Return the stage-0 entry of a path, or None."""
        if key not in self.index:
            return None
        entry = self.index[key]
        return entry if isinstance(entry, IndexEntry) else None

    def put(self, key: bytes, entry: IndexEntry) -> None:
        """Add or replace the entry of a path."""
        if key not in self.index:
            if self._by_message is not None:
                self._note(key.decode(), add=True)
            if self._names is not None:
                bisect.insort(self._names, key)
        self.index[key] = entry
        self._packed.pop(key, None)
        self.dirty = True

    def remove(self, key: bytes) -> None:
        """Drop a path from the index (no error when absent)."""
        if key in self.index:
            del self.index[key]
            self.dirty = True
            if self._by_message is not None:
                self._note(key.decode(), add=False)
            if self._names is not None:
                del self._names[bisect.bisect_left(self._names, key)]
        self._packed.pop(key, None)

    def message_paths(self, message_id: int) -> set[str]:
        """Return the tracked canonical, inbox and outbox copies of a message id."""
        if self._by_message is None:
            self._by_message = {}
            for key in self.index:
                self._note(key.decode(), add=True)
        return set(self._by_message.get(message_id, ()))

    def _note(self, path: str, *, add: bool) -> None:
        assert self._by_message is not None
        match = paths.MESSAGE_ID_SUFFIX.search(path)
        if match is None or "/messages/threads/" in path:
            return
        found = self._by_message.setdefault(int(match.group(1)), set())
        if add:
            found.add(path)
        else:
            found.discard(path)

    def write(self) -> None:
        """Write the index (format 2 from cached encodings; dulwich's writer for anything unusual)."""
        if self._names is None:
            self._names = sorted(self.index)
        names, packed = self._names, self._packed
        if len(packed) != len(names):
            for name in names:
                if name not in packed:
                    entry = self.index[name]
                    packed[name] = pack_entry(name, entry) if isinstance(entry, IndexEntry) else None
        chunks = [packed[name] for name in names]
        if None in chunks:
            self.index.write()
            self.fingerprint, self.dirty = _fingerprint(self.path), False
            return
        body = _HEADER.pack(b"DIRC", 2, len(names)) + b"".join(cast("list[bytes]", chunks))
        # Durability comes from the batch's barrier, not from a per-file fsync.
        with GitFile(self.path, "wb", fsync=False) as handle:
            handle.write(body)
            handle.write(hashlib.sha1(body).digest())
        self.fingerprint, self.dirty = _fingerprint(self.path), False


_cache: dict[str, WorkIndex] = {}


def _from_head(repo: Repo, path: str) -> Index:
    """Build an index listing HEAD's files without stat data (git refreshes it on its next status)."""
    index = Index(path, read=False)
    try:
        head = repo.object_store[repo.refs[HEADREF]]
    except KeyError:
        return index
    tree_id: ObjectID | None = getattr(head, "tree", None)
    pending: list[tuple[bytes, ObjectID]] = [(b"", tree_id)] if tree_id else []
    while pending:
        prefix, sha = pending.pop()
        tree = repo.object_store[sha]
        if not isinstance(tree, Tree):
            continue
        for item in tree.items():
            name = prefix + item.path
            if item.mode is not None and item.mode & 0o170000 == 0o040000:
                pending.append((name + b"/", item.sha))
            elif isinstance(repo.object_store[item.sha], Blob):
                index[name] = IndexEntry(0, 0, 0, 0, item.mode or 0o100644, 0, 0, 0, item.sha)
    return index


def load(repo: Repo) -> WorkIndex:
    """Return the index of ``repo``: the cached copy while the file is unchanged, else read (or rebuilt)."""
    path = repo.index_path()
    current = _fingerprint(path)
    cached = _cache.get(path)
    if cached is not None and cached.fingerprint == current:
        return cached
    index: Index
    if current is None:
        index = _from_head(repo, path) if _has_head(repo) else Index(path, read=False)
    else:
        try:
            index = Index(path)
        except Exception:
            logger.warning("archive: the Git index at %s is unreadable; rebuilding it from HEAD", path)
            index = _from_head(repo, path)
    loaded = WorkIndex(path, index, current)
    _cache[path] = loaded
    return loaded


def _has_head(repo: Repo) -> bool:
    try:
        repo.refs[HEADREF]
    except KeyError:
        return False
    return True


def forget(repo: Repo | None = None) -> None:
    """Drop the cached index of ``repo`` (of every repository when None), e.g. after a failed batch."""
    if repo is None:
        _cache.clear()
        return
    with contextlib.suppress(Exception):
        _cache.pop(repo.index_path(), None)
