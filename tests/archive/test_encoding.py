"""The writer's own encoders produce exactly what Git and the standard library would."""

from __future__ import annotations

import json
import random

from dulwich.object_store import MemoryObjectStore
from dulwich.objects import Blob, Tree

from mcp_agent_mail.archive import jsontext, trees


def test_json_text_matches_the_standard_library():
    samples = [
        {},
        [],
        {"b": 1, "a": [True, False, None], "c": {"z": 'é " \\ \n \u2028 \x01', "y": []}, "d": {}},
        {"attachments": [{"path": "x/y.png", "bytes": 12, "sha256": "ab"}], "id": 7, "subject": "Ünïcode ✓"},
        {"float": 1.5, "tuple": (1, 2)},  # handed to json.dumps
        {1: "non-string key"},
        "plain",
        12,
    ]
    for sample in samples:
        assert jsontext.dumps(sample) == json.dumps(sample, indent=2, sort_keys=True, ensure_ascii=False)


def test_trees_encode_like_dulwich_and_git_order_folders_after_similar_files():
    store = MemoryObjectStore()
    emitted: dict[bytes, bytes] = {}
    rng = random.Random(5)
    names = [b"a", b"a.b", b"a-b", b"ab", b"b", b"a0", b"z"]
    blob = Blob.from_string(b"x")
    store.add_object(blob)
    changes: dict[bytes, bytes | None] = {}
    for _ in range(40):
        depth = rng.randint(1, 3)
        changes[b"/".join(rng.choice(names) for _ in range(depth)) + b".md"] = blob.id

    def emit(type_num: int, raw: bytes, sha: bytes) -> None:
        emitted[sha] = raw
        store.add_object(Tree.from_raw_string(type_num, raw))

    root = trees.apply(store, None, changes, emit)
    assert root is not None
    for sha, raw in emitted.items():
        parsed = Tree.from_raw_string(Tree.type_num, raw)
        assert parsed.id == sha
        rebuilt = Tree()
        for entry in parsed.items():
            rebuilt.add(entry.path, entry.mode, entry.sha)
        assert rebuilt.as_raw_string() == raw  # dulwich's own (Git-ordered) encoding

    # Removing and re-adding through the cache gives the same ids as building from scratch.
    some = sorted(changes)[:5]
    trees.forget()
    smaller = trees.apply(store, root, dict.fromkeys(some), emit)
    trees.forget()
    again = trees.apply(store, smaller, {path: blob.id for path in some}, emit)
    assert again == root


def test_batch_pack_is_read_by_git_and_dulwich(tmp_path):
    import subprocess

    from dulwich.repo import Repo

    from mcp_agent_mail.archive import objects

    repo = Repo.init(str(tmp_path), mkdir=False)
    blobs = [Blob.from_string(bytes([n % 251]) * (n * 37)) for n in range(300)]
    entries = [(blob.id, Blob.type_num, blob.as_raw_string()) for blob in blobs]
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    _pack, idx = objects.write_pack(repo.object_store.pack_dir, entries, str(tmp))
    verified = subprocess.run(["git", "verify-pack", idx], cwd=tmp_path, capture_output=True, text=True)
    assert verified.returncode == 0, verified.stderr
    store = repo.object_store
    assert objects.missing(store, {blob.id: (Blob.type_num, blob.data) for blob in blobs}) == []
    assert all(store[blob.id].as_raw_string() == blob.as_raw_string() for blob in blobs)
    shown = subprocess.run(["git", "cat-file", "-p", blobs[-1].id.decode()], cwd=tmp_path, capture_output=True)
    assert shown.stdout == blobs[-1].data
    repo.close()
