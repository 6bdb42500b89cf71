"""Saving restore points (services.recovery.restore_points): what a save writes, listing and finding them."""

from __future__ import annotations

import os
import sqlite3
import zipfile
from pathlib import Path

import pytest
from recovery_kit import SIDE_PROJECT, fill_mailbox, head

from db_kit import count, digest, execute
from mcp_agent_mail.archive import pending_count
from mcp_agent_mail.archive.repo import TMP_DIR
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import schema
from mcp_agent_mail.db.snapshot import save_snapshot
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError
from mcp_agent_mail.services.recovery.restore_points import (
    database_label,
    label_slug,
    list_restore_points,
    resolve_restore_point,
    save_restore_point,
    snapshot_database,
    storage_entries,
)
from mcp_agent_mail.services.recovery.zipsafe import SNAPSHOT_NAME, STORAGE_PREFIX, verify_restore_point


@pytest.mark.parametrize(
    ("label", "slug"),
    [
        (None, ""),
        ("  ", ""),
        ("Pre Upgrade!", "pre-upgrade"),
        ("nightly_2026/01", "nightly-2026-01"),
        ("x" * 80, "x" * 60),
    ],
)
def test_labels_become_file_name_safe(label, slug):
    assert label_slug(label) == slug


def test_a_label_without_letters_or_digits_is_refused():
    with pytest.raises(InvalidArgumentError, match="no letters or digits"):
        label_slug("!!! ---")


async def test_a_save_flushes_the_archive_and_writes_a_verifiable_zip_with_counts(isolated_env, tmp_path):
    await fill_mailbox("one", "two")
    assert pending_count() > 0
    states = tmp_path / "states"
    saved = save_restore_point(get_settings(), states, label="Before Upgrade")
    assert pending_count() == 0  # the archive shows everything the database holds
    assert saved.path.parent == states and saved.path.name.endswith("Z-before-upgrade.zip")
    assert [p.name for p in states.iterdir()] == [saved.path.name]  # no working folder left behind

    meta = saved.metadata
    assert meta["label"] == "Before Upgrade" and meta["format_version"] == 1
    assert meta["counts"] == {"projects": 2, "agents": 3, "messages": 2, "recipients": 2, "file_reservations": 0}
    assert meta["storage"]["git_head"] == head(isolated_env["storage"])
    assert meta["database"]["source_path"] == database_label(get_settings())

    verified = verify_restore_point(saved.path)
    assert verified.metadata == meta
    with zipfile.ZipFile(saved.path) as zf:
        names = set(zf.namelist())
        snapshot = zf.read(SNAPSHOT_NAME)
    assert STORAGE_PREFIX + "projects/work-restore-points/project.json" in names
    copy = tmp_path / "copy.sqlite3"
    copy.write_bytes(snapshot)
    with sqlite3.connect(copy) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (2,)


async def test_a_project_filter_describes_that_project_and_an_unknown_one_saves_nothing(isolated_env, tmp_path):
    await fill_mailbox("one")
    states = tmp_path / "states"
    saved = save_restore_point(get_settings(), states, projects=[SIDE_PROJECT])
    assert [p["human_key"] for p in saved.metadata["projects"]] == [SIDE_PROJECT]
    assert saved.metadata["counts"]["agents"] == 1 and saved.metadata["counts"]["messages"] == 0
    assert "scope_note" in saved.metadata
    with pytest.raises(NotFoundError, match="'/work/nowhere' is not in the mailbox"):
        save_restore_point(get_settings(), states, projects=["/work/nowhere"])
    assert [p.name for p in states.iterdir()] == [saved.path.name]


@pytest.mark.bare_database
def test_there_is_nothing_to_save_without_a_database(isolated_env, tmp_path):
    with pytest.raises(NotFoundError, match="nothing to save"):
        save_restore_point(get_settings(), tmp_path / "states")
    assert not (tmp_path / "states").exists() or not list((tmp_path / "states").glob("*.zip"))


async def test_restore_points_are_listed_newest_first_and_found_by_name_or_path(isolated_env, tmp_path):
    await fill_mailbox("one")
    states = tmp_path / "states"
    first = save_restore_point(get_settings(), states, label="first").path
    second = save_restore_point(get_settings(), states, label="second").path
    broken = states / "mailbox-state-broken.zip"
    broken.write_bytes(b"not a zip")
    os.utime(broken, (0, 0))
    listed = list_restore_points(states)
    assert [e.get("label") for e in listed] == ["second", "first", None]
    assert listed[0]["projects"] == ["work-restore-points", "work-restore-side"] and "error" in listed[2]
    assert listed[1]["counts"]["messages"] == 1

    assert resolve_restore_point(states, first.name) == first.resolve()
    assert resolve_restore_point(tmp_path / "elsewhere", str(second)) == second.resolve()
    with pytest.raises(NotFoundError) as caught:
        resolve_restore_point(states, "missing.zip")
    assert "archive list" in (caught.value.hint or "")
    assert list_restore_points(tmp_path / "none-yet") == []


def test_storage_entries_leave_out_git_locks_the_writers_scratch_files_and_symlinks(tmp_path):
    root = tmp_path / "storage"
    for rel in ("projects/p/project.json", ".git/HEAD", ".git/index.lock", f".git/{TMP_DIR}/tmp-1", "notes.md"):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text("x")
    (root / "link.md").symlink_to(root / "notes.md")
    directories, files = storage_entries(root)
    assert files[0] == ".git/HEAD"  # references come before the rest
    assert sorted(files) == [".git/HEAD", "notes.md", "projects/p/project.json"]
    assert "projects/p" in directories
    assert storage_entries(tmp_path / "missing") == ([], [])


@pytest.mark.sqlite_only  # copies the database file with SQLite's backup API
async def test_a_snapshot_copies_the_database_and_leaves_the_source_as_it_was(isolated_env, tmp_path):
    await fill_mailbox("one")
    source: Path = isolated_env["db_path"]
    target = tmp_path / "snap.sqlite3"
    snapshot_database(source, target)
    with sqlite3.connect(target) as conn:
        assert conn.execute("SELECT subject FROM messages").fetchall() == [("one",)]
    with pytest.raises(sqlite3.Error):
        snapshot_database(tmp_path / "absent.sqlite3", tmp_path / "other.sqlite3")


async def test_a_snapshot_of_either_backend_holds_every_row_of_every_table(isolated_env, tmp_path):
    await fill_mailbox("one", "two")
    execute("DELETE FROM messages WHERE subject = 'two'")  # the snapshot keeps counting past a deleted id
    before = digest(skip=())
    target = tmp_path / "snap.sqlite3"
    save_snapshot(get_settings(), target)
    assert digest(skip=()) == before  # the source is left as it was
    url = f"sqlite+aiosqlite:///{target}"
    for table in schema.metadata.sorted_tables:
        assert count(table.name, url=url) == count(table.name), table.name
    assert digest(skip=("schema_version",), url=url) == digest(skip=("schema_version",))
    with sqlite3.connect(target) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'messages'").fetchone() == (2,)
        conn.execute("INSERT INTO fts_messages(fts_messages) VALUES ('integrity-check')")  # raises if out of sync
    conn.close()
