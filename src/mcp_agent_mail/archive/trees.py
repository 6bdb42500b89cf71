"""Git trees kept parsed in memory, so a batch re-encodes only the trees it changes, each once.

A tree is held as a :class:`Listing`: its entries, their sort keys in Git's
tree order and each entry's encoded bytes. Changing a few entries of a large
tree copies two lists and inserts with ``bisect`` instead of parsing, sorting
and re-encoding every entry. Listings are keyed by object id, so a cached one
is never stale. A batch takes the listings it changes out of the cache, changes
them in place and puts them back under their new ids; after a failed batch the
cache is dropped.
"""

from __future__ import annotations

import bisect
import hashlib
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dulwich.object_store import BaseObjectStore
from dulwich.objects import ObjectID, Tree, parse_tree

FILE_MODE = 0o100644
DIR_MODE = 0o040000
_CACHE_LIMIT = 4096

# Receives (object type number, raw content, hex id) of every tree a change creates.
Emit = Callable[[int, bytes, ObjectID], None]
Changes = Mapping[bytes, "ObjectID | None"]


@dataclass(slots=True)
class Listing:
    """One tree's entries, with their sort keys and encodings."""

    entries: dict[bytes, tuple[int, bytes]]
    keys: list[bytes]
    encoded: dict[bytes, bytes]

    def raw(self) -> bytes:
        """Return the tree's content in Git's format."""
        encoded = self.encoded
        return b"".join([encoded[key] for key in self.keys])

    def set(self, name: bytes, mode: int, sha: bytes) -> None:
        """Add or replace an entry."""
        old = self.entries.get(name)
        if old == (mode, sha):
            return
        if old is not None:
            self.delete(name)
        key = sort_key(name, mode)
        self.entries[name] = (mode, sha)
        self.encoded[key] = encode_entry(name, mode, sha)
        bisect.insort(self.keys, key)

    def delete(self, name: bytes) -> None:
        """Remove an entry (no error when absent)."""
        old = self.entries.pop(name, None)
        if old is None:
            return
        key = sort_key(name, old[0])
        del self.encoded[key]
        position = bisect.bisect_left(self.keys, key)
        del self.keys[position]


def sort_key(name: bytes, mode: int) -> bytes:
    """Return Git's tree-order key: folders sort as if their name ended in ``/``."""
    return name + b"/" if mode & 0o170000 == DIR_MODE else name


def encode_entry(name: bytes, mode: int, sha: bytes) -> bytes:
    """Encode one tree entry (octal mode, name, binary id)."""
    return b"%04o %s\0%s" % (mode, name, bytes.fromhex(sha.decode("ascii")))


def object_id(type_name: bytes, raw: bytes) -> ObjectID:
    """Return the hex id Git gives an object of this type and content."""
    digest = hashlib.sha1(b"%s %d\0" % (type_name, len(raw)))
    digest.update(raw)
    return ObjectID(digest.hexdigest().encode("ascii"))


def from_raw(raw: bytes) -> Listing:
    """Parse a tree's content into a listing."""
    entries: dict[bytes, tuple[int, bytes]] = {}
    encoded: dict[bytes, bytes] = {}
    for name, mode, sha in parse_tree(raw, sha_len=20):
        entries[name] = (mode, sha)
        encoded[sort_key(name, mode)] = encode_entry(name, mode, sha)
    return Listing(entries, sorted(encoded), encoded)


_cache: OrderedDict[bytes, Listing] = OrderedDict()


def remember(sha: bytes, listing: Listing) -> None:
    """Cache a listing under its id (oldest entries dropped past the limit)."""
    _cache[sha] = listing
    _cache.move_to_end(sha)
    while len(_cache) > _CACHE_LIMIT:
        _cache.popitem(last=False)


def _parse(store: BaseObjectStore, sha: bytes) -> Listing:
    obj = store[ObjectID(sha)]
    return from_raw(obj.as_raw_string()) if isinstance(obj, Tree) else Listing({}, [], {})


def forget() -> None:
    """Drop every cached listing."""
    _cache.clear()


def apply(store: BaseObjectStore, sha: ObjectID | None, changes: Changes, emit: Emit) -> ObjectID | None:
    """Apply path -> blob id (None = delete) below a tree; return the new tree id (None when empty).

    Every tree that differs from the one it replaces is passed to ``emit`` once.
    """
    listing = _take(store, sha) if sha is not None else Listing({}, [], {})
    nested: dict[bytes, dict[bytes, ObjectID | None]] = {}
    for path, blob in changes.items():
        head, sep, rest = path.partition(b"/")
        if sep:
            nested.setdefault(head, {})[rest] = blob
        elif blob is None:
            listing.delete(head)
        else:
            listing.set(head, FILE_MODE, blob)
    for name, sub in nested.items():
        current = listing.entries.get(name)
        old = ObjectID(current[1]) if current is not None and current[0] & 0o170000 == DIR_MODE else None
        new = apply(store, old, sub, emit)
        if new is None:
            listing.delete(name)
        else:
            listing.set(name, DIR_MODE, new)
    if not listing.entries:
        return None
    raw = listing.raw()
    new_sha = object_id(b"tree", raw)
    if new_sha != sha:
        emit(Tree.type_num, raw, new_sha)
    remember(new_sha, listing)
    return new_sha


def _take(store: BaseObjectStore, sha: ObjectID) -> Listing:
    """Return a listing the caller may change: the cached one is handed over (and leaves the cache)."""
    listing = _cache.pop(sha, None)
    if listing is not None:
        return listing
    return _parse(store, sha)
