"""Agent identity: registration tokens, session binding, trusted and strict modes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError
from sqlalchemy import text, update

from mcp_agent_mail import archive
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.db import get_session, run_write, schema
from mcp_agent_mail.services.identity.auth import BINDINGS, hash_token
from mcp_agent_mail.tools._adapter import current_session_key

PROJECT = "/work/auth-test"
OTHER = "/work/auth-other"


def session(server: FastMCP) -> Client:
    """A client keeping one MCP session for its lifetime (handshake-era protocol)."""
    return Client(server, mode="legacy")


@pytest.fixture
def strict(isolated_env, monkeypatch):
    monkeypatch.setenv("AGENT_IDENTITY_MODE", "strict")
    clear_settings_cache()
    BINDINGS.clear()
    yield
    BINDINGS.clear()


@pytest.fixture
def trusted(isolated_env):
    BINDINGS.clear()
    yield
    BINDINGS.clear()


async def setup(server: FastMCP) -> dict[str, dict]:
    """Create two projects and agents BlueLake, RedFox (in PROJECT) and GreenCastle (in OTHER) in one session."""
    agents: dict[str, dict] = {}
    async with session(server) as c:
        for key in (PROJECT, OTHER):
            await c.call_tool("ensure_project", {"human_key": key})
        for name, key in (("BlueLake", PROJECT), ("RedFox", PROJECT), ("GreenCastle", OTHER)):
            created = await c.call_tool(
                "create_agent_identity", {"project_key": key, "program": "p", "model": "m", "name_hint": name}
            )
            agents[name] = created.data
    return agents


def mail(sender: str = "BlueLake", to: str = "RedFox", **extra) -> dict:
    return {"project_key": PROJECT, "sender_name": sender, "to": [to], "subject": "Hi", "body_md": "b", **extra}


async def message_count() -> int:
    async with get_session() as s:
        return int((await s.execute(text("SELECT count(*) FROM messages"))).scalar_one())


async def agent_row(name: str) -> dict:
    async with get_session() as s:
        row = (await s.execute(text("SELECT * FROM agents WHERE name = :n"), {"n": name})).mappings().one()
        return dict(row)


# --- schema and sessions -----------------------------------------------------------------------------------------


async def test_list_tools_exposes_token_params(trusted):
    async with Client(build_mcp_server()) as c:
        tools = {t.name: t.input_schema for t in await c.list_tools()}
    assert "sender_token" in tools["send_message"]["properties"]
    assert "sender_token" in tools["reply_message"]["properties"]
    for name in (
        "fetch_inbox",
        "set_contact_policy",
        "file_reservation_paths",
        "retire_agent",
        "register_agent",
        "archive_project",
        "hard_delete_project",
        "purge_old_messages",
        "search_messages",
    ):
        props = tools[name]["properties"]
        assert "registration_token" in props, name
        assert "registration_token" not in tools[name].get("required", [])
        assert props["registration_token"]["type"] == "string"
    assert tools["send_message"]["properties"]["sender_token"]["description"]
    assert tools["archive_project"]["properties"]["registration_token"]["description"]
    assert "registration_token" not in tools["whois"].get("required", [])  # optional: it only widens what is shown
    assert not any("token" in p for p in tools["create_agent_identity"]["properties"])


async def test_each_client_is_its_own_session(trusted):
    server = build_mcp_server()

    @server.tool
    async def probe() -> dict:
        return {"key": current_session_key()}

    async with session(server) as a, session(server) as b:
        a1 = (await a.call_tool("probe", {})).data["key"]
        a2 = (await a.call_tool("probe", {})).data["key"]
        b1 = (await b.call_tool("probe", {})).data["key"]
    assert a1 and a1 == a2
    assert b1 and b1 != a1
    async with Client(server) as stateless:  # 2026-07-28 protocol: no session to bind to
        assert (await stateless.call_tool("probe", {})).data["key"] is None


# --- trusted mode ------------------------------------------------------------------------------------------------


async def test_trusted_mode_accepts_names_and_reports_verification(trusted):
    server = build_mcp_server()
    agents = await setup(server)
    token = agents["BlueLake"]["registration_token"]
    assert agents["BlueLake"]["verified"] is True
    async with session(server) as fresh:
        plain = (await fresh.call_tool("send_message", mail())).data
        assert plain["count"] == 1 and plain["verified_sender"] is False
        proved = (await fresh.call_tool("send_message", mail(sender_token=token))).data
        assert proved["verified_sender"] is True
        again = (await fresh.call_tool("send_message", mail())).data  # this session has proved BlueLake
        assert again["verified_sender"] is True
        inbox = await fresh.call_tool("fetch_inbox", {"project_key": PROJECT, "agent_name": "RedFox"})
        assert isinstance(inbox.data, list) and len(inbox.data) == 3


async def test_creating_session_is_verified_without_token(trusted):
    server = build_mcp_server()
    async with session(server) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        for name in ("BlueLake", "RedFox"):
            await c.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name})
        sent = (await c.call_tool("send_message", mail())).data
        assert sent["verified_sender"] is True
        policy = (
            await c.call_tool("set_contact_policy", {"project_key": PROJECT, "agent_name": "RedFox", "policy": "open"})
        ).data
        assert policy["verified"] is True


@pytest.mark.parametrize("mode", ["trusted", "strict"])
async def test_wrong_token_is_refused_in_both_modes(isolated_env, monkeypatch, mode):
    monkeypatch.setenv("AGENT_IDENTITY_MODE", mode)
    clear_settings_cache()
    BINDINGS.clear()
    server = build_mcp_server()
    agents = await setup(server)
    async with session(server) as fresh:
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED: Invalid sender_token .*Hint: Pass sender_token="):
            await fresh.call_tool("send_message", mail(sender_token="not-the-token"))
        other_agents_token = agents["RedFox"]["registration_token"]
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED"):
            await fresh.call_tool("send_message", mail(sender_token=other_agents_token))
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED: Invalid registration_token"):
            await fresh.call_tool(
                "register_agent",
                {
                    "project_key": PROJECT,
                    "program": "evil",
                    "model": "m",
                    "name": "BlueLake",
                    "registration_token": "nope",
                },
            )
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED"):
            await fresh.call_tool("archive_project", {"project_key": PROJECT, "registration_token": "nope"})
    # the creating session's binding does not make a wrong proof acceptable either
    async with session(server) as c:
        await c.call_tool("create_agent_identity", {"project_key": PROJECT, "program": "p", "model": "m"})
    assert await message_count() == 0
    assert (await agent_row("BlueLake"))["program"] == "p"
    async with get_session() as s:
        archived = await s.execute(text("SELECT archived_at FROM projects WHERE human_key = :k"), {"k": PROJECT})
        assert archived.scalar_one() is None


# --- strict mode -------------------------------------------------------------------------------------------------


async def test_strict_refuses_fresh_session_without_token_and_changes_nothing(strict):
    server = build_mcp_server()
    agents = await setup(server)
    async with session(server) as fresh:
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED: .*BlueLake.*Hint: Pass sender_token=") as info:
            await fresh.call_tool("send_message", mail())
        assert "register_agent" in str(info.value)
        for tool, args in (
            ("fetch_inbox", {"project_key": PROJECT, "agent_name": "RedFox"}),
            ("set_contact_policy", {"project_key": PROJECT, "agent_name": "RedFox", "policy": "block_all"}),
            ("file_reservation_paths", {"project_key": PROJECT, "agent_name": "RedFox", "paths": ["src/**"]}),
            ("retire_agent", {"project_key": PROJECT, "agent_name": "RedFox"}),
            ("register_agent", {"project_key": PROJECT, "program": "x", "model": "y", "name": "redfox"}),
            ("archive_project", {"project_key": PROJECT}),
        ):
            with pytest.raises(ToolError, match=r"^UNAUTHORIZED: .*Hint: Pass registration_token="):
                await fresh.call_tool(tool, args)
    assert await message_count() == 0
    red = await agent_row("RedFox")
    assert red["program"] == "p" and red["contact_policy"] == "auto" and red["retired_at"] is None
    async with get_session() as s:
        assert (await s.execute(text("SELECT count(*) FROM file_reservations"))).scalar_one() == 0
    assert agents["RedFox"]["registration_token"]


async def test_strict_token_works_from_another_session_and_binds_it(strict):
    server = build_mcp_server()
    agents = await setup(server)
    blue, red = agents["BlueLake"]["registration_token"], agents["RedFox"]["registration_token"]
    async with session(server) as other:
        sent = (await other.call_tool("send_message", mail(sender_token=blue))).data
        assert sent["count"] == 1 and sent["verified_sender"] is True
        again = (await other.call_tool("send_message", mail())).data
        assert again["verified_sender"] is True
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED"):  # proving BlueLake says nothing about RedFox
            await other.call_tool("fetch_inbox", {"project_key": PROJECT, "agent_name": "RedFox"})
        inbox = (
            await other.call_tool(
                "fetch_inbox", {"project_key": PROJECT, "agent_name": "RedFox", "registration_token": red}
            )
        ).data
        assert [m["subject"] for m in inbox] == ["Hi", "Hi"]
        updated = (
            await other.call_tool(
                "register_agent",
                {"project_key": PROJECT, "program": "p2", "model": "m", "name": "BlueLake", "registration_token": blue},
            )
        ).data
        assert updated["program"] == "p2" and updated["verified"] is True
        assert "registration_token" not in updated
    async with Client(server) as stateless:  # no session: only the token proves identity
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED"):
            await stateless.call_tool("send_message", mail())
        assert (await stateless.call_tool("send_message", mail(sender_token=blue))).data["verified_sender"]


async def test_strict_creating_session_acts_without_token(strict):
    server = build_mcp_server()
    async with session(server) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        for name in ("BlueLake", "RedFox"):
            await c.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name})
        assert (await c.call_tool("send_message", mail())).data["verified_sender"] is True
        assert len((await c.call_tool("fetch_inbox", {"project_key": PROJECT, "agent_name": "RedFox"})).data) == 1
        archived = (await c.call_tool("archive_project", {"project_key": PROJECT})).data
        assert archived["status"] == "archived" and archived["verified"] is True


async def test_strict_search_needs_a_viewer(strict):
    server = build_mcp_server()
    agents = await setup(server)
    async with session(server) as c:
        await c.call_tool("send_message", mail(sender_token=agents["BlueLake"]["registration_token"]))
    query = {"project_key": PROJECT, "query": "Hi"}
    async with session(server) as fresh:
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED: .*has no agent"):
            await fresh.call_tool("search_messages", query)
        by_token = await fresh.call_tool(
            "search_messages", {**query, "registration_token": agents["RedFox"]["registration_token"]}
        )
        assert len(by_token.data) == 1
        assert len((await fresh.call_tool("search_messages", query)).data) == 1  # bound to exactly RedFox now
    async with session(server) as creator:  # bound to BlueLake and RedFox: ambiguous
        await creator.call_tool(
            "register_agent",
            {
                "project_key": PROJECT,
                "program": "p",
                "model": "m",
                "name": "BlueLake",
                "registration_token": agents["BlueLake"]["registration_token"],
            },
        )
        await creator.call_tool(
            "register_agent",
            {
                "project_key": PROJECT,
                "program": "p",
                "model": "m",
                "name": "RedFox",
                "registration_token": agents["RedFox"]["registration_token"],
            },
        )
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED: .*several agents"):
            await creator.call_tool("search_messages", query)


async def test_strict_project_operations_take_any_agent_token_of_that_project(strict):
    server = build_mcp_server()
    agents = await setup(server)
    async with session(server) as fresh:
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED: .*does not belong"):
            await fresh.call_tool(
                "archive_project",
                {"project_key": PROJECT, "registration_token": agents["GreenCastle"]["registration_token"]},
            )
        done = (
            await fresh.call_tool(
                "archive_project",
                {"project_key": PROJECT, "registration_token": agents["RedFox"]["registration_token"]},
            )
        ).data
        assert done["status"] == "archived" and done["verified"] is True
        assert (await fresh.call_tool("unarchive_project", {"project_key": PROJECT})).data["status"] == "active"


async def test_tokenless_agent_is_claimed_once_by_register(strict):
    server = build_mcp_server()
    await setup(server)
    # as after rebuilding the database from the archive
    await run_write(lambda tx: tx.execute(update(schema.agents).values(registration_token_hash=None)))
    BINDINGS.clear()
    async with session(server) as fresh:
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED: .*has no registration token yet.*register_agent"):
            await fresh.call_tool("send_message", mail())
        claimed = (
            await fresh.call_tool(
                "register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": "BlueLake"}
            )
        ).data
        token = claimed["registration_token"]
        assert claimed["created"] is False and len(token) >= 32
        assert (await fresh.call_tool("send_message", mail())).data["verified_sender"] is True
    assert (await agent_row("BlueLake"))["registration_token_hash"] == hash_token(token)
    async with session(server) as later:
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED"):
            await later.call_tool(
                "register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": "BlueLake"}
            )
        again = (
            await later.call_tool(
                "register_agent",
                {"project_key": PROJECT, "program": "p", "model": "m", "name": "BlueLake", "registration_token": token},
            )
        ).data
        assert "registration_token" not in again


async def test_whois_needs_no_token_and_nothing_reveals_one(strict, isolated_env):
    server = build_mcp_server()
    agents = await setup(server)
    tokens = [a["registration_token"] for a in agents.values()]
    secrets = tokens + [hash_token(t) for t in tokens]
    async with session(server) as c:
        await c.call_tool("send_message", mail(sender_token=tokens[0]))
    outputs = []
    async with session(server) as fresh:
        profile = await fresh.call_tool("whois", {"project_key": PROJECT, "agent_name": "RedFox"})
        assert profile.data["name"] == "RedFox"
        outputs.append(profile)
        outputs.append(
            await fresh.call_tool(
                "fetch_inbox",
                {
                    "project_key": PROJECT,
                    "agent_name": "RedFox",
                    "registration_token": tokens[1],
                    "include_bodies": True,
                },
            )
        )
        outputs.append(
            await fresh.call_tool(
                "search_messages", {"project_key": PROJECT, "query": "Hi", "registration_token": tokens[1]}
            )
        )
        outputs.append(
            await fresh.call_tool(
                "register_agent",
                {
                    "project_key": PROJECT,
                    "program": "p",
                    "model": "m",
                    "name": "RedFox",
                    "registration_token": tokens[1],
                },
            )
        )
    for result in outputs:
        dumped = json.dumps(result.structured_content) + "".join(getattr(b, "text", "") for b in result.content)
        assert "registration_token_hash" not in dumped
        assert not any(secret in dumped for secret in secrets)
    archive.flush_pending()
    storage = Path(isolated_env["storage"])
    for path in storage.rglob("*"):
        if path.is_file() and ".git" not in path.parts:
            content = path.read_text(errors="ignore")
            assert not any(secret in content for secret in secrets), path
