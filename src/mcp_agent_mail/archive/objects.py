"""Write a batch's new Git objects: loose files for a small batch, one pack for a large one.

Only the writer-lock holder writes objects, so existence is checked against the
loose folders and the packs listed once per batch, never by rescanning the pack
folder per object. Nothing is synced here: the batch's barrier makes the files
durable before the branch moves.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import zlib

from dulwich.object_store import DiskObjectStore
from dulwich.objects import ObjectID, RawObjectID, object_header
from dulwich.pack import PackIndex

PACK_THRESHOLD = 256  # a batch writing this many objects writes them as one pack ...
MAX_BATCH_PACKS = 40  # ... while the repository has fewer packs than this (lookups slow down with many)
_LOOSE_MODE = 0o444

HELD_OBJECT_IDS = 500_000
"""How many packed object ids a process holds in memory at most (about 35 MB), pack by pack.

A pack never changes once written (its name is its checksum), so the ids read from its index
stay true for as long as the pack is listed, and a batch's lookups cost a set probe per pack; a
batch otherwise binary-searches every pack's index for every new object, which grows with the
number of packs. Packs beyond the budget are searched through their index as before."""
_pack_ids: dict[str, frozenset[ObjectID] | None] = {}

# Objects of a batch: hex id -> (type number, raw content).
Objects = dict[ObjectID, tuple[int, bytes]]


def loose_path(store: DiskObjectStore, sha: bytes) -> str:
    """Return the file of a loose object."""
    hexsha = sha.decode("ascii")
    return os.path.join(store.path, hexsha[:2], hexsha[2:])


def write_all(fd: int, data: bytes) -> None:
    """Write all of ``data`` to a file descriptor."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _held_ids(index: PackIndex) -> frozenset[ObjectID] | None:
    """Return the ids a pack index lists, read once per process (None for a pack too large to hold so)."""
    path = getattr(index, "path", None)
    if not isinstance(path, str):
        return None
    if path not in _pack_ids:
        held = sum(len(ids) for ids in _pack_ids.values() if ids is not None)
        _pack_ids[path] = frozenset(index) if held + len(index) <= HELD_OBJECT_IDS else None
    return _pack_ids[path]


def missing(store: DiskObjectStore, objects: Objects) -> list[ObjectID]:
    """Return the ids of ``objects`` that the store has neither loose nor packed."""
    indexes = [pack.index for pack in store.packs]  # lists the pack folder once
    held = [_held_ids(index) for index in indexes]
    listed = {getattr(index, "path", None) for index in indexes}
    for gone in [path for path in _pack_ids if path not in listed and path.startswith(os.fspath(store.path))]:
        del _pack_ids[gone]  # repacked away
    small = [ids for ids in held if ids is not None]
    large = [index for index, ids in zip(indexes, held, strict=True) if ids is None]
    found = []
    for sha in objects:
        if any(sha in ids for ids in small) or os.path.exists(loose_path(store, sha)):
            continue
        binary = RawObjectID(bytes.fromhex(sha.decode("ascii")))
        for index in large:
            try:
                index.object_offset(binary)
                break
            except KeyError:
                continue
        else:
            found.append(sha)
    return found


def write_missing(store: DiskObjectStore, objects: Objects, tmp_dir: str) -> list[str]:
    """Write the objects the store lacks; return the files written (for the durability barrier)."""
    fresh = missing(store, objects)
    if len(fresh) >= PACK_THRESHOLD and store.count_pack_files() < MAX_BATCH_PACKS:
        return write_pack(os.fspath(store.pack_dir), [(sha, *objects[sha]) for sha in fresh], tmp_dir)
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
        try:
            write_all(fd, zlib.compress(content))
        finally:
            os.close(fd)
        try:
            os.replace(tmp, target)
        except FileNotFoundError:  # the first object of its fan-out folder
            with contextlib.suppress(FileExistsError):
                os.mkdir(os.path.dirname(target))
            os.replace(tmp, target)
        # Only the writer-lock holder writes objects: a lock file next to this one is a dead writer's.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(target + ".lock")
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return target


def _entry_header(type_num: int, size: int) -> bytes:
    """Encode a pack entry's type and size (4 bits, then 7 bits per byte, high bit = more)."""
    byte = (type_num << 4) | (size & 0x0F)
    size >>= 4
    out = bytearray()
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


def write_pack(pack_dir: str, entries: list[tuple[ObjectID, int, bytes]], tmp_dir: str) -> list[str]:
    """Write whole (undeltified) objects as one pack plus its version-2 index; return both paths.

    The pack is renamed into place before its index, so a reader never finds an
    index without its pack.
    """
    pack = hashlib.sha1()
    chunks = [b"PACK" + struct.pack(">LL", 2, len(entries))]
    offset = len(chunks[0])
    located: list[tuple[bytes, int, int]] = []  # (binary id, crc32, offset)
    for sha, type_num, raw in entries:
        data = _entry_header(type_num, len(raw)) + zlib.compress(raw)
        located.append((bytes.fromhex(sha.decode("ascii")), zlib.crc32(data), offset))
        chunks.append(data)
        offset += len(data)
    for chunk in chunks:
        pack.update(chunk)
    checksum = pack.digest()
    chunks.append(checksum)
    located.sort()
    fanout = [0] * 256
    for binary, _crc, _offset in located:
        fanout[binary[0]] += 1
    total = 0
    for first in range(256):
        total += fanout[first]
        fanout[first] = total
    small: list[int] = []
    large: list[int] = []
    for _binary, _crc, at in located:
        if at < 0x80000000:
            small.append(at)
        else:
            small.append(0x80000000 | len(large))
            large.append(at)
    index = b"".join(
        [
            b"\377tOc",
            struct.pack(">L", 2),
            struct.pack(">256L", *fanout),
            b"".join(binary for binary, _crc, _at in located),
            struct.pack(f">{len(located)}L", *(crc for _b, crc, _at in located)),
            struct.pack(f">{len(small)}L", *small),
            struct.pack(f">{len(large)}Q", *large),
            checksum,
        ]
    )
    index += hashlib.sha1(index).digest()
    base = os.path.join(pack_dir, f"pack-{checksum.hex()}")
    os.makedirs(pack_dir, exist_ok=True)
    for suffix, content in ((".pack", b"".join(chunks)), (".idx", index)):
        tmp = os.path.join(tmp_dir, f"p-{os.getpid()}{suffix}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, _LOOSE_MODE)
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, base + suffix)
    return [base + ".pack", base + ".idx"]
