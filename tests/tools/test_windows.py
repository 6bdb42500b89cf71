"""Window identities: name reuse per MCP_AGENT_MAIL_WINDOW_ID and the list/rename/expire tools."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from sqlalchemy import text

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.db import get_session
from mcp_agent_mail.db.types import to_db_text
from mcp_agent_mail.services.identity.auth import BINDINGS
from mcp_agent_mail.timeutil import parse_timestamp, utcnow

PROJECT = "/work/windows-test"
WINDOW = "6F9619FF-8B86-D011-B42D-00CF4FC964FF"
WINDOW_KEY = WINDOW.lower()
OTHER = "0f8fad5b-d9cb-469f-a165-70867728950e"
REG = {"project_key": PROJECT, "program": "p", "model": "m"}


def use_window(monkeypatch: pytest.MonkeyPatch, value: str | None) -> None:
    if value is None:
        monkeypatch.delenv("MCP_AGENT_MAIL_WINDOW_ID", raising=False)
    else:
        monkeypatch.setenv("MCP_AGENT_MAIL_WINDOW_ID", value)
    clear_settings_cache()


async def rows() -> list[dict[str, Any]]:
    async with get_session() as session:
        result = await session.execute(text("SELECT * FROM window_identities ORDER BY id"))
        return [dict(row) for row in result.mappings()]


async def sql(statement: str, **params: Any) -> None:
    async with get_session() as session:
        await session.execute(text(statement), params)
        await session.commit()


async def call(client: Client, tool: str, **args: Any) -> Any:
    return (await client.call_tool(tool, args)).data


async def refused(client: Client, tool: str, args: dict[str, Any], pattern: str) -> None:
    before = await rows()
    with pytest.raises(ToolError, match=pattern):
        await client.call_tool(tool, args)
    assert await rows() == before


@pytest.fixture
def window(isolated_env, monkeypatch):
    use_window(monkeypatch, WINDOW)
    return isolated_env


@pytest.fixture
async def client(window):
    async with Client(build_mcp_server()) as c:
        await call(c, "ensure_project", human_key=PROJECT)
        yield c


async def test_registering_without_a_name_reuses_the_windows_name(window):
    server = build_mcp_server()
    async with Client(server) as first:
        await call(first, "ensure_project", human_key=PROJECT)
        agent = await call(first, "register_agent", **REG)
    async with Client(server) as second:
        again = await call(second, "register_agent", **REG, task_description="next session")
    assert again["name"] == agent["name"] and again["id"] == agent["id"]
    assert again["window_id"] == WINDOW_KEY and again["window_display_name"] == agent["name"]
    (row,) = await rows()
    assert row["window_uuid"] == WINDOW_KEY and row["display_name"] == agent["name"]
    async with Client(server) as third:  # the session macro resolves the same way
        session = await call(third, "macro_start_session", human_key=PROJECT, program="p", model="m")
    assert session["agent"]["name"] == agent["name"]


async def test_reuse_extends_the_expiry(client):
    agent = await call(client, "register_agent", **REG)
    soon = utcnow() + timedelta(hours=1)
    await sql("UPDATE window_identities SET expires_ts = :e", e=to_db_text(soon))
    await call(client, "register_agent", **REG)
    (listed,) = await call(client, "list_window_identities", project_key=PROJECT)
    assert listed["display_name"] == agent["name"] and listed["window_uuid"] == WINDOW_KEY
    assert parse_timestamp(listed["expires_ts"]) >= soon + timedelta(days=30) - timedelta(minutes=1)
    assert listed["age_days"] == 0 and "T" in listed["created_ts"] and listed["last_active_ts"].endswith("+00:00")


async def test_an_explicit_name_binds_a_new_window_and_leaves_a_bound_one(client):
    named = await call(client, "register_agent", **REG, name="GreenCastle")
    assert named["window_display_name"] == "GreenCastle"
    assert (await call(client, "register_agent", **REG))["name"] == "GreenCastle"
    other = await call(client, "register_agent", **REG, name="RedFox")
    assert other["name"] == "RedFox" and other["window_display_name"] == "GreenCastle"
    assert [r["display_name"] for r in await rows()] == ["GreenCastle"]
    fresh = await call(client, "create_agent_identity", **REG)  # the window's name is taken: a new one
    assert fresh["name"] not in ("GreenCastle", "RedFox")
    assert [r["display_name"] for r in await rows()] == ["GreenCastle"]


async def test_create_agent_identity_records_the_window(client):
    agent = await call(client, "create_agent_identity", **REG, name_hint="BlueLake")
    assert agent["window_display_name"] == "BlueLake"
    assert (await call(client, "register_agent", **REG))["name"] == "BlueLake"


async def test_rename_window(client):
    await call(client, "register_agent", **REG, name="GreenCastle")
    renamed = await call(
        client, "rename_window", project_key=PROJECT, window_uuid=WINDOW, new_display_name="silver owl"
    )
    assert renamed["display_name"] == "SilverOwl" and renamed["old_display_name"] == "GreenCastle"
    assert renamed["window_uuid"] == WINDOW_KEY and renamed["last_active_ts"].endswith("+00:00")
    agent = await call(client, "register_agent", **REG)
    assert agent["name"] == "SilverOwl" and agent["created"] is True


async def test_rename_window_errors_change_nothing(client):
    await call(client, "register_agent", **REG, name="GreenCastle")
    now = to_db_text(utcnow())
    await sql(
        "INSERT INTO window_identities (project_id, window_uuid, display_name, created_ts, last_active_ts, "
        "expires_ts) SELECT id, :w, 'RedFox', :t, :t, NULL FROM projects",
        w=OTHER,
        t=now,
    )
    args = {"project_key": PROJECT, "window_uuid": WINDOW}
    await refused(
        client,
        "rename_window",
        {**args, "window_uuid": "not-a-uuid", "new_display_name": "BlueLake"},
        r"^INVALID_WINDOW_UUID",
    )
    await refused(client, "rename_window", {**args, "new_display_name": "worker-1"}, r"^INVALID_DISPLAY_NAME")
    await refused(
        client,
        "rename_window",
        {**args, "new_display_name": "redfox"},
        r"^INVALID_DISPLAY_NAME: Another live window.*Hint: Choose a name",
    )
    missing = "11111111-2222-3333-4444-555555555555"
    await refused(
        client, "rename_window", {**args, "window_uuid": missing, "new_display_name": "BlueLake"}, r"^WINDOW_NOT_FOUND"
    )
    await refused(
        client, "rename_window", {**args, "project_key": "/nope", "new_display_name": "BlueLake"}, r"^NOT_FOUND"
    )


async def test_expire_window_gives_a_fresh_name_next_time(client):
    first = await call(client, "register_agent", **REG)
    expired = await call(client, "expire_window", project_key=PROJECT, window_uuid=WINDOW)
    assert expired["expired"] is True and expired["display_name"] == first["name"]
    assert expired["window_uuid"] == WINDOW_KEY and expired["expired_at"].endswith("+00:00")
    assert await call(client, "list_window_identities", project_key=PROJECT) == []
    await refused(client, "expire_window", {"project_key": PROJECT, "window_uuid": WINDOW}, r"^WINDOW_NOT_FOUND")
    await refused(
        client,
        "rename_window",
        {"project_key": PROJECT, "window_uuid": WINDOW, "new_display_name": "BlueLake"},
        r"^WINDOW_NOT_FOUND",
    )
    await refused(client, "expire_window", {"project_key": PROJECT, "window_uuid": "x"}, r"^INVALID_WINDOW_UUID")
    second = await call(client, "register_agent", **REG)
    assert second["name"] != first["name"] and second["created"] is True
    (row,) = await rows()
    assert row["display_name"] == second["name"]
    table = (await client.call_tool("list_window_identities", {"project_key": PROJECT, "format": "table"})).data
    assert second["name"] in str(table)


async def test_strict_mode_rename_and_expire_need_proof(window, monkeypatch):
    monkeypatch.setenv("AGENT_IDENTITY_MODE", "strict")
    clear_settings_cache()
    BINDINGS.clear()
    server = build_mcp_server()
    async with Client(server, mode="legacy") as owner:
        await call(owner, "ensure_project", human_key=PROJECT)
        agent = await call(owner, "create_agent_identity", **REG, name_hint="GreenCastle")
    async with Client(server, mode="legacy") as stranger:
        listed = await call(stranger, "list_window_identities", project_key=PROJECT)  # reading needs no proof
        assert [i["display_name"] for i in listed] == ["GreenCastle"] and "registration_token" not in listed[0]
        rename = {"project_key": PROJECT, "window_uuid": WINDOW, "new_display_name": "BlueLake"}
        await refused(stranger, "rename_window", rename, r"^UNAUTHORIZED")
        await refused(stranger, "expire_window", {"project_key": PROJECT, "window_uuid": WINDOW}, r"^UNAUTHORIZED")
        done = await call(stranger, "rename_window", **rename, registration_token=agent["registration_token"])
        assert done["display_name"] == "BlueLake" and done["verified"] is True
        gone = await call(stranger, "expire_window", project_key=PROJECT, window_uuid=WINDOW)  # session now bound
        assert gone["expired"] is True


async def test_invalid_or_unset_window_id_means_no_window(isolated_env, monkeypatch, caplog):
    use_window(monkeypatch, "not-a-uuid")
    async with Client(build_mcp_server()) as c:
        await call(c, "ensure_project", human_key=PROJECT)
        a = await call(c, "register_agent", **REG)
        b = await call(c, "register_agent", **REG)
        assert a["name"] != b["name"] and "window_id" not in a
        assert await rows() == []
        assert "not a UUID" in caplog.text
        use_window(monkeypatch, None)
        assert "window_id" not in await call(c, "register_agent", **REG)
        assert await rows() == []


async def test_hard_deletes_remove_window_rows(client):
    await call(client, "register_agent", **REG, name="GreenCastle")
    now = to_db_text(utcnow())
    await sql(
        "INSERT INTO window_identities (project_id, window_uuid, display_name, created_ts, last_active_ts, "
        "expires_ts) SELECT id, :w, 'BlueLake', :t, :t, NULL FROM projects",
        w=OTHER,
        t=now,
    )
    await call(client, "hard_delete_agent", project_key=PROJECT, agent_name="green-castle", confirmation="I UNDERSTAND")
    assert [r["display_name"] for r in await rows()] == ["BlueLake"]
    await call(client, "hard_delete_project", project_key=PROJECT, confirmation="I UNDERSTAND")
    assert await rows() == []
