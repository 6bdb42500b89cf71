"""``projects list`` and ``agents list``: tables for people, one JSON object for scripts."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from people_kit import Mailbox, as_json, invoke, require_registered, run_cli, seed

import db_kit
from mcp_agent_mail.cli import listing_cmds
from mcp_agent_mail.services.identity.projects import ensure_project


@pytest.fixture
def box(isolated_env: dict[str, Path], tmp_path: Path) -> Mailbox:
    return seed(tmp_path, isolated_env["storage"])


def test_projects_list_shows_counts(box: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    before = db_kit.digest()
    result = invoke(listing_cmds, "projects", "list")
    assert result.exit_code == 0, result.output
    assert box.slug in result.stdout
    data = as_json(invoke(listing_cmds, "projects", "list", "--json"))
    assert data["count"] == 1
    (project,) = data["projects"]
    assert (project["slug"], project["human_key"], project["agent_count"], project["message_count"]) == (
        box.slug,
        box.project,
        2,
        2,
    )
    assert db_kit.digest() == before


def test_projects_list_reads_every_page(isolated_env: dict[str, Path], tmp_path: Path) -> None:
    async def many() -> None:
        for n in range(listing_cmds.PAGE_SIZE + 5):
            await ensure_project(str(tmp_path / f"p{n:03d}"))

    asyncio.run(many())
    data = as_json(invoke(listing_cmds, "projects", "list", "--json"))
    assert data["count"] == listing_cmds.PAGE_SIZE + 5
    assert len({p["slug"] for p in data["projects"]}) == data["count"]


def test_an_empty_mailbox_says_so(isolated_env: dict[str, Path]) -> None:
    result = invoke(listing_cmds, "projects", "list")
    assert result.exit_code == 0 and "No projects yet" in result.stdout
    assert as_json(invoke(listing_cmds, "projects", "list", "--json")) == {"count": 0, "projects": []}


def test_agents_list_with_unread_counts(box: Mailbox) -> None:
    result = invoke(listing_cmds, "agents", "list", "--project", box.project)
    assert result.exit_code == 0, result.output
    assert "BlueLake" in result.stdout and "RedFox" in result.stdout
    data = as_json(invoke(listing_cmds, "agents", "list", "-p", box.slug, "--json"))
    unread = {a["name"]: a["unread_count"] for a in data["agents"]}
    assert unread == {"BlueLake": 0, "RedFox": 2}
    assert data["project"]["slug"] == box.slug and data["count"] == 2
    assert all("registration_token" not in a and "token_hash" not in a for a in data["agents"])


def test_agents_of_an_unknown_project_is_a_coded_error(box: Mailbox) -> None:
    result = invoke(listing_cmds, "agents", "list", "-p", "no-such-project")
    assert result.exit_code == 1 and result.stderr.startswith("NOT_FOUND: ") and result.stdout == ""


def test_installed_command_lists_projects_and_agents(box: Mailbox) -> None:
    require_registered("projects", "list")
    projects = run_cli("projects", "list", "--json")
    assert projects.returncode == 0, projects.stderr
    assert [p["slug"] for p in json.loads(projects.stdout)["projects"]] == [box.slug]
    agents = run_cli("agents", "list", "-p", box.slug, "--json")
    assert agents.returncode == 0, agents.stderr
    assert sorted(a["name"] for a in json.loads(agents.stdout)["agents"]) == ["BlueLake", "RedFox"]
