"""``mcp-agent-mail mail status``: one line of what waits, nothing otherwise, and never a failing hook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import db_kit
from mcp_agent_mail.cli.mail_status import run
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.inbox import acknowledge_message, mark_message_read
from mcp_agent_mail.services.mail.messages import send_message

PROJECT = "/work/status-project"
EXECUTABLE = str(Path(sys.executable).parent / "mcp-agent-mail")


@pytest.fixture(autouse=True)
def _no_agent_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AGENT_MAIL_AGENT", "AGENT_NAME"):
        monkeypatch.delenv(name, raising=False)


def status(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[str, str]:
    """Run ``mail status`` in this process; assert it exits 0 and return (stdout, stderr)."""
    assert run(list(argv)) == 0
    captured = capsys.readouterr()
    return captured.out, captured.err


async def send(sender: str, to: list[str], **extra: Any) -> int:
    result = await send_message(PROJECT, sender, to, extra.pop("subject", "Hello"), "Body.", **extra)
    return int(result["deliveries"][0]["payload"]["id"])


@pytest.fixture
async def mailbox(isolated_env: dict[str, Path]) -> list[str]:
    """A project with seven agents; BlueLake has three unread messages (one urgent, one asking for an ack)."""
    await ensure_project(PROJECT)
    names = ["BlueLake", "RedFox", "GreenCastle", "AmberHill", "CobaltRiver", "SilverStone", "BrightMeadow"]
    for name in names:
        await register_agent(PROJECT, "pytest", "model", name=name)
    await send("RedFox", ["BlueLake"], importance="urgent")
    await send("GreenCastle", ["BlueLake"], ack_required=True)
    await send("RedFox", ["BlueLake"])
    return names


async def test_one_line_for_the_agent_with_counts_and_senders(mailbox: list[str], capsys) -> None:
    out, err = status(capsys, "--project", PROJECT, "--agent", "bluelake")
    assert out == "3 unread (1 urgent, 1 awaiting your ack) from RedFox, GreenCastle — call fetch_inbox\n"
    assert err == ""


async def test_nothing_to_say_prints_nothing(mailbox: list[str], capsys) -> None:
    assert status(capsys, "--project", PROJECT, "--agent", "RedFox") == ("", "")


async def test_the_agent_may_come_from_the_environment(mailbox: list[str], capsys, monkeypatch) -> None:
    monkeypatch.setenv("AGENT_NAME", "BlueLake")
    out, _ = status(capsys, "--project", PROJECT)
    assert out.startswith("3 unread (1 urgent, 1 awaiting your ack) from RedFox, GreenCastle")
    monkeypatch.setenv("AGENT_MAIL_AGENT", "RedFox")  # the more specific name wins
    assert status(capsys, "--project", PROJECT) == ("", "")


async def test_a_sub_directory_or_the_slug_finds_the_project(mailbox: list[str], capsys) -> None:
    line = "3 unread (1 urgent, 1 awaiting your ack) from RedFox, GreenCastle — call fetch_inbox\n"
    assert status(capsys, "--project", f"{PROJECT}/src/deep", "--agent", "BlueLake")[0] == line
    assert status(capsys, "--project", "work-status-project", "--agent", "BlueLake")[0] == line


async def test_the_current_directory_is_the_default_project(mailbox: list[str], capsys, monkeypatch) -> None:
    here = str(Path.cwd())
    await ensure_project(here)
    for name in ("BlueLake", "RedFox"):
        await register_agent(here, "pytest", "model", name=name)
    await send_message(here, "RedFox", ["BlueLake"], "Here", "Body.")
    assert status(capsys, "--agent", "BlueLake") == ("1 unread from RedFox — call fetch_inbox\n", "")


async def test_read_and_acknowledged_mail_stops_the_reminder(mailbox: list[str], capsys) -> None:
    ids = [int(row[0]) for row in db_kit.query("SELECT id FROM messages ORDER BY id")]
    for message_id in ids:
        await mark_message_read(PROJECT, "BlueLake", message_id)
    out, _ = status(capsys, "--project", PROJECT, "--agent", "BlueLake")
    assert out == "1 message awaiting your ack from GreenCastle — call acknowledge_message\n"
    await acknowledge_message(PROJECT, "BlueLake", ids[1])
    assert status(capsys, "--project", PROJECT, "--agent", "BlueLake") == ("", "")


async def test_without_an_agent_one_line_per_agent_at_most_five(mailbox: list[str], capsys) -> None:
    for name in mailbox[1:]:
        await send("BlueLake", [name])
    out, _ = status(capsys, "--project", PROJECT)
    lines = out.splitlines()
    assert lines[0] == "BlueLake: 3 unread (1 urgent, 1 awaiting your ack) from RedFox, GreenCastle — call fetch_inbox"
    assert len(lines) == 6 and all(line.endswith("1 unread from BlueLake — call fetch_inbox") for line in lines[1:5])
    assert lines[5] == "+2 more agents with mail waiting"


async def test_json_is_always_an_object(mailbox: list[str], capsys) -> None:
    data = json.loads(status(capsys, "--project", PROJECT, "--agent", "BlueLake", "--json")[0])
    assert data["project"] == "work-status-project" and data["agent"] == "BlueLake"
    assert (data["unread"], data["urgent"], data["awaiting_ack"]) == (3, 1, 1)
    assert data["agents"][0]["senders"] == ["RedFox", "GreenCastle"]
    assert data["error"] is None and len(data["lines"]) == 1
    quiet = json.loads(status(capsys, "--project", PROJECT, "--agent", "RedFox", "--json")[0])
    assert quiet["unread"] == 0 and quiet["lines"] == [] and quiet["agents"] == []
    unknown = json.loads(status(capsys, "--project", "/no/such/project", "--json")[0])
    assert unknown["project"] is None and unknown["note"] == "no project '/no/such/project' in the mailbox"


async def test_hook_output_is_the_clients_context_json(mailbox: list[str], capsys) -> None:
    out, _ = status(capsys, "--project", PROJECT, "--agent", "BlueLake", "--hook", "UserPromptSubmit")
    assert json.loads(out) == {
        "hookSpecificOutput": {
            "hookEventName": "UserPromptSubmit",
            "additionalContext": "mcp-agent-mail: 3 unread (1 urgent, 1 awaiting your ack) from RedFox, GreenCastle"
            " — call fetch_inbox",
        }
    }
    assert status(capsys, "--project", PROJECT, "--agent", "RedFox", "--hook", "SessionStart") == ("", "")


async def test_it_changes_nothing(mailbox: list[str], capsys) -> None:
    before = db_kit.digest(skip=())
    status(capsys, "--project", PROJECT, "--agent", "BlueLake")
    status(capsys, "--project", PROJECT, "--json")
    assert db_kit.digest(skip=()) == before


async def test_an_unknown_project_is_silent(mailbox: list[str], capsys) -> None:
    assert status(capsys, "--project", "/somewhere/else", "--agent", "BlueLake") == ("", "")


async def test_errors_are_one_line_on_stderr_and_exit_zero(mailbox: list[str], capsys) -> None:
    out, err = status(capsys, "--project", PROJECT, "--agent", "NoSuchAgent")
    assert out == "" and err == "mcp-agent-mail mail status: no agent 'NoSuchAgent' in project 'work-status-project'\n"
    out, err = status(capsys, "--bogus")
    assert out == "" and err == "mcp-agent-mail mail status: unrecognized arguments: --bogus\n"
    out, err = status(capsys, "--agent", "NoSuchAgent", "--project", PROJECT, "--json")
    assert json.loads(out)["error"] == "no agent 'NoSuchAgent' in project 'work-status-project'"
    assert len(err.splitlines()) == 1


async def test_an_unreachable_database_is_one_line_and_exit_zero(
    isolated_env: dict[str, Path], capsys, monkeypatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_kit.unusable_url(isolated_env["tmp_path"]))
    out, err = status(capsys, "--project", PROJECT, "--agent", "BlueLake")
    assert out == ""
    assert len(err.splitlines()) <= 1
    assert err == "" or err.startswith("mcp-agent-mail mail status: ")


@pytest.mark.sqlite_only  # a file that is not a SQLite database
def test_a_file_that_is_not_a_mailbox_is_reported(isolated_env: dict[str, Path], capsys) -> None:
    isolated_env["db_path"].write_text("not a database at all, just text " * 100)
    out, err = status(capsys, "--project", PROJECT, "--agent", "BlueLake")
    assert out == "" and err.startswith("mcp-agent-mail mail status: cannot read ") and len(err.splitlines()) == 1


def test_no_mailbox_yet_is_silent(isolated_env: dict[str, Path], capsys, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{isolated_env['tmp_path'] / 'never.sqlite3'}")
    assert status(capsys, "--project", PROJECT) == ("", "")
    assert not (isolated_env["tmp_path"] / "never.sqlite3").exists()


async def test_the_installed_command_answers_in_a_real_process(mailbox: list[str]) -> None:
    result = subprocess.run(
        [EXECUTABLE, "mail", "status", "--project", PROJECT, "--agent", "BlueLake"],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "3 unread (1 urgent, 1 awaiting your ack) from RedFox, GreenCastle — call fetch_inbox\n"
