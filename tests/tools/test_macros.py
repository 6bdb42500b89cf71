"""Workflow macros through an in-memory MCP client."""

from __future__ import annotations

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from sqlalchemy import text

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.db import get_session

PROJECT = "/work/macros-test"


async def counts() -> dict[str, int]:
    async with get_session() as session:
        return {
            table: (await session.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar_one()
            for table in ("projects", "agents", "file_reservations", "messages")
        }


async def active_reservations() -> list[tuple[str, str]]:
    async with get_session() as session:
        rows = await session.execute(
            text(
                "SELECT a.name, r.path_pattern FROM file_reservations r JOIN agents a ON a.id = r.agent_id "
                "WHERE r.released_ts IS NULL ORDER BY r.id"
            )
        )
        return [tuple(row) for row in rows]


@pytest.fixture
async def client(isolated_env):
    async with Client(build_mcp_server()) as c:
        yield c


async def start(c: Client, **args) -> dict:
    payload = {"human_key": PROJECT, "program": "claude-code", "model": "opus", **args}
    return (await c.call_tool("macro_start_session", payload)).data


async def send(c: Client, sender: str, to: list[str], subject: str, body: str, thread_id: str | None = None) -> dict:
    args = {"project_key": PROJECT, "sender_name": sender, "to": to, "subject": subject, "body_md": body}
    if thread_id:
        args["thread_id"] = thread_id
    return (await c.call_tool("send_message", args)).data


# ---------------------------------------------------------------------------
# macro_start_session


async def test_start_session_creates_project_agent_reservations_and_reads_inbox(client):
    result = await start(
        client,
        agent_name="BlueLake",
        task_description="parser",
        file_reservation_paths=["src/**", "README.md"],
        file_reservation_reason="parser work",
    )
    assert result["project"]["human_key"] == PROJECT
    agent = result["agent"]
    assert agent["name"] == "BlueLake" and agent["task_description"] == "parser"
    assert len(result["registration_token"]) >= 32 and agent["registration_token"] == result["registration_token"]
    granted = result["file_reservations"]["granted"]
    assert [g["path_pattern"] for g in granted] == ["src/**", "README.md"]
    assert {g["reason"] for g in granted} == {"parser work"} and all(g["exclusive"] for g in granted)
    assert result["file_reservations"]["conflicts"] == []
    assert result["inbox"] == []


async def test_start_session_again_keeps_task_reports_conflicts_and_shows_mail(client):
    await start(client, agent_name="BlueLake", task_description="parser", file_reservation_paths=["src/**"])
    await start(client, agent_name="RedFox")
    await send(client, "RedFox", ["BlueLake"], "Hello", "Welcome aboard")

    again = await start(client, agent_name="bluelake")
    assert again["agent"]["name"] == "BlueLake" and again["agent"]["task_description"] == "parser"
    assert "registration_token" not in again and "registration_token" not in again["agent"]
    assert [m["subject"] for m in again["inbox"]] == ["Hello"] and "body_md" not in again["inbox"][0]
    assert again["file_reservations"] == {"granted": [], "conflicts": []}

    red = await start(client, agent_name="RedFox", file_reservation_paths=["src/app.py", "docs/x.md"])
    assert [g["path_pattern"] for g in red["file_reservations"]["granted"]] == ["docs/x.md"]
    conflict = red["file_reservations"]["conflicts"][0]
    assert conflict["path"] == "src/app.py" and conflict["holders"][0]["agent"] == "BlueLake"


async def test_start_session_without_name_generates_one(client):
    result = await start(client)
    assert result["agent"]["name"][0].isupper() and result["registration_token"]


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        ({"human_key": "relative/path"}, r"^INVALID_ARGUMENT: .*absolute"),
        ({"file_reservation_paths": ["/etc/passwd"]}, r"^INVALID_ARGUMENT: path pattern '/etc/passwd'"),
        ({"file_reservation_paths": []}, r"^INVALID_ARGUMENT: paths is empty \(EMPTY_PATHS\)"),
        ({"file_reservation_paths": ["src/**"], "file_reservation_ttl_seconds": 5}, r"^INVALID_ARGUMENT: ttl_seconds"),
        ({"inbox_limit": 0}, r"^INVALID_ARGUMENT: inbox_limit"),
        ({"agent_name": "x"}, r"^INVALID_ARGUMENT: agent_name 'x' is not a valid agent name"),
        ({"program": " "}, r"^INVALID_ARGUMENT: program is empty"),
        ({"human_key": "/YOUR_PROJECT"}, r"^CONFIGURATION_ERROR"),
    ],
)
async def test_start_session_bad_input_changes_nothing(client, args, pattern):
    with pytest.raises(ToolError, match=pattern):
        await start(client, **{"agent_name": "BlueLake", **args})
    assert await counts() == {"projects": 0, "agents": 0, "file_reservations": 0, "messages": 0}


