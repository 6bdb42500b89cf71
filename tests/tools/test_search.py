"""search_messages through an in-memory MCP client: query syntax, robustness and scope."""

from __future__ import annotations

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from mcp_agent_mail.app import build_mcp_server

PROJECT = "/work/search-test"
OTHER = "/work/search-other"


@pytest.fixture
async def client(isolated_env):
    async with Client(build_mcp_server()) as c:
        for key in (PROJECT, OTHER):
            await c.call_tool("ensure_project", {"human_key": key})
            for name in ("BlueLake", "RedFox", "GreenCastle"):
                await c.call_tool("register_agent", {"project_key": key, "program": "p", "model": "m", "name": name})
        mails = [
            ("[DR-TEST] Initial planning", "Starting the disaster recovery test.", ["RedFox"], None),
            ("Ticket POL-358 migration", "The item database migration is blocked.", ["RedFox"], None),
            ("Lunch", "Pizza or pasta? the quick brown fox", ["GreenCastle"], None),
            ("Secret plan", "Only for the hidden reader: payroll numbers.", ["RedFox"], ["GreenCastle"]),
            ("Refactor parser", "parsing tokens; refactoring the lexer", ["GreenCastle"], None),
        ]
        for subject, body, to, bcc in mails:
            await c.call_tool(
                "send_message",
                {
                    "project_key": PROJECT,
                    "sender_name": "BlueLake",
                    "to": to,
                    "bcc": bcc,
                    "subject": subject,
                    "body_md": body,
                },
            )
        await c.call_tool(
            "send_message",
            {
                "project_key": OTHER,
                "sender_name": "BlueLake",
                "to": ["RedFox"],
                "subject": "[DR-TEST] other project",
                "body_md": "payroll elsewhere",
            },
        )
        yield c


async def search(client, query, **extra):
    result = await client.call_tool("search_messages", {"project_key": PROJECT, "query": query, **extra})
    assert result.structured_content == {"result": result.data}
    return result.data


async def subjects(client, query, **extra):
    return [hit["subject"] for hit in await search(client, query, **extra)]


async def test_hit_shape(client):
    hits = await search(client, "pizza")
    assert len(hits) == 1
    hit = hits[0]
    assert set(hit) == {"id", "subject", "importance", "ack_required", "created_ts", "from", "snippet", "snippet_marks"}
    assert hit["ack_required"] is False and hit["from"] == "BlueLake"
    assert "\u27e6Pizza\u27e7" in hit["snippet"] and hit["snippet_marks"] == "\u27e6hit\u27e7"


async def test_snippet_marks_do_not_collide_with_markdown_bold_in_the_body(client):
    await client.call_tool(
        "send_message",
        {
            "project_key": PROJECT,
            "sender_name": "BlueLake",
            "to": ["RedFox"],
            "subject": "Server notes",
            "body_md": "We now build on **fastmcp** for the transport.",
        },
    )
    (hit,) = await search(client, "fastmcp")
    assert "**\u27e6fastmcp\u27e7**" in hit["snippet"] and "****" not in hit["snippet"]
    assert hit["snippet_marks"] == "\u27e6hit\u27e7"


async def test_hyphenated_tokens_are_literal(client):
    assert await subjects(client, "DR-TEST") == ["[DR-TEST] Initial planning"]
    assert await subjects(client, "pol-358") == ["Ticket POL-358 migration"]


async def test_phrase_prefix_and_operators(client):
    assert await subjects(client, '"quick brown fox"') == ["Lunch"]
    assert await subjects(client, '"brown quick"') == []
    assert await subjects(client, "refactor*") == ["Refactor parser"]
    assert sorted(await subjects(client, "pizza OR payroll")) == ["Lunch", "Secret plan"]
    assert await subjects(client, "migration NOT blocked") == []
    assert await subjects(client, "(pizza OR parser) AND lexer") == ["Refactor parser"]
    assert await subjects(client, "subject:pizza") == []
    assert await subjects(client, "body:pizza") == ["Lunch"]


async def test_ranking_prefers_the_better_match(client):
    hits = await subjects(client, "migration OR database")
    assert hits[0] == "Ticket POL-358 migration"


SAFE_CASES = [
    ("item AND (", ["Ticket POL-358 migration"]),
    ('"unbalanced', []),
    ('"disaster recovery', ["[DR-TEST] Initial planning"]),
    ("*", []),
    ("***", []),
    ("   ", []),
    ("...", []),
    ("AND", []),
    ("NOT pizza", ["Lunch"]),
    ("'; DROP TABLE messages; --", []),
    ("pizza)", ["Lunch"]),
    ("NEAR(pizza pasta, 2)", ["Lunch"]),
    ("*pizza", ["Lunch"]),
    ("C++ pizza?", []),
    ("pasta?", ["Lunch"]),
    ("100% pizza", []),
    ("under_score", []),
    ("pizza\x00", ["Lunch"]),
    ("🍕 pizza", ["Lunch"]),
    ("x" * 900, []),
    ("café", []),
]


