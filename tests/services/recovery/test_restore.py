"""Restoring (services.recovery.restore): the plan, the swap that keeps the previous data, and refusals."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import zipfile
from pathlib import Path

import pytest
from recovery_kit import PROJECT, current_subjects, fill_mailbox, head, postgresql_only, subjects

from db_kit import count, digest, execute, rows
from mcp_agent_mail.archive import flush_pending
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.db import reset_database_state, sync_read_connection
from mcp_agent_mail.db.snapshot import dialect_of
from mcp_agent_mail.errors import ArchiveError, ConfigurationError, ServerRunningError
from mcp_agent_mail.services.mail.messages import send_message
from mcp_agent_mail.services.recovery.restore import execute_restore, plan_restore
from mcp_agent_mail.services.recovery.restore_points import database_label, list_restore_points, save_restore_point
from mcp_agent_mail.services.recovery.server_registry import hold_server_registration
from mcp_agent_mail.services.recovery.zipsafe import verify_restore_point


async def _saved_then_changed(tmp_path):
    """Save a restore point of two messages, then send a third; return the verified point and the saved HEAD."""
    await fill_mailbox("one", "two")
    saved = save_restore_point(get_settings(), tmp_path / "states")
    saved_head = saved.metadata["storage"]["git_head"]
    await send_message(PROJECT, "RedFox", ["BlueLake"], "three", "after the save")
    return verify_restore_point(saved.path), saved_head


@pytest.mark.sqlite_only  # the database file itself is moved aside
async def test_a_restore_brings_back_the_saved_mailbox_and_keeps_the_previous_one_aside(isolated_env, tmp_path):
    db_path, storage = isolated_env["db_path"], isolated_env["storage"]
    verified, saved_head = await _saved_then_changed(tmp_path)
    save_restore_point(get_settings(), tmp_path / "later")  # the archive now shows "three" too
    current_head = head(storage)
    assert current_head != saved_head

    plan = plan_restore(get_settings(), verified)
    assert plan.db_path == db_path and plan.storage_root == storage and plan.warnings == []
    assert (db_path, db_path.with_name(db_path.name + plan.backup_suffix)) in plan.moves_aside
    assert any(line.startswith("restore database snapshot") for line in plan.lines())

    result = execute_restore(get_settings(), verified, plan)
    assert subjects(db_path) == ["one", "two"]
    assert head(storage) == saved_head
    backups = {path.name: path for path in result.backups}
    previous_db = backups[db_path.name + plan.backup_suffix]
    assert subjects(previous_db) == ["one", "two", "three"]  # never deleted, only moved aside
    assert head(backups[storage.name + plan.backup_suffix]) == current_head
    assert not list(db_path.parent.glob(".restore-*"))  # staging folders are gone


async def test_a_running_server_blocks_the_restore_and_nothing_changes(isolated_env, tmp_path):
    verified, _ = await _saved_then_changed(tmp_path)
    plan = plan_restore(get_settings(), verified)
    with hold_server_registration(get_settings(), "http"):
        before = sorted(p.name for p in tmp_path.iterdir())
        with pytest.raises(ServerRunningError):
            execute_restore(get_settings(), verified, plan, states_dir=tmp_path / "states")
        assert sorted(p.name for p in tmp_path.iterdir()) == before  # no backup, no staging folder
    assert current_subjects() == ["one", "two", "three"]


async def test_a_restore_point_inside_the_storage_root_cannot_be_planned(isolated_env, tmp_path):
    await fill_mailbox("one")
    inside = isolated_env["storage"] / "points"
    saved = save_restore_point(get_settings(), inside)
    with pytest.raises(ConfigurationError, match="lies inside the storage root"):
        plan_restore(get_settings(), verify_restore_point(saved.path))


async def test_restoring_into_another_database_is_planned_with_a_warning(isolated_env, tmp_path, monkeypatch):
    await fill_mailbox("one")
    saved = save_restore_point(get_settings(), tmp_path / "states")
    source = database_label(get_settings())
    other = tmp_path / "other" / "mail.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{other}")
    reset_database_state()
    clear_settings_cache()
    plan = plan_restore(get_settings(), verify_restore_point(saved.path))
    assert plan.warnings == [f"The restore point was saved from {source}; it will be restored to {other}."]
    assert plan.moves_aside == [(isolated_env["storage"], plan.moves_aside[0][1])]  # no database there yet


# ---------------------------------------------------------------------------- a database that is not a file


def _counters() -> dict[str, int]:
    with sync_read_connection() as conn:
        return dialect_of(conn).counters(conn)


@postgresql_only
async def test_a_restore_replaces_every_table_in_one_transaction_after_saving_the_mailbox(isolated_env, tmp_path):
    storage = isolated_env["storage"]
    verified, saved_head = await _saved_then_changed(tmp_path)
    later = save_restore_point(get_settings(), tmp_path / "later")  # the archive now shows "three" too
    current_head = head(storage)

    plan = plan_restore(get_settings(), verified)
    assert plan.db_path is None and plan.database == database_label(get_settings())
    assert plan.moves_aside == [(storage, storage.with_name(storage.name + plan.backup_suffix))]
    assert any(line.startswith("replace every mailbox table of") for line in plan.lines())

    states = tmp_path / "states"
    result = execute_restore(get_settings(), verified, plan, states_dir=states)
    assert current_subjects() == ["one", "two"]
    assert head(storage) == saved_head
    assert count("archive_outbox") == 0
    assert _counters()["messages"] == 2  # the ids go on from the restore point's, as on SQLite
    await send_message(PROJECT, "RedFox", ["BlueLake"], "four", "after the restore")
    assert [row[0] for row in rows("messages", "id")] == [1, 2, 3]
    assert current_subjects() == ["one", "two", "four"]
    # The previous mailbox is a restore point, and the previous storage root was moved aside, never deleted.
    assert result.previous_point is not None and result.previous_point.parent == states
    assert [e["label"] for e in list_restore_points(states) if e.get("label")] == ["pre-restore"]
    with zipfile.ZipFile(result.previous_point) as zf:
        snap = tmp_path / "previous.sqlite3"
        snap.write_bytes(zf.read("snapshot/mailbox.sqlite3"))
    assert subjects(snap) == ["one", "two", "three"]
    assert head(result.backups[0]) == current_head
    assert not list(tmp_path.glob(".restore-*"))
    assert later.path.is_file()


@postgresql_only
async def test_a_restore_that_fails_half_way_leaves_every_row_as_it_was(isolated_env, tmp_path):
    await fill_mailbox("one", "two")
    saved = save_restore_point(get_settings(), tmp_path / "states")
    # A row this database refuses (PostgreSQL text holds no NUL character) late in the snapshot: the tables were
    # already emptied and partly filled in the transaction when it fails.
    snap = tmp_path / "snap.sqlite3"
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(saved.path) as src:
        snap.write_bytes(src.read("snapshot/mailbox.sqlite3"))
    with sqlite3.connect(snap) as conn:
        conn.execute("UPDATE messages SET body_md = 'x' || char(0) || 'y' WHERE subject = 'two'")
    conn.close()
    _replace_snapshot(saved.path, damaged, snap.read_bytes())
    await send_message(PROJECT, "RedFox", ["BlueLake"], "three", "after the save")
    execute("UPDATE agents SET task_description = :text WHERE name = 'RedFox'", text="kept")
    flush_pending()  # the restore's own save of the mailbox writes what is queued to the archive first
    before = digest(skip=())
    storage_head = head(isolated_env["storage"])

    verified = verify_restore_point(damaged)
    plan = plan_restore(get_settings(), verified)
    with pytest.raises(ArchiveError, match="do not fit this database"):
        execute_restore(get_settings(), verified, plan, states_dir=tmp_path / "pre")
    assert digest(skip=()) == before
    assert current_subjects() == ["one", "two", "three"]
    assert head(isolated_env["storage"]) == storage_head
    assert not list((tmp_path / "pre").glob("*.zip"))  # the copy of the untouched mailbox is not kept
    assert not list(tmp_path.glob("*.backup-*")) and not list(tmp_path.glob(".restore-*"))


def _replace_snapshot(source: Path, target: Path, data: bytes) -> None:
    """Copy a restore point with another snapshot, its hash updated in metadata.json."""
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(target, "w") as out:
        metadata = json.loads(src.read("metadata.json"))
        metadata["files"]["snapshot/mailbox.sqlite3"] = hashlib.sha256(data).hexdigest()
        for info in src.infolist():
            if info.filename == "metadata.json":
                continue
            out.writestr(info, data if info.filename == "snapshot/mailbox.sqlite3" else src.read(info))
        out.writestr("metadata.json", json.dumps(metadata))
