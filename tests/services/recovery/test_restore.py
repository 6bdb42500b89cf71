"""Restoring (services.recovery.restore): the plan, the swap that keeps the previous data, and refusals."""

from __future__ import annotations

import pytest
from recovery_kit import PROJECT, fill_mailbox, head, subjects

from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.db import reset_database_state
from mcp_agent_mail.errors import ConfigurationError, ServerRunningError
from mcp_agent_mail.services.mail.messages import send_message
from mcp_agent_mail.services.recovery.restore import execute_restore, plan_restore
from mcp_agent_mail.services.recovery.restore_points import save_restore_point
from mcp_agent_mail.services.recovery.server_registry import hold_server_registration
from mcp_agent_mail.services.recovery.zipsafe import verify_restore_point


async def _saved_then_changed(tmp_path):
    """Save a restore point of two messages, then send a third; return the verified point and the saved HEAD."""
    await fill_mailbox("one", "two")
    saved = save_restore_point(get_settings(), tmp_path / "states")
    saved_head = saved.metadata["storage"]["git_head"]
    await send_message(PROJECT, "RedFox", ["BlueLake"], "three", "after the save")
    return verify_restore_point(saved.path), saved_head


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
    db_path = isolated_env["db_path"]
    verified, _ = await _saved_then_changed(tmp_path)
    plan = plan_restore(get_settings(), verified)
    with hold_server_registration(get_settings(), "http"):
        before = sorted(p.name for p in db_path.parent.iterdir())
        with pytest.raises(ServerRunningError):
            execute_restore(get_settings(), verified, plan)
        assert sorted(p.name for p in db_path.parent.iterdir()) == before  # no backup, no staging folder
    assert subjects(db_path) == ["one", "two", "three"]


async def test_a_restore_point_inside_the_storage_root_cannot_be_planned(isolated_env, tmp_path):
    await fill_mailbox("one")
    inside = isolated_env["storage"] / "points"
    saved = save_restore_point(get_settings(), inside)
    with pytest.raises(ConfigurationError, match="lies inside the storage root"):
        plan_restore(get_settings(), verify_restore_point(saved.path))


async def test_restoring_into_another_database_is_planned_with_a_warning(isolated_env, tmp_path, monkeypatch):
    await fill_mailbox("one")
    saved = save_restore_point(get_settings(), tmp_path / "states")
    other = tmp_path / "other" / "mail.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{other}")
    reset_database_state()
    clear_settings_cache()
    plan = plan_restore(get_settings(), verify_restore_point(saved.path))
    assert plan.warnings == [
        f"The restore point was saved from {isolated_env['db_path']}; it will be restored to {other}."
    ]
    assert plan.moves_aside == [(isolated_env["storage"], plan.moves_aside[0][1])]  # no database there yet
