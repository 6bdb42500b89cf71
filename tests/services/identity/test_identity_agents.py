"""Agents: creating, re-registering (acting as the agent), the profile others see, and the contact policy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import db_kit
from mcp_agent_mail.errors import InvalidArgumentError, NotFoundError, ProjectArchivedError, UnauthorizedError
from mcp_agent_mail.services.identity.agents import (
    create_agent_identity,
    register_agent,
    set_contact_policy,
    whois,
)
from mcp_agent_mail.services.identity.auth import BINDINGS, hash_token
from mcp_agent_mail.services.identity.lifecycle import archive_project
from mcp_agent_mail.services.identity.projects import ensure_project

PROJECT = "/work/agents-service"


def _agents() -> list[tuple[Any, ...]]:
    columns = ("name", "program", "model", "task_description", "attachments_policy", "contact_policy")
    return db_kit.rows("agents", *columns, "registration_token_hash")


@pytest.fixture
def bindings() -> Iterator[None]:
    BINDINGS.clear()
    yield
    BINDINGS.clear()


@pytest.fixture
async def project(isolated_env, bindings) -> None:
    """An empty project."""
    await ensure_project(PROJECT)


async def test_registering_a_new_name_creates_the_agent_with_a_token_stored_only_as_a_hash(project):
    agent = await register_agent(PROJECT, " claude-code ", "opus", name="blue-lake", task_description="docs")
    assert agent["name"] == "BlueLake" and agent["created"] is True and agent["verified"] is True
    assert agent["program"] == "claude-code" and agent["task_description"] == "docs"
    [row] = _agents()
    assert row[:6] == ("BlueLake", "claude-code", "opus", "docs", "auto", "auto")
    assert row[6] == hash_token(agent["registration_token"]) and agent["registration_token"] not in row


async def test_re_registering_updates_only_the_given_fields_and_issues_no_new_token(project):
    first = await register_agent(PROJECT, "p", "m", name="BlueLake", task_description="docs", attachments_policy="file")
    again = await register_agent(PROJECT, "p2", "m2", name="bluelake", registration_token=first["registration_token"])
    assert again["created"] is False and again["verified"] is True and "registration_token" not in again
    assert again["id"] == first["id"] and again["task_description"] == "docs"
    assert _agents() == [("BlueLake", "p2", "m2", "docs", "file", "auto", hash_token(first["registration_token"]))]


async def test_a_wrong_token_is_refused_and_the_agent_is_unchanged(project):
    await register_agent(PROJECT, "p", "m", name="BlueLake")
    before = _agents()
    with pytest.raises(UnauthorizedError) as refused:
        await register_agent(PROJECT, "other", "m", name="BlueLake", registration_token="not-the-token")
    assert refused.value.code == "UNAUTHORIZED"
    assert _agents() == before


async def test_an_agent_without_a_stored_token_is_claimed_and_given_one_once(project):
    await register_agent(PROJECT, "p", "m", name="BlueLake")
    db_kit.execute("UPDATE agents SET registration_token_hash = NULL")  # as rebuilt from the archive
    claimed = await register_agent(PROJECT, "p", "m", name="BlueLake")
    assert claimed["verified"] is True and claimed["registration_token"]
    assert _agents()[0][6] == hash_token(claimed["registration_token"])
    later = await register_agent(PROJECT, "p", "m", name="BlueLake", registration_token=claimed["registration_token"])
    assert "registration_token" not in later


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"program": "  "}, "program is empty"),
        ({"model": "x" * 129}, "model is longer than 128"),
        ({"name": "Castle"}, "not a valid agent name"),
        ({"attachments_policy": "sometimes"}, "attachments_policy 'sometimes' is not one of"),
        ({"task_description": "t" * 2049}, "task_description is longer than 2048"),
    ],
)
async def test_bad_registrations_are_refused_before_anything_is_stored(project, args, message):
    call = {"program": "p", "model": "m", "name": "BlueLake", **args}
    with pytest.raises(InvalidArgumentError, match=message):
        await register_agent(PROJECT, **call)
    assert _agents() == []


async def test_create_agent_identity_always_makes_a_new_agent_and_refuses_a_taken_hint(project):
    made = await create_agent_identity(PROJECT, "p", "m", name_hint="GreenCastle", session_key="s1")
    assert made["name"] == "GreenCastle" and made["registration_token"]
    generated = await create_agent_identity(PROJECT, "p", "m")
    assert generated["name"] != "GreenCastle"
    with pytest.raises(InvalidArgumentError, match="already in use"):
        await create_agent_identity(PROJECT, "p", "m", name_hint="green-castle")
    assert [row[0] for row in _agents()] == ["GreenCastle", generated["name"]]


async def test_an_archived_project_takes_no_new_agents(project):
    await archive_project(PROJECT)
    with pytest.raises(ProjectArchivedError):
        await register_agent(PROJECT, "p", "m", name="BlueLake")
    with pytest.raises(ProjectArchivedError):
        await create_agent_identity(PROJECT, "p", "m")
    assert _agents() == []


async def test_whois_shows_the_public_profile_without_secrets(project):
    await register_agent(PROJECT, "p", "m", name="BlueLake", task_description="docs")
    profile = await whois(PROJECT, "bluelake")
    assert profile["name"] == "BlueLake" and profile["project"] == PROJECT and profile["task_description"] == "docs"
    assert not {"registration_token", "registration_token_hash", "contact_policy"} & set(profile)
    with pytest.raises(NotFoundError):
        await whois(PROJECT, "RedFox")


async def test_the_contact_policy_is_stored_normalised_and_a_bad_one_changes_nothing(project):
    await register_agent(PROJECT, "p", "m", name="BlueLake")
    assert await set_contact_policy(PROJECT, "bluelake", " Contacts_Only ") == {
        "agent": "BlueLake",
        "policy": "contacts_only",
    }
    with pytest.raises(InvalidArgumentError, match="policy 'anyone' is not one of"):
        await set_contact_policy(PROJECT, "BlueLake", "anyone")
    assert _agents()[0][5] == "contacts_only"
