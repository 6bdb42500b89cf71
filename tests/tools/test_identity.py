"""Identity tools through an in-memory MCP client."""

from __future__ import annotations

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.archive import flush_pending
from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.services.identity.auth import BINDINGS

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
    created = (
        await client.call_tool("create_agent_identity", {"project_key": PROJECT, "program": "codex", "model": "gpt"})
    ).data
    assert created["name"][0].isupper() and len(created["registration_token"]) >= 32
    profile = (await client.call_tool("whois", {"project_key": PROJECT, "agent_name": created["name"].lower()})).data
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
    updated = (
        await client.call_tool(
            "register_agent", {"project_key": PROJECT, "program": "p2", "model": "m2", "name": "bluelake"}
        )
    ).data
    assert updated["name"] == "BlueLake"
    assert updated["program"] == "p2"
    assert updated["task_description"] == "auth"


async def test_register_agent_rejects_invalid_name_and_unknown_project(client):
    with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: .*not a valid agent name"):
        await client.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": "bob"})
    with pytest.raises(ToolError, match=r"^NOT_FOUND: Project"):
        await client.call_tool("register_agent", {"project_key": "/nope", "program": "p", "model": "m"})
    with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: program is empty"):
        await client.call_tool("register_agent", {"project_key": PROJECT, "program": " ", "model": "m"})


async def test_whois_unknown_agent_suggests_names(client):
    await client.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": "RedFox"})
    with pytest.raises(ToolError, match=r"^NOT_FOUND: .*Hint: Did you mean RedFox"):
        await client.call_tool("whois", {"project_key": PROJECT, "agent_name": "RedFix"})


async def test_set_contact_policy_validates(client):
    await client.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": "RedFox"})
    ok = (
        await client.call_tool("set_contact_policy", {"project_key": PROJECT, "agent_name": "RedFox", "policy": "open"})
    ).data
    assert ok["agent"] == "RedFox" and ok["policy"] == "open"
    with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: policy"):
        await client.call_tool(
            "set_contact_policy", {"project_key": PROJECT, "agent_name": "RedFox", "policy": "friends"}
        )


# --- whois shows only the mail the caller may know about ----------------------------------------------------------


@pytest.fixture
def identity_mode(isolated_env, monkeypatch, request):
    """Run a test in the identity mode named by its parameter, with no session bindings left over."""
    monkeypatch.setenv("AGENT_IDENTITY_MODE", request.param)
    clear_settings_cache()
    BINDINGS.clear()
    yield request.param
    BINDINGS.clear()


async def mailroom(server) -> dict[str, dict]:
    """BlueLake writes "Secret plan" to RedFox with GreenCastle in bcc; RedFox writes "Lunch" to BlueLake.
    Each step is flushed to the archive on its own, so each message has its own commit."""
    agents: dict[str, dict] = {}
    async with Client(server) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        for name in ("BlueLake", "RedFox", "GreenCastle", "SilverOwl"):
            agents[name] = (
                await c.call_tool(
                    "create_agent_identity", {"project_key": PROJECT, "program": "p", "model": "m", "name_hint": name}
                )
            ).data
        flush_pending()
        for sender, to, bcc, subject in (
            ("BlueLake", "RedFox", ["GreenCastle"], "Secret plan"),
            ("RedFox", "BlueLake", [], "Lunch"),
        ):
            await c.call_tool(
                "send_message",
                {
                    "project_key": PROJECT,
                    "sender_name": sender,
                    "sender_token": agents[sender]["registration_token"],
                    "to": [to],
                    "bcc": bcc,
                    "subject": subject,
                    "body_md": "b",
                },
            )
            flush_pending()
    return agents


async def subjects(client, target: str, token: str | None = None) -> str:
    """The summaries of the commits whois shows about ``target``, joined in one string."""
    args = {"project_key": PROJECT, "agent_name": target, "commit_limit": 50}
    if token is not None:
        args["registration_token"] = token
    profile = (await client.call_tool("whois", args)).data
    assert profile["name"] == target
    return " / ".join(commit["summary"] for commit in profile["recent_commits"])


