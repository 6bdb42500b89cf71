"""Argument and name errors through an in-memory MCP client: one coded line with a hint, and nothing changed."""

from __future__ import annotations

import logging
import re

import pytest
from fastmcp import Client
from fastmcp.exceptions import McpError, ToolError
from sqlalchemy import func, select, text

import db_kit
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.db import get_session, run_write, schema

PROJECT = "/work/validation-test"
CODED = re.compile(r"^[A-Z][A-Z_]+: .+ Hint: .+", re.DOTALL)


@pytest.fixture
async def client(isolated_env):
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        for name in ("BlueLake", "RedFox"):
            await c.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name})
        yield c


async def refusal(client: Client, tool: str, arguments: dict) -> str:
    """Call a tool that must be refused; return the error text after checking its shape."""
    with pytest.raises(ToolError) as caught:
        await client.call_tool(tool, arguments)
    text = str(caught.value)
    assert CODED.match(text), text
    assert "pydantic" not in text and "validation error" not in text and "\n" not in text, text
    return text


async def message_count() -> int:
    async with get_session() as session:
        return int((await session.execute(select(func.count()).select_from(schema.messages))).scalar_one())


def send_args(**overrides):
    args = {"project_key": PROJECT, "sender_name": "BlueLake", "to": ["RedFox"], "subject": "Hi", "body_md": "b"}
    args.update(overrides)
    return args


async def test_a_wrong_type_names_the_parameter_and_what_it_must_be(client):
    text = await refusal(client, "fetch_inbox", {"project_key": PROJECT, "agent_name": "RedFox", "limit": "lots"})
    assert text.startswith('INVALID_ARGUMENT: limit must be an integer; got "lots".')
    assert "Hint: Send limit as an integer" in text

    text = await refusal(client, "send_message", send_args(subject=["not", "text"]))
    assert text.startswith('INVALID_ARGUMENT: subject must be a string; got ["not", "text"].')

    text = await refusal(client, "send_message", send_args(to=["RedFox", 7]))
    assert text.startswith("INVALID_ARGUMENT: to[1] must be a string; got 7.")
    assert await message_count() == 0


async def test_a_missing_argument_is_named_with_what_the_tool_requires(client):
    text = await refusal(client, "fetch_inbox", {"project_key": PROJECT})
    assert text == (
        "INVALID_ARGUMENT: agent_name is required but missing. Hint: fetch_inbox requires project_key and agent_name."
    )
    text = await refusal(client, "send_message", {"project_key": PROJECT, "sender_name": "BlueLake"})
    assert text.startswith("INVALID_ARGUMENT: to, subject and body_md are required but missing.")
    assert await message_count() == 0


async def test_an_unknown_parameter_is_named_with_the_closest_real_one(client):
    text = await refusal(client, "send_message", send_args(subjet="Hi"))
    assert text.startswith("INVALID_ARGUMENT: send_message has no parameter 'subjet'. Hint: send_message takes ")
    assert text.endswith("Did you mean subject?")
    assert await message_count() == 0


async def test_several_problems_are_reported_together(client):
    text = await refusal(client, "fetch_inbox", {"limit": "lots", "bogus": 1})
    assert "limit must be an integer" in text
    assert "project_key and agent_name are required but missing." in text
    assert "fetch_inbox has no parameter 'bogus'." in text


async def test_long_values_are_shortened_in_the_message(client):
    text = await refusal(client, "fetch_inbox", {"project_key": PROJECT, "agent_name": "RedFox", "limit": "x" * 5000})
    assert "(5000 characters)" in text and len(text) < 400


async def test_an_unknown_tool_is_not_found_with_a_hint(client):
    with pytest.raises(ToolError) as caught:
        await client.call_tool("fetch_inbx", {"project_key": PROJECT})
    assert str(caught.value).startswith(
        "NOT_FOUND: no tool named 'fetch_inbx'. Hint: tools/list shows the "
        f"{len(await client.list_tools())} tools of this server. Did you mean 'fetch_inbox'"
    )


async def test_a_tool_left_out_of_the_profile_says_how_to_enable_it(isolated_env, monkeypatch):
    monkeypatch.setenv("TOOLS_PROFILE", "core")
    from mcp_agent_mail.config import clear_settings_cache

    clear_settings_cache()
    async with Client(build_mcp_server()) as c:
        assert "whois" not in {tool.name for tool in await c.list_tools()}
        with pytest.raises(ToolError) as caught:
            await c.call_tool("whois", {"project_key": PROJECT, "agent_name": "BlueLake"})
    text = str(caught.value)
    assert text.startswith("NOT_FOUND: tool 'whois' is not enabled on this server. Hint: ")
    assert "--tools" in text


async def test_an_unknown_resource_is_not_found_with_a_hint(client):
    with pytest.raises(McpError) as caught:
        await client.read_resource("resource://projekts")
    assert caught.value.error.message == (
        "NOT_FOUND: no resource at 'resource://projekts'. Hint: resources/list and resources/templates/list show "
        "the resources of this server. Did you mean 'resource://projects' or 'resource://project/{slug}'?"
    )
    assert caught.value.error.data == {"uri": "resource://projekts"}


async def test_a_client_error_in_a_resource_is_an_invalid_params_error(client):
    with pytest.raises(McpError) as caught:
        await client.read_resource(f"resource://inbox/RedFox?project={PROJECT}&limit=lots")
    assert caught.value.error.code == -32602
    assert caught.value.error.message.startswith("INVALID_ARGUMENT: limit")


async def test_an_unknown_tool_with_many_close_names_ends_its_guesses_with_an_ellipsis(client):
    with pytest.raises(ToolError) as caught:
        await client.call_tool("file_reservation", {"project_key": PROJECT})
    text = str(caught.value)
    assert text.startswith("NOT_FOUND: no tool named 'file_reservation'.")
    assert text.endswith(" or …?")
    assert text.count("Did you mean") == 1 and text.count("' or '") == 1


async def test_a_refused_resource_read_logs_one_line_without_a_traceback(client, caplog):
    uri = f"resource://inbox/RedFox?project={PROJECT}&limit=lots"
    with caplog.at_level(logging.INFO), pytest.raises(McpError):
        await client.read_resource(uri)
    records = [r for r in caplog.records if r.levelno >= logging.INFO and "resource" in r.getMessage().lower()]
    assert len(records) == 1
    assert records[0].exc_info is None
    assert "INVALID_ARGUMENT" in records[0].getMessage()


async def test_a_failing_resource_read_logs_one_error_line_without_a_traceback(client, caplog):
    await run_write(lambda tx: tx.execute(text("ALTER TABLE projects RENAME TO projects_away")))
    with caplog.at_level(logging.INFO), pytest.raises(McpError) as caught:
        await client.read_resource("resource://projects")
    error = "OperationalError" if db_kit.on_sqlite() else "ProgrammingError"  # how each driver names a missing table
    assert caught.value.error.message.startswith(f"INTERNAL_ERROR: {error}")
    records = [r for r in caplog.records if r.levelno >= logging.INFO and "resource" in r.getMessage().lower()]
    assert [r.levelno for r in records] == [logging.ERROR]
    assert "resource://projects" in records[0].getMessage() and error in records[0].getMessage()
    assert records[0].exc_info is None
