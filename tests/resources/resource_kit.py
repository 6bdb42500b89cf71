"""Helpers for the resource tests: a populated mailbox, JSON reads and a state fingerprint."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client, FastMCP
from sqlalchemy import select

from mcp_agent_mail import archive
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.db import fulltext, get_session, schema, sync_read_connection
from mcp_agent_mail.services.identity.auth import BINDINGS

PROJECT = "/work/resource-test"
AGENTS = ("BlueLake", "RedFox", "GreenCastle")


async def read(client: Client, uri: str) -> Any:
    """Read a resource and decode its JSON text (checking the mime type)."""
    contents = await client.read_resource(uri)
    assert len(contents) == 1
    assert contents[0].mime_type == "application/json"
    return json.loads(contents[0].text)


async def call(client: Client, tool: str, **args: Any) -> Any:
    """Call a tool and return its data."""
    return (await client.call_tool(tool, args)).data


async def settle() -> None:
    """Apply every pending archive change so that later reads can be compared with the archive."""
    await asyncio.to_thread(archive.flush_pending, timeout=30.0)


async def fingerprint() -> tuple[str, str]:
    """Hash every database row and every archive file (and HEAD): any state change alters it."""
    digest = hashlib.sha256()
    async with get_session() as session:
        for table in schema.metadata.sorted_tables:
            rows = (await session.execute(select(table).order_by(*table.primary_key.columns))).all()
            digest.update(f"{table.name}:{len(rows)}:{rows!r}".encode())
    with sync_read_connection() as conn:
        digest.update(f"fulltext:{fulltext.indexed_count(conn)}".encode())
    files = hashlib.sha256()
    root = Path(get_settings().storage.root)
    for folder, dirs, names in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder, name)
            info = path.stat()
            files.update(f"{path.relative_to(root)}:{info.st_size}:{info.st_mtime_ns}".encode())
    head = (root / ".git" / "HEAD").read_text() if (root / ".git" / "HEAD").exists() else ""
    ref = root / ".git" / head.removeprefix("ref: ").strip() if head.startswith("ref: ") else None
    files.update((ref.read_text() if ref is not None and ref.exists() else head).encode())
    return digest.hexdigest(), files.hexdigest()


async def message_ids() -> list[int]:
    """Return every message id, oldest first."""
    async with get_session() as session:
        return list((await session.execute(select(schema.messages.c.id).order_by(schema.messages.c.id))).scalars())


@pytest.fixture
def server(isolated_env) -> FastMCP:
    BINDINGS.clear()
    yield build_mcp_server()
    BINDINGS.clear()


@pytest.fixture
def strict_mode(isolated_env, monkeypatch):
    monkeypatch.setenv("AGENT_IDENTITY_MODE", "strict")
    clear_settings_cache()


@pytest.fixture
async def world(server) -> dict[str, Any]:
    """A project with three agents and a few messages; returns tokens and message ids.

    m1: BlueLake -> to RedFox, cc GreenCastle ("Plan", normal)
    m2: BlueLake -> to RedFox, bcc GreenCastle ("Secret plan", urgent, ack required)
    m3: RedFox replies to m1 (thread "1")
    """
    async with Client(server) as c:
        await call(c, "ensure_project", human_key=PROJECT)
        tokens = {}
        for name in AGENTS:
            created = await call(
                c, "create_agent_identity", project_key=PROJECT, program="p", model="m", name_hint=name
            )
            tokens[name] = created["registration_token"]
        await call(
            c,
            "send_message",
            project_key=PROJECT,
            sender_name="BlueLake",
            to=["RedFox"],
            cc=["GreenCastle"],
            subject="Plan",
            body_md="the plan",
            sender_token=tokens["BlueLake"],
        )
        await call(
            c,
            "send_message",
            project_key=PROJECT,
            sender_name="BlueLake",
            to=["RedFox"],
            bcc=["GreenCastle"],
            subject="Secret plan",
            body_md="hush",
            importance="urgent",
            ack_required=True,
            sender_token=tokens["BlueLake"],
        )
        m1, m2 = await message_ids()
        await call(
            c,
            "reply_message",
            project_key=PROJECT,
            message_id=m1,
            sender_name="RedFox",
            body_md="agreed",
            sender_token=tokens["RedFox"],
        )
        m3 = (await message_ids())[-1]
    await settle()
    return {"tokens": tokens, "m1": m1, "m2": m2, "m3": m3, "server": server}
