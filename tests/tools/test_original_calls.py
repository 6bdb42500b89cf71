"""Calls written the way the original project's clients make them, through an in-memory MCP client."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError
from sqlalchemy import text

from gitrepo import init_repo
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.db import get_session
from mcp_agent_mail.services.identity.auth import BINDINGS

PROJECT = "/work/original-calls"
AGENTS = ("BlueLake", "RedFox", "GreenCastle")
STRING_OR_LIST = [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]


@pytest.fixture
async def client(isolated_env):
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        for name in AGENTS:
            await c.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name})
        yield c


@pytest.fixture
async def strict(isolated_env, monkeypatch):
    """A strict-identity server and the tokens of BlueLake and RedFox, registered in another session."""
    monkeypatch.setenv("AGENT_IDENTITY_MODE", "strict")
    clear_settings_cache()
    BINDINGS.clear()
    server = build_mcp_server()
    tokens: dict[str, str] = {}
    async with Client(server, mode="legacy") as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        for name in ("BlueLake", "RedFox"):
            created = await c.call_tool(
                "create_agent_identity", {"project_key": PROJECT, "program": "p", "model": "m", "name_hint": name}
            )
            tokens[name] = created.data["registration_token"]
    yield server, tokens
    BINDINGS.clear()


def fresh(server: FastMCP) -> Client:
    """A new MCP session, bound to no agent."""
    return Client(server, mode="legacy")


async def call(client: Client, tool: str, **args):
    result = await client.call_tool(tool, {"project_key": PROJECT, **args})
    return result.structured_content["result"] if tool == "fetch_inbox" else result.data


async def send(client: Client, sender: str = "BlueLake", to=("RedFox",), **extra):
    args = {"sender_name": sender, "to": list(to) if not isinstance(to, str) else to, "subject": "s", "body_md": "b"}
    return await call(client, "send_message", **{**args, **extra})


async def counts() -> tuple[int, ...]:
    """Rows any refused call must leave as they were."""
    async with get_session() as session:
        row = (
            await session.execute(
                text(
                    "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM message_recipients), "
                    "(SELECT count(*) FROM agent_links), (SELECT count(*) FROM file_reservations)"
                )
            )
        ).one()
    return tuple(row)


async def refused(client: Client, tool: str, pattern: str, **args) -> str:
    before = await counts()
    with pytest.raises(ToolError, match=pattern) as info:
        await client.call_tool(tool, {"project_key": PROJECT, **args})
    assert await counts() == before
    return str(info.value)


# --- fetch_inbox(topic=...) --------------------------------------------------------------------------------------


async def test_fetch_inbox_topic_returns_only_that_topic(client):
    await send(client, topic="build-status", subject="green")
    await send(client, topic="Deploy", subject="shipped")
    await send(client, subject="no topic")
    build = await call(client, "fetch_inbox", agent_name="RedFox", topic="BUILD-status")
    assert [m["subject"] for m in build] == ["green"] and build[0]["topic"] == "build-status"
    assert [m["subject"] for m in await call(client, "fetch_inbox", agent_name="RedFox", topic="deploy")] == ["shipped"]
    assert len(await call(client, "fetch_inbox", agent_name="RedFox", topic="")) == 3
    assert await call(client, "fetch_inbox", agent_name="RedFox", topic="other") == []
    await refused(
        client, "fetch_inbox", r"^INVALID_ARGUMENT: topic 'no spaces!'", agent_name="RedFox", topic="no spaces!"
    )


# --- the original's token parameter names ------------------------------------------------------------------------


async def test_handshake_takes_requester_registration_token(strict):
    server, tokens = strict
    async with fresh(server) as c:
        result = await call(
            c,
            "macro_contact_handshake",
            requester="BlueLake",
            target="RedFox",
            requester_registration_token=tokens["BlueLake"],
        )
        assert result["request"]["status"] == "pending" and result["verified"] is True
    async with fresh(server) as c:
        await refused(
            c,
            "macro_contact_handshake",
            r"^UNAUTHORIZED",
            requester="RedFox",
            target="BlueLake",
            requester_registration_token=tokens["BlueLake"],
        )
        text_ = await refused(
            c,
            "macro_contact_handshake",
            r"^INVALID_ARGUMENT: requester_registration_token and registration_token are the same parameter",
            requester="RedFox",
            target="BlueLake",
            registration_token=tokens["RedFox"],
            requester_registration_token=tokens["BlueLake"],
        )
        assert "Hint: Pass only registration_token." in text_
        # The same value under both names is one proof.
        same = await call(
            c,
            "macro_contact_handshake",
            requester="RedFox",
            target="BlueLake",
            registration_token=tokens["RedFox"],
            requester_registration_token=tokens["RedFox"],
        )
        assert same["request"]["status"] == "pending"


async def test_every_original_token_name_proves_the_caller(strict):
    server, tokens = strict
    async with fresh(server) as c:
        sent = await send(c, registration_token=tokens["BlueLake"])
        assert sent["count"] == 1 and sent["verified_sender"] is True
    async with fresh(server) as c:
        inbox = await call(c, "fetch_inbox", agent_name="RedFox", sender_token=tokens["RedFox"])
        assert [m["from"] for m in inbox] == ["BlueLake"]
    async with fresh(server) as c:
        reserved = await call(
            c,
            "file_reservation_paths",
            agent_name="RedFox",
            paths=["src/**"],
            requester_registration_token=tokens["RedFox"],
        )
        assert len(reserved["granted"]) == 1
    async with fresh(server) as c:
        await refused(
            c,
            "send_message",
            r"^INVALID_ARGUMENT: registration_token and sender_token are the same parameter",
            sender_name="BlueLake",
            to=["RedFox"],
            subject="s",
            body_md="b",
            sender_token=tokens["BlueLake"],
            registration_token=tokens["RedFox"],
        )
        tools = {tool.name: tool.inputSchema["properties"] for tool in await c.list_tools()}
    # Aliases are accepted, never published.
    assert "requester_registration_token" not in tools["macro_contact_handshake"]
    assert {"agent_name", "to_agent"}.isdisjoint(tools["macro_contact_handshake"])
    assert "registration_token" not in tools["send_message"] and "sender_token" not in tools["fetch_inbox"]


async def test_handshake_names_the_agents_the_original_way(client):
    result = await call(client, "macro_contact_handshake", agent_name="BlueLake", to_agent="RedFox")
    assert result["request"]["from"] == "BlueLake" and result["request"]["to"] == "RedFox"
    await refused(
        client,
        "macro_contact_handshake",
        r"^INVALID_ARGUMENT: agent_name and requester are the same parameter",
        requester="BlueLake",
        agent_name="RedFox",
        target="GreenCastle",
    )


# --- reservation conflicts --------------------------------------------------------------------------------------


async def test_reservation_conflicts_carry_the_original_fields(client):
    held = (await call(client, "file_reservation_paths", agent_name="BlueLake", paths=["src/**"], exclusive=False))[
        "granted"
    ][0]
    await call(client, "file_reservation_paths", agent_name="GreenCastle", paths=["src/app.py"], exclusive=False)
    result = await call(client, "file_reservation_paths", agent_name="RedFox", paths=["src/app.py"])
    assert result["granted"] == []
    [conflict] = result["conflicts"]
    assert conflict["type"] == "FILE_RESERVATION_CONFLICT"
    assert conflict["surface"] == conflict["path"] == "src/app.py"
    assert conflict["holder"] == "BlueLake" and conflict["path_pattern"] == "src/**"
    assert conflict["exclusive"] is False and conflict["expires_ts"] == held["expires_ts"]
    assert (
        conflict["message"]
        == f"src/app.py is held by BlueLake (src/**) until {held['expires_ts']} and by 1 other lease."
    )
    assert [h["agent"] for h in conflict["holders"]] == ["BlueLake", "GreenCastle"]


# --- broadcast ------------------------------------------------------------------------------------------------------


async def test_broadcast_to_nobody_succeeds_with_a_notice(isolated_env):
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        await c.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": "BlueLake"})
        before = await counts()
        result = await send(c, to=[], broadcast=True)
        assert result["deliveries"] == [] and result["count"] == 0
        assert result["notices"] == [
            "Nobody in project 'work-original-calls' can receive this broadcast, so nothing was sent; other agents "
            "are retired, block all mail, or there are none yet."
        ]
        assert await counts() == before
        await c.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": "RedFox"})
        await call(c, "set_contact_policy", agent_name="RedFox", policy="contacts_only")
        one = await send(c, to=[], broadcast=True)
        assert one["count"] == 0 and "(1 agent needs request_contact first)" in one["notices"][0]


async def test_broadcast_and_to_are_mutually_exclusive(client):
    message = await refused(
        client,
        "send_message",
        r"^INVALID_ARGUMENT: broadcast=true and to are mutually exclusive",
        sender_name="BlueLake",
        to="RedFox",
        broadcast=True,
        subject="s",
        body_md="b",
    )
    assert "Hint: Pass to=[] with broadcast=true" in message


# --- refusals in the original's words ---------------------------------------------------------------------------


async def test_self_contact_is_refused_with_the_original_phrase(client):
    for tool, args in (
        ("request_contact", {"from_agent": "BlueLake", "to_agent": "bluelake"}),
        ("respond_contact", {"to_agent": "BlueLake", "from_agent": "BlueLake", "accept": True}),
        ("macro_contact_handshake", {"requester": "BlueLake", "target": "BlueLake", "auto_accept": True}),
    ):
        await refused(client, tool, r"^INVALID_ARGUMENT: .*\(self-contact\)", **args)


async def test_block_all_refuses_mail_and_answers_requests_as_refused(client):
    await call(client, "set_contact_policy", agent_name="RedFox", policy="block_all")
    await refused(
        client,
        "send_message",
        r"^CONTACT_BLOCKED: Recipient is not accepting messages from BlueLake: RedFox\. Hint: ",
        sender_name="BlueLake",
        to=["RedFox"],
        subject="s",
        body_md="b",
    )
    before = await counts()
    request = await call(client, "request_contact", from_agent="BlueLake", to_agent="RedFox", reason="hi")
    assert request["status"] == "blocked" and request["to"] == "RedFox" and "expires_ts" not in request
    assert "Recipient is not accepting messages" in request["notices"][0]
    assert "notification_message" not in request
    handshake = await call(client, "macro_contact_handshake", requester="BlueLake", target="RedFox")
    assert handshake["request"]["status"] == "blocked"
    assert await counts() == before  # no link, no intro message
    await refused(
        client,
        "macro_contact_handshake",
        r"^CONTACT_BLOCKED: Recipient is not accepting messages: RedFox",
        requester="BlueLake",
        target="RedFox",
        auto_accept=True,
    )


# --- one name as a plain string ---------------------------------------------------------------------------------


async def test_list_parameters_take_one_plain_string(client, isolated_git, isolated_env):
    tools = {tool.name: tool.inputSchema["properties"] for tool in await client.list_tools()}
    for tool, params in (
        ("send_message", ("to", "cc", "bcc", "attachment_paths")),
        ("reply_message", ("to", "cc", "bcc")),
    ):
        for param in params:
            assert tools[tool][param]["anyOf"] == STRING_OR_LIST, (tool, param)
    sent = await send(client, to="RedFox", cc="GreenCastle", bcc="bluelake")
    payload = sent["deliveries"][0]["payload"]
    assert payload["to"] == ["RedFox"] and payload["cc"] == ["GreenCastle"] and payload["bcc"] == ["BlueLake"]
    reply = await call(
        client, "reply_message", message_id=payload["id"], sender_name="RedFox", body_md="ok", to="BlueLake"
    )
    assert reply["deliveries"][0]["payload"]["to"] == ["BlueLake"]
    # A wrong element still names its position.
    await refused(
        client,
        "send_message",
        r"^INVALID_ARGUMENT: to\[1\] must be a string; got 7\.",
        sender_name="BlueLake",
        to=["RedFox", 7],
        subject="s",
        body_md="b",
    )
    repo: Path = init_repo(isolated_env["tmp_path"] / "repo", files={"notes.txt": "release notes\n"})
    await client.call_tool("ensure_project", {"human_key": str(repo)})
    for name in ("BlueLake", "RedFox"):
        await client.call_tool("register_agent", {"project_key": str(repo), "program": "p", "model": "m", "name": name})
    attached = await client.call_tool(
        "send_message",
        {
            "project_key": str(repo),
            "sender_name": "BlueLake",
            "to": "RedFox",
            "subject": "notes",
            "body_md": "see file",
            "attachment_paths": "notes.txt",
        },
    )
    [attachment] = attached.data["attachments"]
    assert attachment["bytes"] == len("release notes\n")


# --- counts in words ---------------------------------------------------------------------------------------------


async def test_one_tool_is_counted_in_the_singular(isolated_env):
    async with Client(build_mcp_server("health_check", mailbox=False)) as c:
        with pytest.raises(ToolError, match=r"tools/list shows the 1 tool of this server\."):
            await c.call_tool("health_chek", {})
