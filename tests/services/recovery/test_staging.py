"""Working folders of saves and restores (services.recovery.staging): held while in use, swept once abandoned."""

from __future__ import annotations

import os
import time
from pathlib import Path

from mcp_agent_mail.services.recovery.staging import (
    OWNER_FILE,
    RESTORE_PREFIX,
    SAVE_PREFIX,
    abandoned_dirs,
    staging_dir,
    sweep_abandoned,
)


def _left_behind(parent: Path, name: str, *, owner: bool = True, age_s: float = 0.0) -> Path:
    """A folder as a killed process leaves it: no lock held, with (or, for old versions, without) its owner file."""
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "partial.bin").write_bytes(b"half written")
    if owner:
        (folder / OWNER_FILE).write_text("12345\n")
    if age_s:
        stamp = time.time() - age_s
        os.utime(folder, (stamp, stamp))
    return folder


def test_a_staging_folder_is_private_to_its_block_and_removed_after(tmp_path):
    with staging_dir(tmp_path / "states", SAVE_PREFIX) as stage:
        assert stage.path.parent == tmp_path / "states" and stage.path.name.startswith(SAVE_PREFIX)
        assert (stage.path / OWNER_FILE).read_text() == f"{os.getpid()}\n"
        assert abandoned_dirs(tmp_path / "states", SAVE_PREFIX) == []  # held: never someone else's leftover
        (stage.path / "work.bin").write_bytes(b"x")
    assert not stage.path.exists()


def test_a_kept_folder_stays_after_the_block(tmp_path):
    with staging_dir(tmp_path, RESTORE_PREFIX) as stage:
        stage.keep = True
    assert stage.path.is_dir()
    assert abandoned_dirs(tmp_path, RESTORE_PREFIX) == [stage.path]  # and is a leftover once unheld


def test_only_folders_whose_process_is_gone_are_swept(tmp_path):
    dead = _left_behind(tmp_path, f"{SAVE_PREFIX}dead")
    fresh_unowned = _left_behind(tmp_path, f"{SAVE_PREFIX}starting", owner=False)
    old_unowned = _left_behind(tmp_path, f"{SAVE_PREFIX}old", owner=False, age_s=2 * 3600)
    other_kind = _left_behind(tmp_path, f"{RESTORE_PREFIX}dead")
    kept = _left_behind(tmp_path, f"{SAVE_PREFIX}journal-needs-it")
    (tmp_path / f"{SAVE_PREFIX}file").write_text("not a folder")
    (tmp_path / f"{SAVE_PREFIX}link").symlink_to(dead)
    with staging_dir(tmp_path, SAVE_PREFIX) as live:
        found = abandoned_dirs(tmp_path, SAVE_PREFIX, keep=[kept])
        assert found == sorted([dead, old_unowned])
        assert dead.is_dir() and old_unowned.is_dir()  # listing changes nothing

        swept = sweep_abandoned(tmp_path, SAVE_PREFIX, keep=[kept])
        assert swept == found
        assert not dead.exists() and not old_unowned.exists()
        for survivor in (fresh_unowned, other_kind, kept, live.path, tmp_path / f"{SAVE_PREFIX}file"):
            assert survivor.exists(), survivor
    assert sweep_abandoned(tmp_path / "nowhere", SAVE_PREFIX) == []
