"""Which of a batch's Git objects the repository lacks, with packs looked up from memory."""

from __future__ import annotations

import os
from pathlib import Path

from dulwich.objects import Blob
from dulwich.repo import Repo

from mcp_agent_mail.archive import objects


def _blobs(*texts: str) -> objects.Objects:
    made = [Blob.from_string(text.encode()) for text in texts]
    return {blob.id: (blob.type_num, blob.as_raw_string()) for blob in made}


def test_objects_in_a_pack_or_loose_are_present_and_new_ones_missing(tmp_path: Path):
    repo = Repo.init(str(tmp_path / "repo"), mkdir=True)
    store = repo.object_store
    packed = _blobs(*(f"packed {n}" for n in range(5)))
    objects.write_pack(os.fspath(store.pack_dir), [(sha, *packed[sha]) for sha in packed], str(tmp_path))
    loose = _blobs("loose one")
    objects.write_missing(store, loose, str(tmp_path))

    batch = {**packed, **loose, **_blobs("brand new")}
    assert objects.missing(store, batch) == list(_blobs("brand new"))
    assert repo.get_object(next(iter(packed))).as_raw_string() == b"packed 0"


def test_a_pack_removed_by_a_repack_no_longer_vouches_for_its_objects(tmp_path: Path):
    repo = Repo.init(str(tmp_path / "repo"), mkdir=True)
    store = repo.object_store
    packed = _blobs("first", "second")
    written = objects.write_pack(os.fspath(store.pack_dir), [(sha, *packed[sha]) for sha in packed], str(tmp_path))
    assert objects.missing(store, packed) == []  # the pack's ids are now held in memory

    for path in written:
        os.unlink(path)
    fresh = Repo(str(tmp_path / "repo")).object_store  # as after a repack by another process
    assert sorted(objects.missing(fresh, packed)) == sorted(packed)


def test_packs_beyond_the_memory_budget_are_still_searched_through_their_index(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(objects, "HELD_OBJECT_IDS", 3)
    monkeypatch.setattr(objects, "_pack_ids", {})
    repo = Repo.init(str(tmp_path / "repo"), mkdir=True)
    store = repo.object_store
    first, second = _blobs("one", "two"), _blobs("three", "four")
    for packed in (first, second):
        objects.write_pack(os.fspath(store.pack_dir), [(sha, *packed[sha]) for sha in packed], str(tmp_path))

    assert objects.missing(store, {**first, **second, **_blobs("five")}) == list(_blobs("five"))
    held = [ids for ids in objects._pack_ids.values() if ids is not None]
    assert [len(ids) for ids in held] == [2]  # one pack fits the budget of 3, the other is looked up
