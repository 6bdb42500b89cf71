"""Project and agent in one statement, and the rows a tool call's identity check lends its own reads."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastmcp import Client
from sqlalchemy import event

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import run_read, run_write
from mcp_agent_mail.db.engine import _get_read_engine, _get_write_engine
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.project_agent import project_and_agent, remembered
from mcp_agent_mail.services.identity.projects import ensure_project

PROJECT = "/work/project-agent"


@pytest.fixture
async def agents(isolated_env) -> None:
    await ensure_project(PROJECT)
    for name in ("BlueLake", "RedFox"):
        await register_agent(PROJECT, "codex", "gpt-5", name=name)


@pytest.fixture
def lookups() -> Iterator[list[str]]:
    """The statements reading a project with its agents, as ``read`` or ``write`` (the engine that sent them)."""
    sent: list[str] = []

    def recorder(kind: str) -> Callable[..., None]:
        def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
            flat = " ".join(statement.split()).upper()
            if flat.startswith("SELECT PROJECTS.") and " JOIN AGENTS " in flat:
                sent.append(kind)

        return record

    listeners = [
        (_get_read_engine(get_settings()), recorder("read")),
        (_get_write_engine(get_settings()), recorder("write")),
    ]
    for engine, listener in listeners:
        event.listen(engine, "before_cursor_execute", listener)
    yield sent
    for engine, listener in listeners:
        event.remove(engine, "before_cursor_execute", listener)


FAKE_PROJECT = {"id": -1, "slug": "remembered"}
FAKE_AGENT = {"id": -2, "name": "Remembered"}


async def test_a_read_in_a_remembered_context_takes_the_rows_without_a_statement(agents, lookups):
    with remembered(PROJECT, "BlueLake", FAKE_PROJECT, FAKE_AGENT):
        same = await run_read(lambda session: project_and_agent(session, PROJECT, "BlueLake"))
        other_agent = await run_read(lambda session: project_and_agent(session, PROJECT, "RedFox"))
        spelled_otherwise = await run_read(lambda session: project_and_agent(session, PROJECT, "bluelake"))
    assert same == (FAKE_PROJECT, FAKE_AGENT)
    assert other_agent[1]["name"] == "RedFox"
    assert spelled_otherwise[1]["name"] == "BlueLake"  # only the exact keys the check used are lent
    assert lookups == ["read", "read"]


async def test_writes_and_reads_outside_the_context_look_up(agents, lookups):
    with remembered(PROJECT, "BlueLake", FAKE_PROJECT, FAKE_AGENT):
        written = await run_write(lambda session: project_and_agent(session, PROJECT, "BlueLake"))
    after = await run_read(lambda session: project_and_agent(session, PROJECT, "BlueLake"))
    assert written[1]["name"] == after[1]["name"] == "BlueLake"
    assert lookups == ["write", "read"]


async def test_a_read_only_tool_reads_its_callers_rows_once(agents, lookups):
    async with Client(build_mcp_server()) as client:
        await client.call_tool("send_message", {"project_key": PROJECT, "sender_name": "RedFox", "to": ["BlueLake"],
                                                "subject": "Hi", "body_md": "b"})  # fmt: skip
        lookups.clear()
        inbox = await client.call_tool("fetch_inbox", {"project_key": PROJECT, "agent_name": "BlueLake"})
        assert lookups == ["read"]  # the identity check's; fetch_inbox reuses its rows
        assert [message["subject"] for message in inbox.structured_content["result"]] == ["Hi"]
        lookups.clear()
        await client.call_tool("send_message", {"project_key": PROJECT, "sender_name": "BlueLake", "to": ["RedFox"],
                                                "subject": "Re", "body_md": "b"})  # fmt: skip
        assert lookups == ["read", "write"]  # a write looks its sender up again inside its transaction
