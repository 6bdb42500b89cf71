"""Contacts and contact policies through an in-memory MCP client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from sqlalchemy import update

from db_kit import count, rows
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.db import run_write, schema
from mcp_agent_mail.timeutil import utcnow

PROJECT = "/work/contacts-test"
AGENTS = ("BlueLake", "RedFox", "GreenCastle")


@pytest.fixture
async def client(isolated_env):
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        for name in AGENTS:
            await c.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name})
        yield c


async def call(client, tool: str, **args):
    result = await client.call_tool(tool, {"project_key": PROJECT, **args})
    return result.structured_content["result"] if tool == "list_contacts" else result.data


async def send(client, sender="BlueLake", to=("RedFox",), **extra):
    return await call(client, "send_message", sender_name=sender, to=list(to), subject="s", body_md="b", **extra)


async def policy(client, agent: str, value: str) -> None:
    await call(client, "set_contact_policy", agent_name=agent, policy=value)


async def retire(name: str) -> None:
    a = schema.agents
    await run_write(lambda tx: tx.execute(update(a).where(a.c.name == name).values(retired_at=utcnow())))


async def snapshot() -> tuple[object, ...]:
    """What a refused call must leave alone: the mail and every contact link with its status and expiry."""
    return count("messages"), count("message_recipients"), rows("agent_links", "status", "expires_ts")


async def refused(client, tool: str, pattern: str, **args) -> str:
    before = await snapshot()
    with pytest.raises(ToolError, match=pattern) as info:
        await client.call_tool(tool, {"project_key": PROJECT, **args})
    assert await snapshot() == before
    return str(info.value)


async def test_request_approve_and_list_both_directions(client):
    await policy(client, "RedFox", "contacts_only")
    hint = await refused(
        client,
        "send_message",
        r"^CONTACT_REQUIRED: Contact approval required",
        sender_name="BlueLake",
        to=["RedFox"],
        subject="s",
        body_md="b",
    )
    assert f"request_contact(project_key='{PROJECT}', from_agent='BlueLake', to_agent='RedFox'" in hint

    request = await call(client, "request_contact", from_agent="BlueLake", to_agent="red-fox", reason="Review PR")
    assert request["status"] == "pending" and request["to"] == "RedFox" and request["to_project"] == PROJECT
    intro = request["notification_message"]
    assert intro["ack_required"] is True and intro["to"] == ["RedFox"] and "Review PR" in intro["body_md"]
    assert "respond_contact(" in intro["body_md"]
    inbox = await client.call_tool("fetch_inbox", {"project_key": PROJECT, "agent_name": "RedFox"})
    assert [m["subject"] for m in inbox.structured_content["result"]] == ["Contact request from BlueLake"]

    # Asking again while pending refreshes the link but sends no second intro.
    again = await call(client, "request_contact", from_agent="BlueLake", to_agent="RedFox", reason="still")
    assert again["status"] == "pending" and "notification_message" not in again

    incoming = await call(client, "list_contacts", agent_name="RedFox")
    assert [(e["direction"], e["from"], e["status"], e["reason"]) for e in incoming] == [
        ("incoming", "BlueLake", "pending", "still")
    ]
    assert incoming[0]["allows_messaging"] is False and incoming[0]["is_expired"] is False

    answer = await call(client, "respond_contact", to_agent="RedFox", from_agent="BlueLake", accept=True)
    assert answer["approved"] is True and answer["status"] == "approved" and answer["updated"] == 1
    assert answer["expires_ts"].endswith("+00:00")
    outgoing = await call(client, "list_contacts", agent_name="BlueLake")
    assert [(e["direction"], e["to"], e["status"], e["allows_messaging"]) for e in outgoing] == [
        ("outgoing", "RedFox", "approved", True)
    ]
    assert (await send(client))["count"] == 1
    # Approval is one-way: RedFox is not a contact of GreenCastle's.
    await policy(client, "GreenCastle", "contacts_only")
    await refused(
        client, "send_message", r"^CONTACT_REQUIRED", sender_name="RedFox", to=["GreenCastle"], subject="s", body_md="b"
    )


async def test_denied_requester_is_blocked_and_cannot_ask_again(client):
    await call(client, "request_contact", from_agent="BlueLake", to_agent="RedFox")
    denied = await call(client, "respond_contact", to_agent="RedFox", from_agent="BlueLake", accept=False)
    assert denied["status"] == "blocked" and denied["approved"] is False and "expires_ts" not in denied
    await refused(
        client, "request_contact", r"^CONTACT_BLOCKED: RedFox declined", from_agent="BlueLake", to_agent="RedFox"
    )
    # The block holds even though the policy is auto (and would be open).
    await policy(client, "RedFox", "open")
    await refused(
        client,
        "send_message",
        r"^CONTACT_BLOCKED: .*RedFox",
        sender_name="BlueLake",
        to=["RedFox"],
        subject="s",
        body_md="b",
    )
    # The target can change its mind.
    await call(client, "respond_contact", to_agent="RedFox", from_agent="BlueLake", accept=True)
    assert (await send(client))["count"] == 1
    # Denying without any request changes nothing.
    nothing = await call(client, "respond_contact", to_agent="RedFox", from_agent="GreenCastle", accept=False)
    assert nothing["updated"] == 0 and nothing["status"] == "none"


async def test_expired_links_count_as_absent(client):
    await policy(client, "RedFox", "contacts_only")
    await call(client, "request_contact", from_agent="BlueLake", to_agent="RedFox")
    await call(client, "respond_contact", to_agent="RedFox", from_agent="BlueLake", accept=True, ttl_seconds=60)
    assert (await send(client))["count"] == 1
    expire = update(schema.agent_links).values(expires_ts=utcnow() - timedelta(seconds=1))
    await run_write(lambda tx: tx.execute(expire))
    await refused(
        client, "send_message", r"^CONTACT_REQUIRED", sender_name="BlueLake", to=["RedFox"], subject="s", body_md="b"
    )
    listed = await call(client, "list_contacts", agent_name="BlueLake")
    assert listed[0]["is_expired"] is True and listed[0]["allows_messaging"] is False
    # An expired link is a fresh start: a new request sends a new intro.
    renewed = await call(client, "request_contact", from_agent="BlueLake", to_agent="RedFox")
    assert renewed["status"] == "pending" and "notification_message" in renewed


async def test_contact_request_refusals(client):
    await refused(
        client,
        "request_contact",
        r"^INVALID_ARGUMENT: An agent cannot request contact with itself",
        from_agent="BlueLake",
        to_agent="blue lake",
    )
    await refused(
        client, "request_contact", r"^NOT_FOUND: Agent 'Nobody-1'", from_agent="BlueLake", to_agent="Nobody-1"
    )
    await refused(
        client,
        "request_contact",
        r"^INVALID_ARGUMENT: ttl_seconds",
        from_agent="BlueLake",
        to_agent="RedFox",
        ttl_seconds=0,
    )
    await refused(
        client,
        "request_contact",
        r"^INVALID_ARGUMENT: reason",
        from_agent="BlueLake",
        to_agent="RedFox",
        reason="x" * 513,
    )
    await retire("GreenCastle")
    await refused(client, "request_contact", r"^AGENT_RETIRED", from_agent="BlueLake", to_agent="GreenCastle")
    short = await call(client, "request_contact", from_agent="RedFox", to_agent="BlueLake", ttl_seconds=5)
    assert "raised to the minimum" in short["notices"][0]


async def test_each_policy_on_send(client):
    # auto (default): agents of one project may write to each other.
    assert (await send(client))["count"] == 1
    await policy(client, "RedFox", "open")
    assert (await send(client))["count"] == 1
    await policy(client, "RedFox", "contacts_only")
    await refused(
        client, "send_message", r"^CONTACT_REQUIRED", sender_name="BlueLake", to=["RedFox"], subject="s", body_md="b"
    )
    # Writing to oneself needs no contact; block_all refuses everyone.
    await policy(client, "BlueLake", "contacts_only")
    assert (await send(client, to=["BlueLake"]))["count"] == 1
    await policy(client, "BlueLake", "block_all")
    await refused(
        client,
        "send_message",
        r"^CONTACT_BLOCKED: Recipient is not accepting messages from RedFox: BlueLake",
        sender_name="RedFox",
        to=["BlueLake"],
        subject="s",
        body_md="b",
    )


@pytest.mark.parametrize("spelling", [" redfox", "Red-Fox", "REDFOX", "red_fox ", "Red Fox"])
async def test_spelling_variants_cannot_bypass_a_policy(client, spelling):
    await policy(client, "RedFox", "contacts_only")
    await refused(
        client,
        "send_message",
        r"^CONTACT_REQUIRED: .*RedFox",
        sender_name="BlueLake",
        to=[spelling],
        subject="s",
        body_md="b",
    )
    await policy(client, "RedFox", "block_all")
    await refused(
        client,
        "send_message",
        r"^CONTACT_BLOCKED",
        sender_name="BlueLake",
        to=["GreenCastle"],
        cc=[spelling],
        subject="s",
        body_md="b",
    )


async def test_block_all_thread_participant_and_retired_recipient_stay_blocked(client):
    first = (await send(client, thread_id="T-1"))["deliveries"][0]["payload"]
    reply = await call(client, "reply_message", message_id=first["id"], sender_name="RedFox", body_md="ok")
    assert reply["thread_id"] == "T-1"
    await policy(client, "RedFox", "block_all")
    await refused(
        client,
        "send_message",
        r"^CONTACT_BLOCKED",
        sender_name="BlueLake",
        to=["RedFox"],
        subject="s",
        body_md="b",
        thread_id="T-1",
    )
    await refused(
        client,
        "reply_message",
        r"^CONTACT_BLOCKED",
        message_id=reply["deliveries"][0]["payload"]["id"],
        sender_name="BlueLake",
        body_md="still there?",
    )
    await retire("RedFox")
    await refused(
        client,
        "reply_message",
        r"^AGENT_RETIRED",
        message_id=reply["deliveries"][0]["payload"]["id"],
        sender_name="BlueLake",
        body_md="hello?",
    )


async def test_contacts_only_is_strict_for_replies(client):
    await policy(client, "BlueLake", "contacts_only")
    mid = (await send(client))["deliveries"][0]["payload"]["id"]
    await refused(client, "reply_message", r"^CONTACT_REQUIRED", message_id=mid, sender_name="RedFox", body_md="r")
    await call(client, "respond_contact", to_agent="BlueLake", from_agent="RedFox", accept=True)
    assert (await call(client, "reply_message", message_id=mid, sender_name="RedFox", body_md="r"))["count"] == 1


@pytest.fixture
def strict_auto(monkeypatch):
    """Make ``auto`` rely only on its evidence rules (no blanket same-project allowance)."""
    monkeypatch.setenv("CONTACT_AUTO_ALLOW_SAME_PROJECT", "false")
    clear_settings_cache()


async def age_messages() -> None:
    """Move every message two days into the past (beyond CONTACT_AUTO_TTL_SECONDS)."""
    aged = update(schema.messages).values(created_ts=utcnow() - timedelta(days=2))
    await run_write(lambda tx: tx.execute(aged))


async def test_auto_rules_without_same_project_allowance(client, strict_auto):
    base = {"sender_name": "BlueLake", "to": ["RedFox"], "subject": "s", "body_md": "b"}
    await refused(client, "send_message", r"^CONTACT_REQUIRED", **base)
    # Overlapping active file reservations let the pair talk.
    for agent, pattern in (("BlueLake", "src/**"), ("RedFox", "src/app.py")):
        await call(client, "file_reservation_paths", agent_name=agent, paths=[pattern], exclusive=False)
    assert (await send(client))["count"] == 1
    await call(client, "release_file_reservations", agent_name="BlueLake")
    # Recent mail between the pair (either direction) counts, both ways.
    assert (await send(client, sender="RedFox", to=["BlueLake"]))["count"] == 1
    await age_messages()
    await refused(client, "send_message", r"^CONTACT_REQUIRED", **base)
    # Having exchanged mail in the thread allows further mail in that thread only.
    await run_write(lambda tx: tx.execute(update(schema.messages).values(thread_id="T-9")))
    assert (await send(client, thread_id="T-9"))["count"] == 1
    await age_messages()
    await refused(client, "send_message", r"^CONTACT_REQUIRED", **base, thread_id="T-10")
    # GreenCastle never talked to RedFox: the thread does not help it.
    await refused(
        client, "send_message", r"^CONTACT_REQUIRED", **{**base, "sender_name": "GreenCastle"}, thread_id="T-9"
    )


async def test_auto_contact_if_blocked_sends_requests_and_still_fails(client):
    await policy(client, "RedFox", "contacts_only")
    await policy(client, "GreenCastle", "contacts_only")
    with pytest.raises(ToolError, match=r"^CONTACT_REQUIRED: .*Contact requests were sent to RedFox, GreenCastle"):
        await send(client, to=["RedFox", "GreenCastle"], auto_contact_if_blocked=True)
    assert rows("messages", "subject") == [("Contact request from BlueLake",)] * 2
    statuses = {e["to"]: e["status"] for e in await call(client, "list_contacts", agent_name="BlueLake")}
    assert statuses == {"RedFox": "pending", "GreenCastle": "pending"}


async def test_broadcast_skips_refusing_agents(client):
    await call(client, "register_agent", name="GoldHawk", program="p", model="m")
    await call(client, "register_agent", name="SilverOwl", program="p", model="m")
    await policy(client, "RedFox", "contacts_only")
    await policy(client, "GreenCastle", "block_all")
    await retire("SilverOwl")
    result = await call(
        client, "send_message", sender_name="BlueLake", to=[], broadcast=True, subject="all hands", body_md="b"
    )
    assert result["deliveries"][0]["payload"]["to"] == ["GoldHawk"]
    assert result["skipped"] == [{"name": "RedFox", "reason": "CONTACT_REQUIRED"}]
    await refused(
        client,
        "send_message",
        r"^INVALID_ARGUMENT: broadcast=true and to are mutually exclusive",
        sender_name="BlueLake",
        to=["RedFox"],
        broadcast=True,
        subject="s",
        body_md="b",
    )
    # Nobody left who may receive it: a success that delivers nothing and says why.
    await policy(client, "GoldHawk", "contacts_only")
    before = await snapshot()
    empty = await call(client, "send_message", sender_name="BlueLake", to=[], broadcast=True, subject="s", body_md="b")
    assert empty["deliveries"] == [] and empty["count"] == 0
    assert empty["skipped"] == [
        {"name": "GoldHawk", "reason": "CONTACT_REQUIRED"},
        {"name": "RedFox", "reason": "CONTACT_REQUIRED"},
    ]
    assert "Nobody in project" in empty["notices"][0] and "2 agents need request_contact" in empty["notices"][0]
    assert await snapshot() == before


async def test_handshake_auto_accept_with_welcome(client):
    await policy(client, "RedFox", "contacts_only")
    await refused(
        client,
        "macro_contact_handshake",
        r"^INVALID_ARGUMENT: welcome_subject and welcome_body",
        requester="BlueLake",
        target="RedFox",
        auto_accept=True,
        welcome_subject="hi",
    )
    await refused(
        client,
        "macro_contact_handshake",
        r"^INVALID_ARGUMENT: A welcome message needs auto_accept",
        requester="BlueLake",
        target="RedFox",
        welcome_subject="hi",
        welcome_body="there",
    )
    done = await call(
        client,
        "macro_contact_handshake",
        agent_name="BlueLake",
        to_agent="RedFox",
        auto_accept=True,
        welcome_subject="Hello",
        welcome_body="Let's pair.",
        thread_id="PAIR-1",
    )
    assert done["request"]["status"] == "approved" and done["response"]["to"] == "RedFox"
    welcome = done["welcome_message"]["deliveries"][0]["payload"]
    assert welcome["thread_id"] == "PAIR-1" and welcome["to"] == ["RedFox"]
    assert (await send(client))["count"] == 1
    plain = await call(client, "macro_contact_handshake", requester="GreenCastle", target="RedFox", reason="hi")
    assert plain["request"]["status"] == "pending" and "response" not in plain


async def test_handshake_auto_accept_needs_target_token_in_strict_mode(isolated_env, monkeypatch):
    tokens = {}
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        for name in ("BlueLake", "RedFox"):
            agent = await c.call_tool(
                "register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name}
            )
            tokens[name] = agent.data["registration_token"]
    monkeypatch.setenv("AGENT_IDENTITY_MODE", "strict")
    clear_settings_cache()
    async with Client(build_mcp_server()) as c:  # a new session, bound to neither agent
        args = {
            "project_key": PROJECT,
            "requester": "BlueLake",
            "target": "RedFox",
            "auto_accept": True,
            "registration_token": tokens["BlueLake"],
        }
        before = await snapshot()
        for wrong in ({}, {"target_registration_token": "wrong"}):
            with pytest.raises(ToolError, match=r"^UNAUTHORIZED: .*'RedFox'"):
                await c.call_tool("macro_contact_handshake", {**args, **wrong})
        assert await snapshot() == before
        done = await c.call_tool("macro_contact_handshake", {**args, "target_registration_token": tokens["RedFox"]})
        assert done.data["response"]["status"] == "approved"
