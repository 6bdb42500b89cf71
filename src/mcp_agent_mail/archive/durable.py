"""One durability barrier per archive batch instead of an fsync per file.

The writer writes every file of a batch (work tree, objects, index) without
syncing, then calls :func:`barrier` once before the branch is moved. A small
batch fsyncs its files and their folders in one pass; a large one, on Linux,
calls ``syncfs(2)`` on the archive's file system instead: one call that
flushes the batch's data and metadata and waits for the disk (it also flushes
other programs' pending writes on that file system, which is why small batches
do not use it).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import logging
import os
import sys
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

logger = logging.getLogger(__name__)

SYNCFS_FROM_FILES = 64  # batches writing more files than this use one syncfs instead of an fsync per file


@lru_cache(maxsize=1)
def _syncfs() -> Any | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


def fsync_path(path: str | os.PathLike[str]) -> None:
    """Flush one file or directory to disk (missing paths are skipped)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError):
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _folders(root: str, written: list[str]) -> list[str]:
    """Return the folders holding ``written`` paths, up to and including ``root``, deepest first."""
    prefix = root.rstrip(os.sep) + os.sep
    folders: set[str] = set()
    for path in written:
        folder = os.path.dirname(path)
        while folder not in folders and (folder == root or folder.startswith(prefix)):
            folders.add(folder)
            if folder == root:
                break
            folder = os.path.dirname(folder)
    return sorted(folders, key=lambda f: f.count(os.sep), reverse=True)


def barrier(root: str | os.PathLike[str], written: Iterable[str | os.PathLike[str]]) -> str:
    """Make the files (and folders) written under ``root`` durable; return the method used.

    Returns "fsync" (each path and its folders up to ``root`` flushed in one pass)
    or "syncfs" (the whole file system, for large batches on Linux).
    """
    top = os.path.normpath(os.fspath(root))
    files = list(dict.fromkeys(os.path.normpath(os.fspath(path)) for path in written))
    function = _syncfs() if len(files) > SYNCFS_FROM_FILES else None
    if function is not None:
        fd = os.open(top, os.O_RDONLY)
        try:
            if function(fd) == 0:
                return "syncfs"
            error = ctypes.get_errno()
        finally:
            os.close(fd)
        raise OSError(error, f"syncfs failed on {top}: {os.strerror(error)}")
    folders = _folders(top, files)
    for path in files:
        fsync_path(path)
    for folder in folders:
        with contextlib.suppress(OSError):
            fsync_path(folder)
    return "fsync"
