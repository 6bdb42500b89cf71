"""``reservations list | release``: the web UI's operator release from the terminal, archive written."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from people_kit import Mailbox, as_json, invoke, require_registered, run_cli, seed

import db_kit
from mcp_agent_mail.cli import reservations_cmds
from mcp_agent_mail.config import clear_settings_cache


@pytest.fixture
def box(isolated_env: dict[str, Path], tmp_path: Path) -> Mailbox:
    return seed(tmp_path, isolated_env["storage"])


def _holder_gone(box: Mailbox) -> None:
    """Make BlueLake look gone: inactive for two days, its mail as old."""
    old = datetime.now(UTC) - timedelta(days=2)
    db_kit.update("agents", "name = 'BlueLake'", {"last_active_ts": old})
    db_kit.update("messages", "1 = 1", {"created_ts": old})


def test_list_shows_active_leases_with_their_holder_state(box: Mailbox) -> None:
    before = db_kit.digest()
    result = invoke(reservations_cmds, "reservations", "list", "--project", box.project)
    assert result.exit_code == 0, result.output
    assert "src/**" in result.stdout and "BlueLake" in result.stdout and "in use" in result.stdout
    assert db_kit.digest() == before


def test_list_json_and_all(box: Mailbox) -> None:
    data = as_json(invoke(reservations_cmds, "reservations", "list", "-p", box.slug, "--json"))
    assert [(r["id"], r["status"], r["stale"]) for r in data["reservations"]] == [(box.reservation_id, "active", False)]
    past = datetime.now(UTC) - timedelta(hours=1)
    db_kit.update("file_reservations", "id = :id", {"expires_ts": past}, id=box.reservation_id)
    assert as_json(invoke(reservations_cmds, "reservations", "list", "-p", box.slug, "--json"))["reservations"] == []
    every = as_json(invoke(reservations_cmds, "reservations", "list", "-p", box.slug, "--all", "--json"))
    assert [(r["id"], r["status"]) for r in every["reservations"]] == [(box.reservation_id, "expired")]
    empty = invoke(reservations_cmds, "reservations", "list", "-p", box.slug)
    assert "No active reservations" in empty.stdout


def test_release_of_a_lease_whose_holder_may_still_work_is_refused_and_changes_nothing(box: Mailbox) -> None:
    before = db_kit.digest(skip=())
    result = invoke(reservations_cmds, "reservations", "release", str(box.reservation_id), "-p", box.project)
    assert result.exit_code == 1
    assert result.stderr.startswith("RESERVATION_ACTIVE: ") and result.stdout == ""
    assert db_kit.digest(skip=()) == before


def test_release_of_a_stale_lease_mails_the_holder_and_writes_the_archive(box: Mailbox) -> None:
    _holder_gone(box)
    result = invoke(
        reservations_cmds,
        "reservations",
        "release",
        str(box.reservation_id),
        "-p",
        box.project,
        "--note",
        "left overnight",
    )
    assert result.exit_code == 0, (result.output, result.stderr)
    assert f"Released reservation {box.reservation_id} on src/** held by BlueLake." in result.stdout
    assert "BlueLake was mailed why." in result.stdout
    assert "The Git archive is up to date." in result.stdout
    assert db_kit.count("file_reservations", "released_ts IS NOT NULL") == 1
    assert db_kit.pending_outbox() == 0
    (lease_file,) = box.storage.glob(f"projects/*/file_reservations/id-{box.reservation_id}.json")
    assert json.loads(lease_file.read_text(encoding="utf-8"))["released_ts"]
    again = as_json(
        invoke(reservations_cmds, "reservations", "release", str(box.reservation_id), "-p", box.project, "--json")
    )
    assert again["already_released"] is True


def test_release_whose_archive_could_never_be_written_is_refused_and_changes_nothing(
    box: Mailbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _holder_gone(box)
    blocker = tmp_path / "archive-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("STORAGE_ROOT", str(blocker / "archive"))
    clear_settings_cache()
    before = db_kit.digest(skip=())
    result = invoke(reservations_cmds, "reservations", "release", str(box.reservation_id), "-p", box.project)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(
        f"CONFIGURATION_ERROR: STORAGE_ROOT {blocker / 'archive'} lies under {blocker}, which is a file"
    )
    assert db_kit.digest(skip=()) == before


@pytest.mark.parametrize(("rid", "code"), [("424242", "NOT_FOUND"), ("0", "INVALID_ARGUMENT")])
def test_release_of_a_bad_id_is_a_coded_error(box: Mailbox, rid: str, code: str) -> None:
    before = db_kit.digest(skip=())
    result = invoke(reservations_cmds, "reservations", "release", "-p", box.project, "--", rid)
    assert result.exit_code == 1 and result.stderr.startswith(f"{code}: "), result.stderr
    assert db_kit.digest(skip=()) == before


def test_release_with_a_control_character_in_the_note_is_refused(box: Mailbox) -> None:
    _holder_gone(box)
    before = db_kit.digest(skip=())
    result = invoke(
        reservations_cmds, "reservations", "release", str(box.reservation_id), "-p", box.project, "--note", "a\x1bb"
    )
    assert result.exit_code == 1 and result.stderr.startswith("INVALID_ARGUMENT: ")
    assert db_kit.digest(skip=()) == before


def test_installed_command_lists_reservations(box: Mailbox) -> None:
    require_registered("reservations", "list")
    result = run_cli("reservations", "list", "-p", box.project, "--json")
    assert result.returncode == 0, result.stderr
    assert [r["id"] for r in json.loads(result.stdout)["reservations"]] == [box.reservation_id]
