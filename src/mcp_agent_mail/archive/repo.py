"""The archive repository: initialisation, the cross-process writer lock, and batch commits via dulwich.

One Git repository lives at ``STORAGE_ROOT``. Only the holder of the writer
lock writes to the work tree, the index or the refs. The lock has two parts,
both released by the system when their holder dies: an ``fcntl.flock`` on
``.git/mcp-agent-mail-writer.lock`` (the processes of one machine) and the
database's lock named :data:`ARCHIVE_LOCK_NAME` (on PostgreSQL an advisory lock,
so one server process of all machines sharing the database writes the archive;
on SQLite always granted). Before each commit the holder confirms that it still
holds the database part.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dulwich.index import IndexEntry, index_entry_from_stat
from dulwich.objects import Blob, Commit, ObjectID
from dulwich.refs import HEADREF
from dulwich.repo import Repo
from sqlalchemy.exc import DBAPIError

from mcp_agent_mail.archive import durable, objects, paths, repack, trees, workindex
from mcp_agent_mail.config import Settings, get_settings
from mcp_agent_mail.db.dialects import HeldLock
from mcp_agent_mail.db.engine import database_lock
from mcp_agent_mail.errors import UnavailableError
from mcp_agent_mail.fsutil import LockMode, flock_until, unlock

LOCK_NAME = "mcp-agent-mail-writer.lock"
ARCHIVE_LOCK_NAME = "mcp-agent-mail/archive-writer"
"""The database-wide lock of the archive writer (one archive per database)."""
TMP_DIR = "mcp-agent-mail-tmp"
INIT_MESSAGE = "chore: initialize archive"
LOOSE_OBJECTS_PER_FANOUT = 27  # about 7000 loose objects in total
_FILE_MODE = trees.FILE_MODE

_process_lock = threading.Lock()
# (thread, archive root) of the writer-lock holder in this process, while it holds the lock.
_holder: list[tuple[int, str]] = []
# The database part of the writer lock, while this process holds it.
_database_part: list[HeldLock] = []
_repos: dict[str, tuple[int, Repo]] = {}


@contextlib.contextmanager
def writer_lock(root: Path, timeout: float, settings: Settings | None = None) -> Iterator[bool]:
    """Hold the writer lock (process, machine and database parts); yield False if not acquired in time.

    ``settings`` names the database (the process's settings by default).
    """
    deadline = time.monotonic() + max(0.0, timeout)
    acquired = _process_lock.acquire(timeout=timeout) if timeout > 0 else _process_lock.acquire(blocking=False)
    if not acquired:
        yield False
        return
    try:
        gitdir = root / ".git"
        gitdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(gitdir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not flock_until(fd, LockMode.EXCLUSIVE, deadline, pause=0.01, max_pause=0.1):
                yield False
                return
            try:
                left = max(0.0, deadline - time.monotonic())
                with database_lock(ARCHIVE_LOCK_NAME, left, settings or get_settings()) as held:
                    if held is None:
                        yield False
                        return
                    _holder[:] = [(threading.get_ident(), os.path.abspath(root))]
                    _database_part[:] = [held]
                    try:
                        yield True
                    finally:
                        _holder.clear()
                        _database_part.clear()
            finally:
                unlock(fd)
        finally:
            os.close(fd)
    finally:
        _process_lock.release()


def holds_writer_lock(root: Path) -> bool:
    """Tell whether the calling thread holds the writer lock of the archive at ``root``."""
    return _holder == [(threading.get_ident(), os.path.abspath(root))]


def confirm_writer_lock(root: Path) -> None:
    """Raise UNAVAILABLE when the calling thread holds the writer lock of ``root`` but lost its database part."""
    if not holds_writer_lock(root) or not _database_part:
        return
    try:
        _database_part[0].confirm()
    except DBAPIError as exc:
        raise UnavailableError(
            "The archive writer lost its database lock (its connection to the database dropped).",
            hint="Nothing was committed to the archive; the changes stay queued and the writer that holds the "
            "lock next writes them.",
            data={"retryable": True},
        ) from exc


def lock_timeout_error(root: Path, timeout: float) -> UnavailableError:
    """Return the error raised when the writer lock stays busy."""
    return UnavailableError(
        f"The archive writer lock under {root} stayed busy for {timeout:g}s.",
        hint="Another process is writing the archive; retry shortly (its pending work is flushed by that process).",
        data={"lock_path": str(root / ".git" / LOCK_NAME), "timeout_seconds": timeout},
    )


@contextlib.contextmanager
def archive_quiet(root: Path, timeout: float = 30.0) -> Iterator[None]:
    """Hold the writer lock (when a repository exists) so no commit lands during the block; raise if it stays busy."""
    if not (root / ".git").is_dir():
        yield
        return
    with writer_lock(root, timeout) as acquired:
        if not acquired:
            raise lock_timeout_error(root, timeout)
        yield


def _identity(settings: Settings) -> bytes:
    return f"{settings.storage.git_author_name} <{settings.storage.git_author_email}>".encode()


def _configure(repo: Repo) -> None:
    config = repo.get_config()
    wanted = {(b"core", b"bare"): False, (b"commit", b"gpgsign"): False}
    changed = False
    for (section, name), value in wanted.items():
        try:
            current = config.get_boolean((section,), name)
        except KeyError:
            current = None
        if current is not value:
            config.set((section,), name, value)
            changed = True
    if changed:
        config.write_to_path()


def _open_or_init(root: Path) -> Repo:
    gitdir = root / ".git"
    if not ((gitdir / "config").is_file() and (gitdir / "HEAD").is_file() and (gitdir / "objects").is_dir()):
        if any(p.is_file() for p in (gitdir / "objects").rglob("*")):
            raise UnavailableError(
                f"The archive repository at {root} is damaged (no HEAD or config, but objects exist).",
                hint="Repair it with git or go back to a restore point; the database still holds every change.",
            )
        # A first initialisation was interrupted: start it over.
        for entry in gitdir.iterdir():
            if entry.name == LOCK_NAME:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        Repo.init_bare(str(gitdir), default_branch=b"main")
    repo = Repo(str(root))
    _configure(repo)
    return repo


def open_repo(settings: Settings) -> Repo:
    """Return the archive repository, creating it with its first commit if needed (caller holds the lock)."""
    root = Path(settings.storage.root)
    root.mkdir(parents=True, exist_ok=True)
    key = str(root)
    inode = (root / ".git").stat().st_ino if (root / ".git").exists() else -1
    cached = _repos.get(key)
    if cached is not None and cached[0] == inode and (root / ".git" / "HEAD").is_file():
        repo = cached[1]
    else:
        if cached is not None:
            with contextlib.suppress(Exception):
                cached[1].close()
        repo = _open_or_init(root)
        _repos[key] = ((root / ".git").stat().st_ino, repo)
    if head_commit(repo) is None:
        shutil.rmtree(root / ".git" / TMP_DIR, ignore_errors=True)
        ArchiveBatch(repo, settings, {".gitattributes": paths.GITATTRIBUTES}).commit(INIT_MESSAGE)
    return repo


def is_git_lock(rel: str) -> bool:
    """Tell whether a path relative to the storage root is a lock file inside ``.git`` (the writer lock too).

    Git never keeps data in a file whose name ends in ``.lock`` (ref names may not end so), so such
    a file only matters to the process that made it: restore points leave every one of them out.
    """
    return rel.startswith(".git/") and rel.endswith(".lock")


def stale_lock_files(root: Path, *, objects: bool = True) -> list[Path]:
    """Return Git lock files under ``root/.git`` (index, HEAD, refs, loose objects), the writer lock excepted."""
    gitdir = root / ".git"
    if not gitdir.is_dir():
        return []
    found = [p for p in gitdir.glob("*.lock") if p.name != LOCK_NAME]
    found.extend(gitdir.glob("refs/**/*.lock"))
    if objects:
        found.extend(gitdir.glob("objects/*/*.lock"))
    return sorted(p for p in found if p.is_file())


def clear_stale_locks(root: Path, *, objects: bool = True) -> list[Path]:
    """Delete the Git lock files a writer that died left behind; return them (the caller holds the writer lock).

    The one rule for removing Git lock files: only the holder of the archive writer lock writes
    the repository, so while the calling thread holds it every lock file found (see
    :func:`stale_lock_files`) belongs to a writer that is gone. Files are never judged by age,
    the writer lock itself is never touched, and calling this without the writer lock raises
    RuntimeError instead of deleting anything. ``objects=False`` skips the scan of the
    loose-object folders (the costly part on a large archive).
    """
    gitdir = root / ".git"
    if not gitdir.is_dir():
        return []
    if not holds_writer_lock(root):
        raise RuntimeError(f"Git lock files under {root} may only be removed by the holder of the writer lock.")
    removed = []
    for lock in stale_lock_files(root, objects=objects):
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
            removed.append(lock)
    return removed


def clear_repo_cache() -> int:
    """Close every cached repository handle (and forget cached indexes); return how many were closed."""
    with _process_lock:
        workindex.forget()
        count = len(_repos)
        for _inode, repo in _repos.values():
            with contextlib.suppress(Exception):
                repo.close()
        _repos.clear()
    return count


def maybe_pack(repo: Repo) -> int:
    """Pack loose objects once there are many, then merge the packs once they pile up; return how many were packed.

    Loose objects are packed past git's ``gc.auto`` estimate (one fan-out folder holding more
    than :data:`LOOSE_OBJECTS_PER_FANOUT`); packs are merged past :data:`.repack.PACK_LIMIT`.
    """
    count = _pack_loose_objects(repo)
    repack.maybe_consolidate(repo)
    return count


def _pack_loose_objects(repo: Repo) -> int:
    sample = Path(repo.controldir()) / "objects" / "17"
    try:
        loose = sum(1 for _ in sample.iterdir())
    except OSError:
        return 0
    if loose <= LOOSE_OBJECTS_PER_FANOUT:
        return 0
    store = repo.object_store
    # The pack must be on disk before the loose copies it replaces are deleted.
    previous = getattr(store, "fsync_object_files", False)
    store.fsync_object_files = True
    try:
        count = store.pack_loose_objects()
    finally:
        store.fsync_object_files = previous
    pack_dir = Path(repo.controldir()) / "objects" / "pack"
    durable.barrier(Path(repo.path), [pack_dir])
    return count


atexit.register(clear_repo_cache)


# The last commit this process made in each repository (HEAD usually still points at it).
_heads: dict[str, Commit] = {}


def head_commit(repo: Repo) -> Commit | None:
    """Return the commit HEAD points at, or None on an unborn branch."""
    try:
        sha = repo.refs[HEADREF]
    except KeyError:
        return None
    cached = _heads.get(repo.path)
    if cached is not None and cached.id == sha:
        return cached
    obj = repo.object_store[sha]
    return obj if isinstance(obj, Commit) else None


def _remove_empty_parents(root: Path, path: Path) -> None:
    parent = path.parent
    while parent != root and root in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            return
        parent = parent.parent


@dataclass
class ArchiveBatch:
    """Work-tree changes applied together and recorded as one commit."""

    repo: Repo
    settings: Settings
    writes: dict[str, bytes] = field(default_factory=dict)
    stage: set[str] = field(default_factory=set)
    deletes: set[str] = field(default_factory=set)
    delete_prefixes: set[str] = field(default_factory=set)

    _written: list[str] = field(default_factory=list, init=False, repr=False)
    _objects: objects.Objects = field(default_factory=dict, init=False, repr=False)

    @property
    def root(self) -> Path:
        """Return the work-tree root."""
        return Path(self.repo.path)

    def _index(self) -> workindex.WorkIndex:
        return workindex.load(self.repo)

    def tracked(self) -> list[str]:
        """Return the paths currently in the index."""
        return [p.decode() for p in self._index()]

    def message_paths(self, message_id: int) -> set[str]:
        """Return the tracked canonical, inbox and outbox copies of a message id."""
        return self._index().message_paths(message_id)

    def is_tracked(self, rel: str) -> bool:
        """Tell whether a path is in the index."""
        return rel.encode() in self._index()

    def read_tracked(self, rel: str) -> bytes | None:
        """Return the committed-or-staged content of a tracked path, or None."""
        entry = self._index().get(rel.encode())
        if entry is None:
            return None
        obj = self.repo.object_store[entry.sha]
        return obj.data if isinstance(obj, Blob) else None

    def _add_object(self, type_num: int, raw: bytes, sha: ObjectID) -> None:
        self._objects.setdefault(sha, (type_num, raw))

    def _add_blob(self, data: bytes) -> ObjectID:
        sha = trees.object_id(b"blob", data)
        self._add_object(Blob.type_num, data, sha)
        return sha

    def _store_objects(self) -> None:
        """Write the batch's new objects: one pack for a large batch, loose objects for a small one."""
        store = self.repo.object_store
        tmp_dir = os.path.join(self.repo.controldir(), TMP_DIR)
        os.makedirs(tmp_dir, exist_ok=True)
        self._written += objects.write_missing(store, self._objects, tmp_dir)
        self._objects.clear()

    def _write_file(self, rel: str, data: bytes, tmp_dir: str) -> os.stat_result:
        target = os.path.join(self.repo.path, rel)
        # Only the writer-lock holder writes here and the folder is emptied before each drain.
        tmp = os.path.join(tmp_dir, f"w-{os.getpid()}-{len(self._written)}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.fchmod(fd, 0o644)
                objects.write_all(fd, data)
            finally:
                os.close(fd)
            try:
                os.replace(tmp, target)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._written.append(target)
        return os.stat(target)

    def _apply_deletes(self, index: workindex.WorkIndex, changes: dict[bytes, ObjectID | None]) -> None:
        doomed = set(self.deletes)
        if self.delete_prefixes:
            prefixes = tuple(p.rstrip("/") + "/" for p in self.delete_prefixes)
            doomed.update(p.decode() for p in index if p.decode().startswith(prefixes))
        for rel in sorted(doomed - set(self.writes) - self.stage):
            target = self.root / rel
            with contextlib.suppress(FileNotFoundError, NotADirectoryError, IsADirectoryError):
                target.unlink()
                self._written.append(str(target.parent))
                _remove_empty_parents(self.root, target)
            index.remove(rel.encode())
            changes[rel.encode()] = None

    def _apply_writes(self, index: workindex.WorkIndex, changes: dict[bytes, ObjectID | None]) -> None:
        tmp_dir = os.path.join(self.repo.controldir(), TMP_DIR)
        os.makedirs(tmp_dir, exist_ok=True)
        for rel, data in sorted(self.writes.items()):
            sha = self._add_blob(data)  # stored only if missing: the index may outlive a lost object
            key = rel.encode()
            entry = index.get(key)
            changes[key] = sha
            if entry is not None and entry.sha == sha and self._unchanged_on_disk(rel, entry):
                continue
            st = self._write_file(rel, data, tmp_dir)
            index.put(key, index_entry_from_stat(st, sha, mode=_FILE_MODE))
        for rel in sorted(self.stage):
            target = os.path.join(self.repo.path, rel)
            if not os.path.isfile(target):
                continue
            with open(target, "rb") as handle:
                sha = self._add_blob(handle.read())
            self._written.append(target)
            index.put(rel.encode(), index_entry_from_stat(os.stat(target), sha, mode=_FILE_MODE))
            changes[rel.encode()] = sha

    def _unchanged_on_disk(self, rel: str, entry: IndexEntry) -> bool:
        try:
            st = os.stat(os.path.join(self.repo.path, rel))
        except OSError:
            return False
        mtime = entry.mtime
        if isinstance(mtime, tuple):
            same_time = (st.st_mtime_ns // 1_000_000_000, st.st_mtime_ns % 1_000_000_000) == tuple(mtime)
        else:
            same_time = int(st.st_mtime) == int(mtime)
        return same_time and st.st_size == entry.size

    def _new_commit(self, head: Commit | None, tree: ObjectID, message: str) -> Commit:
        identity = _identity(self.settings)
        commit = Commit()
        commit.tree = tree
        commit.parents = [head.id] if head is not None else []
        commit.author = commit.committer = identity
        commit.author_time = commit.commit_time = int(time.time())
        commit.author_timezone = commit.commit_timezone = 0
        commit.message = message.encode("utf-8")
        self._add_object(Commit.type_num, commit.as_raw_string(), commit.id)
        return commit

    def _move_branch(self, head: Commit | None, commit: Commit) -> None:
        reflog = {
            "message": b"commit: " + commit.message.split(b"\n", 1)[0],
            "committer": commit.committer,
            "timestamp": commit.commit_time,
            "timezone": 0,
        }
        refs = self.repo.refs
        if head is None:
            moved = refs.add_if_new(HEADREF, commit.id, **reflog)
        else:
            moved = refs.set_if_equals(HEADREF, head.id, commit.id, **reflog)
        if not moved:
            raise UnavailableError(
                "The archive branch moved during a commit.",
                hint="Another writer changed the archive; the batch stays queued and is retried.",
            )

    def commit(self, message: str) -> ObjectID | None:
        """Write files, update the index and commit; return the new commit id (None if nothing changed).

        Nothing is synced file by file: one barrier makes the files, objects and index durable
        before the branch moves, and a second one makes the branch durable before returning,
        so the caller may then forget the batch's outbox rows.
        """
        confirm_writer_lock(self.root)
        index = self._index()
        try:
            changes: dict[bytes, ObjectID | None] = {}
            self._apply_deletes(index, changes)
            self._apply_writes(index, changes)
            head = head_commit(self.repo)
            old_tree = head.tree if head is not None else None
            new_tree = trees.apply(self.repo.object_store, old_tree, changes, self._add_object)
            if new_tree is None:
                new_tree = trees.object_id(b"tree", b"")
                self._add_object(trees.Tree.type_num, b"", new_tree)
            commit = None if head is not None and new_tree == old_tree else self._new_commit(head, new_tree, message)
            # Objects first: an index entry must never name a blob the store does not have yet.
            self._store_objects()
            if self._written or index.dirty:
                index.write()
            if commit is None:
                if self._written:
                    durable.barrier(self.repo.path, [*self._written, index.path])
                return None
            durable.barrier(self.repo.path, [*self._written, index.path])
            self._move_branch(head, commit)
            # dulwich synced the ref file itself; syncing its folder makes the rename durable too.
            durable.fsync_path(os.path.join(self.repo.controldir(), "refs", "heads"))
            _heads[self.repo.path] = commit
        except BaseException:
            workindex.forget(self.repo)
            trees.forget()
            raise
        return commit.id
