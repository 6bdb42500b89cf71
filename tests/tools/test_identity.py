"""Identity tools through an in-memory MCP client."""

from __future__ import annotations

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from mcp_agent_mail.app import build_mcp_server

PROJECT = "/work/identity-test"


@pytest.fixture
async def client(isolated_env):
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        yield c


async def test_health_check_reports_database_ok(client):
    result = await client.call_tool("health_check", {})
    assert result.data["status"] == "ok"
    assert result.data["database"] == "ok"
    assert "database_url" not in result.data


async def test_ensure_project_is_idempotent_and_keeps_distinct_paths_apart(client):
    first = (await client.call_tool("ensure_project", {"human_key": PROJECT})).data
    again = (await client.call_tool("ensure_project", {"human_key": PROJECT + "/"})).data
    assert first["id"] == again["id"]
    assert first["slug"] == "work-identity-test"
    a = (await client.call_tool("ensure_project", {"human_key": "/a/b-c"})).data
    b = (await client.call_tool("ensure_project", {"human_key": "/a-b/c"})).data
    assert a["id"] != b["id"] and a["slug"] != b["slug"]


async def test_ensure_project_rejects_relative_path(client):
    with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: .*absolute"):
        await client.call_tool("ensure_project", {"human_key": "relative/dir"})


async def test_create_agent_identity_gives_adjective_noun_name_and_token_once(client):
    created = (await client.call_tool(
        "create_agent_identity", {"project_key": PROJECT, "program": "codex", "model": "gpt"}
    )).data
    assert created["name"][0].isupper() and len(created["registration_token"]) >= 32
    profile = (await client.call_tool(
        "whois", {"project_key": PROJECT, "agent_name": created["name"].lower()}
    )).data
    assert profile["name"] == created["name"]
    assert "registration_token" not in profile and "registration_token_hash" not in profile


async def test_name_hint_taken_case_insensitively_is_refused(client):
    await client.call_tool(
        "create_agent_identity",
        {"project_key": PROJECT, "program": "p", "model": "m", "name_hint": "GreenCastle"},
    )
    with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: .*already in use"):
        await client.call_tool(
            "create_agent_identity",
            {"project_key": PROJECT, "program": "p", "model": "m", "name_hint": "greencastle"},
        )


async def test_register_agent_updates_only_given_fields(client):
    await client.call_tool(
        "register_agent",
        {"project_key": PROJECT, "program": "p", "model": "m", "name": "BlueLake", "task_description": "auth"},
    )
    updated = (await client.call_tool(
        "register_agent", {"project_key": PROJECT, "program": "p2", "model": "m2", "name": "bluelake"}
    )).data
    assert updated["name"] == "BlueLake"
    assert updated["program"] == "p2"
    assert updated["task_description"] == "auth"


async def test_register_agent_rejects_invalid_name_and_unknown_project(client):
    with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: .*not a valid agent name"):
        await client.call_tool(
            "register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": "bob"}
        )
    with pytest.raises(ToolError, match=r"^NOT_FOUND: Project"):
        await client.call_tool(
            "register_agent", {"project_key": "/nope", "program": "p", "model": "m"}
        )
    with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: program is empty"):
        await client.call_tool("register_agent", {"project_key": PROJECT, "program": " ", "model": "m"})


async def test_whois_unknown_agent_suggests_names(client):
    await client.call_tool(
        "register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": "RedFox"}
    )
    with pytest.raises(ToolError, match=r"^NOT_FOUND: .*Hint: Did you mean RedFox"):
        await client.call_tool("whois", {"project_key": PROJECT, "agent_name": "RedFix"})


async def test_set_contact_policy_validates(client):
    await client.call_tool(
        "register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": "RedFox"}
    )
    ok = (await client.call_tool(
        "set_contact_policy", {"project_key": PROJECT, "agent_name": "RedFox", "policy": "open"}
    )).data
    assert ok["agent"] == "RedFox" and ok["policy"] == "open"
    with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: policy"):
        await client.call_tool(
            "set_contact_policy", {"project_key": PROJECT, "agent_name": "RedFox", "policy": "friends"}
        )