async def test_any_query_text_is_safe(client):
    for query, expected in SAFE_CASES:
        assert await subjects(client, query) == expected, query
    # The table survived whatever was typed.
    assert await subjects(client, "pizza") == ["Lunch"]


async def test_scope_to_agent_includes_bcc(client):
    assert await subjects(client, "payroll") == ["Secret plan"]
    assert await subjects(client, "payroll", agent_name="GreenCastle") == ["Secret plan"]
    assert await subjects(client, "payroll", agent_name="RedFox") == ["Secret plan"]
    assert await subjects(client, "payroll", agent_name="BlueLake") == ["Secret plan"]
    assert await subjects(client, "pizza", agent_name="RedFox") == []
    assert await subjects(client, "DR-TEST", agent_name="GreenCastle") == []


async def test_limit_and_errors(client):
    assert len(await search(client, "the", limit=1)) == 1
    for bad in (0, -1, 1001):
        with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: limit"):
            await search(client, "pizza", limit=bad)
    with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: query is 1001 characters"):
        await search(client, "a" * 1001)
    with pytest.raises(ToolError, match=r"^NOT_FOUND: Project"):
        await client.call_tool("search_messages", {"project_key": "/nope", "query": "x"})
    with pytest.raises(ToolError, match=r"^NOT_FOUND: Agent"):
        await search(client, "pizza", agent_name="Nobody-1")


async def test_very_common_words_rank_the_newest_matches(client, monkeypatch):
    from mcp_agent_mail.services.mail import search as search_service

    monkeypatch.setattr(search_service, "RANK_WINDOW", 2)
    hits = await subjects(client, "the", limit=10)
    assert sorted(hits) == ["Refactor parser", "Secret plan"]


async def test_plain_text_fallback_when_the_index_is_missing(client):
    from mcp_agent_mail.db import fulltext, sync_write_connection

    with sync_write_connection() as conn:
        fulltext.drop(conn)
    assert await subjects(client, "pizza") == ["Lunch"]
    assert await subjects(client, "pol-358 MIGRATION") == ["Ticket POL-358 migration"]
    assert await subjects(client, "100%") == []
    assert await subjects(client, "payroll", agent_name="RedFox") == ["Secret plan"]
    assert await subjects(client, "pizza", agent_name="RedFox") == []
    hit = (await search(client, "pasta"))[0]
    assert hit["snippet"].startswith("Pizza or pasta")


@pytest.mark.parametrize("snapshot", [True, False])
async def test_the_fallback_works_inside_a_snapshot_read_and_a_read_without_one(client, snapshot):
    from mcp_agent_mail.db import fulltext, run_read, sync_write_connection
    from mcp_agent_mail.services.identity.resolve import resolve_project

    with sync_write_connection() as conn:
        fulltext.drop(conn)

    async def read(session):
        project = await resolve_project(session, PROJECT)
        request = fulltext.Request(
            scope=fulltext.Scope(project["id"], None), snippet=fulltext.Snippet("[", "]", 8), limit=10
        )
        found = await fulltext.search(session, "pizza", request)
        # The transaction is still usable after the failed full-text statement.
        return [row["subject"] for row in found.rows], (await resolve_project(session, PROJECT))["id"]

    names, project_id = await run_read(read, snapshot=snapshot)
    assert names == ["Lunch"]
    assert project_id > 0


async def test_rebuilding_the_index_brings_search_back(client):
    from mcp_agent_mail.db import fulltext, sync_read_connection, sync_write_connection

    with sync_write_connection() as conn:
        fulltext.drop(conn)
    with sync_write_connection() as conn:
        fulltext.rebuild(conn)
    with sync_read_connection() as conn:
        assert fulltext.indexed_count(conn) == 6
    assert await subjects(client, '"quick brown fox"') == ["Lunch"]
    assert "\u27e6pasta\u27e7" in (await search(client, "pasta"))[0]["snippet"]


@pytest.mark.parametrize("snapshot", [True, False])
async def test_a_connection_lost_during_a_search_is_read_again_not_simplified(client, monkeypatch, snapshot):
    from sqlalchemy import text

    from db_kit import on_sqlite
    from mcp_agent_mail.db import fulltext, run_read
    from mcp_agent_mail.db.fulltext import pg
    from mcp_agent_mail.services.identity.resolve import resolve_project

    if on_sqlite():
        pytest.skip("a database server's connection")
    real = pg._statement
    drops = iter([True])

    def dropping(*args):
        if next(drops, False):  # the first search meets a server going away
            return text("SELECT pg_terminate_backend(pg_backend_pid())")
        return real(*args)

    monkeypatch.setattr(pg, "_statement", dropping)

    async def read(session):
        project = await resolve_project(session, PROJECT)
        request = fulltext.Request(
            scope=fulltext.Scope(project["id"], None), snippet=fulltext.Snippet("[", "]", 8), limit=10
        )
        found = await fulltext.search(session, "pizza", request)
        return [row["subject"] for row in found.rows], found.simplified

    assert await run_read(read, snapshot=snapshot) == (["Lunch"], False)  # ranked, on a fresh connection
