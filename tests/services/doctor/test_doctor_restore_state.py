"""Doctor findings about restores and saves: quiet on a clean mailbox, leftovers of killed runs found and swept."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mcp_agent_mail.config import Settings, get_settings
from mcp_agent_mail.services.doctor.findings import WARNING
from mcp_agent_mail.services.doctor.restore_state import (
    STATES_DIR_NAME,
    check_restore,
    check_staging,
    remove_staging,
)
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.recovery.staging import OWNER_FILE, RESTORE_PREFIX, SAVE_PREFIX, staging_dir


@pytest.fixture
async def settings(isolated_env) -> Settings:
    """Settings of a mailbox whose database exists (one project)."""
    await ensure_project("/work/doctor-restore-state")
    return get_settings()


def _left_by_a_killed_run(parent: Path, name: str) -> Path:
    """A working folder whose owner process is gone (its pid file names a process that no longer holds it)."""
    folder = parent / name
    folder.mkdir(parents=True)
    (folder / "partial.bin").write_bytes(b"half written")
    (folder / OWNER_FILE).write_text("12345\n")
    return folder


async def test_a_mailbox_without_an_interrupted_restore_or_leftovers_gets_no_finding(settings):
    assert check_restore(settings) is None
    assert check_staging(settings) is None
    assert remove_staging(settings) == "no folder left to remove"


async def test_leftover_save_and_restore_folders_are_reported_then_removed(settings, isolated_env):
    save = _left_by_a_killed_run(settings.data_dir / STATES_DIR_NAME, f"{SAVE_PREFIX}killed")
    restore = _left_by_a_killed_run(isolated_env["db_path"].parent, f"{RESTORE_PREFIX}killed")

    finding = check_staging(settings)
    assert finding is not None and finding.name == "staging" and finding.status == WARNING
    assert finding.repairable is True
    assert finding.message == "2 working folders left behind by killed saves or restores."
    assert sorted(finding.details["folders"]) == sorted([str(save), str(restore)])
    assert save.is_dir() and restore.is_dir()  # checking removes nothing

    assert remove_staging(settings) == "removed 2 folders"
    assert not save.exists() and not restore.exists()
    assert check_staging(settings) is None


async def test_a_folder_in_use_by_a_live_save_is_neither_reported_nor_removed(settings):
    states = settings.data_dir / STATES_DIR_NAME
    with staging_dir(states, SAVE_PREFIX) as live:
        assert (live.path / OWNER_FILE).read_text() == f"{os.getpid()}\n"
        assert check_staging(settings) is None
        assert remove_staging(settings) == "no folder left to remove"
        assert live.path.is_dir()


async def test_folders_with_other_names_are_left_alone(settings, isolated_env):
    unrelated = _left_by_a_killed_run(isolated_env["db_path"].parent, "my-notes")
    assert check_staging(settings) is None
    remove_staging(settings)
    assert unrelated.is_dir()