async def test_start_session_refuses_archived_project_before_writing(client):
    await start(client, agent_name="BlueLake")
    async with get_session() as session:
        await session.execute(text("UPDATE projects SET archived_at = '2026-01-01 00:00:00.000000'"))
        await session.commit()
    with pytest.raises(ToolError, match=r"^PROJECT_ARCHIVED"):
        await start(client, agent_name="RedFox", file_reservation_paths=["src/**"])
    assert (await counts())["agents"] == 1 and await active_reservations() == []


# ---------------------------------------------------------------------------
# macro_prepare_thread


async def prepare(c: Client, **args) -> dict:
    payload = {"project_key": PROJECT, "thread_id": "FEAT-1", "program": "codex", "model": "gpt", **args}
    return (await c.call_tool("macro_prepare_thread", payload)).data


async def test_prepare_thread_summarises_what_the_agent_can_see(client):
    await start(client, agent_name="BlueLake")
    await start(client, agent_name="RedFox")
    await send(
        client,
        "BlueLake",
        ["RedFox"],
        "Parser plan",
        "We decided to use pathspec.\n\n- [ ] @RedFox please write tests for src/parser.py",
        thread_id="FEAT-1",
    )
    await send(client, "RedFox", ["BlueLake"], "Re: Parser plan", "On it.", thread_id="FEAT-1")
    await send(client, "BlueLake", ["RedFox"], "Other", "unrelated", thread_id="FEAT-2")

    result = await prepare(client, agent_name="RedFox", task_description="tests")
    assert result["agent"]["name"] == "RedFox" and result["agent"]["task_description"] == "tests"
    thread = result["thread"]
    assert thread["thread_id"] == "FEAT-1" and thread["total_messages"] == 2
    summary = thread["summary"]
    assert summary["participants"] == ["BlueLake", "RedFox"]
    assert any("pathspec" in d["text"] for d in summary["decisions"])
    assert any("write tests" in a["text"] for a in summary["action_items"])
    assert [e["subject"] for e in thread["examples"]] == ["Parser plan", "Re: Parser plan"]
    assert [m["subject"] for m in result["inbox"]] == ["Other", "Parser plan"]
    assert "body_md" not in result["inbox"][0]

    with_bodies = await prepare(
        client, agent_name="RedFox", include_inbox_bodies=True, include_examples=False, inbox_limit=1
    )
    assert [m["body_md"] for m in with_bodies["inbox"]] == ["unrelated"]
    assert "examples" not in with_bodies["thread"]


async def test_prepare_thread_new_agent_sees_nothing_of_others_thread(client):
    await start(client, agent_name="BlueLake")
    await start(client, agent_name="RedFox")
    await send(client, "BlueLake", ["RedFox"], "Secret", "private", thread_id="FEAT-1")
    result = await prepare(client)  # registers a new agent
    assert result["registration_token"] and result["agent"]["name"] not in ("BlueLake", "RedFox")
    # empty fields are omitted from results
    assert result["thread"]["total_messages"] == 0 and result["thread"]["summary"].get("participants", []) == []
    assert result["thread"].get("examples", []) == [] and result["inbox"] == []


@pytest.mark.parametrize(
    ("args", "pattern"),
    [
        ({"project_key": "/work/unknown"}, r"^NOT_FOUND: Project"),
        ({"thread_id": "bad id!"}, r"^INVALID_ARGUMENT: thread_id"),
        ({"register_if_missing": False, "agent_name": None}, r"^INVALID_ARGUMENT: agent_name is required"),
        ({"register_if_missing": False, "agent_name": "GreenCastle"}, r"^NOT_FOUND: Agent 'GreenCastle'"),
        ({"inbox_limit": -1}, r"^INVALID_ARGUMENT: inbox_limit"),
        ({"model": ""}, r"^INVALID_ARGUMENT: model is empty"),
    ],
)
async def test_prepare_thread_bad_input_changes_nothing(client, args, pattern):
    await start(client, agent_name="BlueLake")
    before = await counts()
    with pytest.raises(ToolError, match=pattern):
        await prepare(client, **{"agent_name": "RedFox", **args})
    assert await counts() == before


