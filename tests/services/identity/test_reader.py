"""Who reads a message or thread: the agent named, the one a token proves, or the one the session is bound to."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.errors import NotFoundError, UnauthorizedError
from mcp_agent_mail.services.identity.agents import create_agent_identity
from mcp_agent_mail.services.identity.auth import BINDINGS
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.identity.reader import find_reader

PROJECT = "/work/reader-service"
ACTION = "Reading thread/{thread_id}"


@pytest.fixture
def bindings() -> Iterator[None]:
    BINDINGS.clear()
    yield
    BINDINGS.clear()


@pytest.fixture
async def tokens(isolated_env, bindings) -> dict[str, str]:
    """A project with BlueLake and RedFox, created without a session; returns their registration tokens."""
    await ensure_project(PROJECT)
    made = {}
    for name in ("BlueLake", "RedFox"):
        made[name] = (await create_agent_identity(PROJECT, "p", "m", name_hint=name))["registration_token"]
    return made


async def test_a_named_agent_reads_as_itself(tokens):
    project, reader = await find_reader(PROJECT, " redfox ", None, None, action=ACTION)
    assert project["human_key"] == PROJECT and reader is not None and reader["name"] == "RedFox"


async def test_a_token_alone_names_the_reader(tokens):
    _project, reader = await find_reader(PROJECT, None, tokens["BlueLake"], None, action=ACTION)
    assert reader is not None and reader["name"] == "BlueLake"


async def test_a_session_bound_to_one_agent_reads_as_it(tokens):
    await create_agent_identity(PROJECT, "p", "m", name_hint="GreenCastle", session_key="session:a")
    _project, reader = await find_reader(PROJECT, None, None, "session:a", action=ACTION)
    assert reader is not None and reader["name"] == "GreenCastle"


async def test_nobody_named_and_no_binding_leaves_the_reader_unknown(tokens):
    project, reader = await find_reader(PROJECT, "  ", None, "session:unbound", action=ACTION)
    assert project["human_key"] == PROJECT and reader is None


async def test_an_unknown_reader_is_not_found(tokens):
    with pytest.raises(NotFoundError, match="Agent 'Nobody' not found"):
        await find_reader(PROJECT, "Nobody", None, None, action=ACTION)


async def test_strict_mode_needs_proof_of_the_named_reader(tokens, monkeypatch):
    monkeypatch.setenv("AGENT_IDENTITY_MODE", "strict")
    clear_settings_cache()
    with pytest.raises(UnauthorizedError, match=r"^Reading thread"):
        await find_reader(PROJECT, "RedFox", None, None, action=ACTION)
    _project, reader = await find_reader(PROJECT, "RedFox", tokens["RedFox"], None, action=ACTION)
    assert reader is not None and reader["name"] == "RedFox"