@pytest.mark.parametrize("identity_mode", ["trusted"], indirect=True)
async def test_whois_never_reveals_a_bcc_copy_in_trusted_mode(identity_mode):
    server = build_mcp_server()
    agents = await mailroom(server)
    async with Client(server) as anyone:
        assert "Secret plan" not in await subjects(anyone, "GreenCastle")
        assert await subjects(anyone, "GreenCastle")  # the rest of its history (its profile) stays
        newest = (
            await anyone.call_tool("whois", {"project_key": PROJECT, "agent_name": "GreenCastle", "commit_limit": 1})
        ).data["recent_commits"]
        assert len(newest) == 1 and "Secret plan" not in newest[0]["summary"]  # the limit counts shown commits
        assert "Secret plan" not in await subjects(anyone, "GreenCastle", agents["RedFox"]["registration_token"])
        # Its sender and the bcc recipient itself know about the copy.
        assert "Secret plan" in await subjects(anyone, "GreenCastle", agents["BlueLake"]["registration_token"])
        assert "Secret plan" in await subjects(anyone, "GreenCastle", agents["GreenCastle"]["registration_token"])
        # Everything else stays as it was in trusted mode.
        seen = await subjects(anyone, "RedFox")
        assert "Secret plan" in seen and "Lunch" in seen
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED: registration_token does not belong to any agent"):
            await subjects(anyone, "RedFox", "forged-token")


@pytest.mark.parametrize("identity_mode", ["strict"], indirect=True)
async def test_whois_in_strict_mode_shows_only_mail_the_caller_may_read(identity_mode):
    server = build_mcp_server()
    agents = await mailroom(server)
    async with Client(server) as stranger:
        for target in ("BlueLake", "RedFox", "GreenCastle"):
            seen = await subjects(stranger, target)
            assert "Secret plan" not in seen and "Lunch" not in seen
        outsider = agents["SilverOwl"]["registration_token"]
        assert "Lunch" not in await subjects(stranger, "RedFox", outsider)
        red = agents["RedFox"]["registration_token"]
        seen = await subjects(stranger, "BlueLake", red)
        assert "Secret plan" in seen and "Lunch" in seen
        assert "Secret plan" not in await subjects(stranger, "GreenCastle", red)  # a bcc copy stays hidden
        assert "Secret plan" in await subjects(stranger, "GreenCastle", agents["BlueLake"]["registration_token"])
        assert "Lunch" not in await subjects(stranger, "BlueLake", agents["GreenCastle"]["registration_token"])
    # A session bound to an agent (here by creating it) counts as that agent, without a token.
    async with Client(server, mode="legacy") as session:
        await session.call_tool(
            "register_agent",
            {"project_key": PROJECT, "program": "p", "model": "m", "name": "RedFox", "registration_token": red},
        )
        seen = await subjects(session, "BlueLake")
        assert "Secret plan" in seen and "Lunch" in seen


async def test_unknown_agent_hint_ends_a_cut_list_with_an_ellipsis(client):
    names = ["worker-1", "worker-2", "worker-3", "worker-4", "BlueLake", "GreenCastle"]
    for name in names:
        await client.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name})
    with pytest.raises(ToolError) as close:
        await client.call_tool("whois", {"project_key": PROJECT, "agent_name": "worker-9"})
    assert str(close.value).startswith("NOT_FOUND: ")
    assert str(close.value).count("worker-") == 4  # the name asked for and three of the four close ones
    assert str(close.value).endswith(", …?")
    with pytest.raises(ToolError) as listed:
        await client.call_tool("whois", {"project_key": PROJECT, "agent_name": "Zq"})
    assert "Hint: Agents in this project: BlueLake, GreenCastle, worker-1, worker-2, worker-3, …." in str(listed.value)


async def test_unknown_agent_hint_names_a_short_list_whole(client):
    await client.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": "RedFox"})
    with pytest.raises(ToolError) as caught:
        await client.call_tool("whois", {"project_key": PROJECT, "agent_name": "Zq"})
    assert str(caught.value).endswith("Hint: Agents in this project: RedFox.")
