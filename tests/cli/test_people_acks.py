"""``acks pending | overdue`` for a project or one agent, with the exit status scripts can test."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from people_kit import Mailbox, as_json, invoke, require_registered, run_cli, seed

import db_kit
from mcp_agent_mail.cli import acks_cmds


@pytest.fixture
def box(isolated_env: dict[str, Path], tmp_path: Path) -> Mailbox:
    return seed(tmp_path, isolated_env["storage"])


def _age(box: Mailbox, minutes: int) -> None:
    old = datetime.now(UTC) - timedelta(minutes=minutes)
    assert db_kit.update("messages", "id = :id", {"created_ts": old}, id=box.urgent_id) == 1


def test_pending_lists_what_each_agent_owes(box: Mailbox) -> None:
    before = db_kit.digest()
    result = invoke(acks_cmds, "acks", "pending", "--project", box.project)
    assert result.exit_code == 0, result.output
    assert "Build broken" in result.stdout and "RedFox" in result.stdout and "unread" in result.stdout
    assert "Plan for today" not in result.stdout
    assert db_kit.digest() == before


def test_pending_json_for_the_project_and_for_one_agent(box: Mailbox) -> None:
    project = as_json(invoke(acks_cmds, "acks", "pending", "-p", box.slug, "--json"))
    assert project["total"] == 1 and project["agent"] is None
    assert [(i["message_id"], i["recipient"], i["from"]) for i in project["items"]] == [
        (box.urgent_id, "RedFox", "BlueLake")
    ]
    mine = as_json(invoke(acks_cmds, "acks", "pending", "-p", box.slug, "--agent", "RedFox", "--json"))
    assert [i["message_id"] for i in mine["items"]] == [box.urgent_id] and mine["agent"] == "RedFox"
    none = as_json(invoke(acks_cmds, "acks", "pending", "-p", box.slug, "--agent", "BlueLake", "--json"))
    assert none["items"] == [] and none["total"] == 0


def test_overdue_exits_0_when_nothing_is_overdue_and_3_when_something_is(box: Mailbox) -> None:
    calm = invoke(acks_cmds, "acks", "overdue", "-p", box.project)
    assert calm.exit_code == 0, calm.output
    assert "Nothing overdue" in calm.stdout
    _age(box, 90)
    late = invoke(acks_cmds, "acks", "overdue", "-p", box.project)
    assert late.exit_code == 3, late.output
    assert "Build broken" in late.stdout and "1h 30m" in late.stdout
    data = as_json(invoke(acks_cmds, "acks", "overdue", "-p", box.project, "--agent", "RedFox", "--json"))
    assert [i["message_id"] for i in data["items"]] == [box.urgent_id]
    assert data["items"][0]["age_seconds"] >= 90 * 60 and data["ttl_minutes"] == 60
    patient = invoke(acks_cmds, "acks", "overdue", "-p", box.project, "--ttl-minutes", "120", "--json")
    assert patient.exit_code == 0 and json.loads(patient.stdout)["items"] == []


def test_overdue_help_documents_the_exit_status(box: Mailbox) -> None:
    result = invoke(acks_cmds, "acks", "overdue", "--help")
    assert result.exit_code == 0
    assert "exit 3" in " ".join(result.stdout.split())


def test_unknown_project_or_agent_is_a_coded_error(box: Mailbox) -> None:
    for args in (["-p", "/no/such"], ["-p", box.project, "--agent", "Nobody"]):
        result = invoke(acks_cmds, "acks", "pending", *args)
        assert result.exit_code == 1 and result.stderr.startswith("NOT_FOUND: ") and result.stdout == ""


def test_bad_ttl_is_a_usage_error(box: Mailbox) -> None:
    assert invoke(acks_cmds, "acks", "overdue", "-p", box.project, "--ttl-minutes", "0").exit_code == 2


def test_installed_command_reports_overdue_acks_with_exit_3(box: Mailbox) -> None:
    require_registered("acks", "overdue")
    _age(box, 120)
    result = run_cli("acks", "overdue", "-p", box.project, "--json")
    assert result.returncode == 3, result.stderr
    assert [i["message_id"] for i in json.loads(result.stdout)["items"]] == [box.urgent_id]