# ---------------------------------------------------------------------------
# macro_file_reservation_cycle


async def cycle(c: Client, agent: str, paths: list[str], **extra) -> dict:
    args = {"project_key": PROJECT, "agent_name": agent, "paths": paths, **extra}
    return (await c.call_tool("macro_file_reservation_cycle", args)).data


async def test_cycle_reserves_and_optionally_releases(client):
    await start(client, agent_name="BlueLake")
    await start(client, agent_name="RedFox")
    kept = await cycle(client, "BlueLake", ["src/**"])
    assert "released" not in kept  # null fields are omitted
    assert kept["file_reservations"]["granted"][0]["reason"] == "macro-file_reservation"
    assert await active_reservations() == [("BlueLake", "src/**")]

    quick = await cycle(client, "RedFox", ["docs/a.md", "src/b.py"], auto_release=True, exclusive=False)
    assert [g["path_pattern"] for g in quick["file_reservations"]["granted"]] == ["docs/a.md"]
    assert quick["file_reservations"]["conflicts"][0]["path"] == "src/b.py"
    assert quick["released"]["released"] == 1
    assert await active_reservations() == [("BlueLake", "src/**")]

    nothing = await cycle(client, "RedFox", ["src/c.py"], auto_release=True)
    assert nothing["file_reservations"]["granted"] == [] and nothing["released"] == {"released": 0}


async def test_cycle_bad_input_changes_nothing(client):
    await start(client, agent_name="BlueLake")
    with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: paths is empty"):
        await cycle(client, "BlueLake", [], auto_release=True)
    with pytest.raises(ToolError, match=r"^NOT_FOUND: Agent 'Nobody'"):
        await cycle(client, "Nobody", ["src/**"])
    assert await active_reservations() == []


# ---------------------------------------------------------------------------
# Identity


@pytest.fixture
def strict(isolated_env, monkeypatch):
    monkeypatch.setenv("AGENT_IDENTITY_MODE", "strict")
    clear_settings_cache()


async def test_strict_mode_needs_the_token(strict):
    async with Client(build_mcp_server()) as c:
        created = await start(c, agent_name="BlueLake")  # creating a new agent needs no proof
        token = created["registration_token"]
        assert created["verified"] is True
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED"):
            await cycle(c, "BlueLake", ["src/**"])
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED"):
            await prepare(c, agent_name="BlueLake", register_if_missing=False)
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED"):
            await prepare(c, agent_name="BlueLake")
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED"):
            await start(c, agent_name="BlueLake", file_reservation_paths=["docs/**"])
        with pytest.raises(ToolError, match=r"^UNAUTHORIZED: Invalid registration_token"):
            await start(c, agent_name="BlueLake", registration_token="wrong")
        assert await active_reservations() == [] and (await counts())["agents"] == 1

        proved = await start(c, agent_name="BlueLake", registration_token=token, file_reservation_paths=["docs/**"])
        assert proved["verified"] is True and proved["file_reservations"]["granted"]
        ready = await prepare(c, agent_name="BlueLake", register_if_missing=False, registration_token=token)
        assert ready["verified"] is True
        done = await cycle(c, "BlueLake", ["src/**"], registration_token=token, auto_release=True)
        assert done["verified"] is True and done["released"]["released"] == 1


async def test_trusted_mode_reports_unverified_names(client):
    await start(client, agent_name="BlueLake")
    result = await prepare(client, agent_name="BlueLake", register_if_missing=False)
    assert result["verified"] is False
    assert (await cycle(client, "BlueLake", ["src/**"]))["verified"] is False


async def test_tools_are_listed_with_truthful_annotations(client):
    tools = {tool.name: tool for tool in await client.list_tools()}
    mine = (
        "macro_start_session",
        "macro_prepare_thread",
        "macro_file_reservation_cycle",
        "force_release_file_reservation",
    )
    hints = {
        name: (
            tools[name].annotations.readOnlyHint,
            tools[name].annotations.destructiveHint,
            tools[name].annotations.openWorldHint,
        )
        for name in mine
    }
    assert hints == {
        "macro_start_session": (False, False, False),
        "macro_prepare_thread": (False, False, True),
        "macro_file_reservation_cycle": (False, False, False),
        "force_release_file_reservation": (False, True, False),
    }
    assert "registration_token" in tools["macro_file_reservation_cycle"].inputSchema["properties"]
    assert "registration_token" in tools["force_release_file_reservation"].inputSchema["properties"]
