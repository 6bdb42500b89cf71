"""Write a batch's new Git objects: loose files for a small batch, one pack for a large one.

Only the writer-lock holder writes objects, so existence is checked against the
loose folders and the packs listed once per batch, never by rescanning the pack
folder per object. Nothing is synced here: the batch's barrier makes the files
durable before the branch moves.
"""

from __future__ import annotations

import contextlib
import os
import zlib

from dulwich.object_store import DiskObjectStore
from dulwich.objects import ObjectID, ShaFile, object_header

PACK_THRESHOLD = 256  # a batch writing this many objects writes them as one pack ...
MAX_BATCH_PACKS = 40  # ... while the repository has fewer packs than this (lookups slow down with many)
_LOOSE_MODE = 0o444

# Objects of a batch: hex id -> (type number, raw content).
Objects = dict[ObjectID, tuple[int, bytes]]


def loose_path(store: DiskObjectStore, sha: bytes) -> str:
    """Return the file of a loose object."""
    hexsha = sha.decode("ascii")
    return os.path.join(store.path, hexsha[:2], hexsha[2:])


def missing(store: DiskObjectStore, objects: Objects) -> list[ObjectID]:
    """Return the ids of ``objects`` that the store has neither loose nor packed."""
    packs = store.packs  # lists the pack folder once
    return [
        sha
        for sha in objects
        if not os.path.exists(loose_path(store, sha)) and not any(sha in pack for pack in packs)
    ]


def write_missing(store: DiskObjectStore, objects: Objects, tmp_dir: str) -> list[str]:
    """Write the objects the store lacks; return the files written (for the durability barrier)."""
    fresh = missing(store, objects)
    if len(fresh) >= PACK_THRESHOLD and store.count_pack_files() < MAX_BATCH_PACKS:
        pack = store.add_objects(
            [(ShaFile.from_raw_string(objects[sha][0], objects[sha][1], sha), None) for sha in fresh]
        )
        if pack is not None:
            base = os.path.join(store.pack_dir, f"pack-{pack.name().decode()}")
            return [f"{base}.pack", f"{base}.idx"]
    written = []
    for number, sha in enumerate(fresh):
        type_num, raw = objects[sha]
        written.append(_write_loose(store, sha, object_header(type_num, len(raw)) + raw, tmp_dir, number))
    return written


def _write_loose(store: DiskObjectStore, sha: ObjectID, content: bytes, tmp_dir: str, number: int) -> str:
    target = loose_path(store, sha)
    tmp = os.path.join(tmp_dir, f"o-{os.getpid()}-{number}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _LOOSE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(zlib.compress(content))
        try:
            os.replace(tmp, target)
        except FileNotFoundError:  # the first object of its fan-out folder
            with contextlib.suppress(FileExistsError):
                os.mkdir(os.path.dirname(target))
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target
