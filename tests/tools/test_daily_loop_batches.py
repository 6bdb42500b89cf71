"""Daily-loop writes queued together: each call stands or falls alone, refusals change nothing."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

import db_kit
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.db import sync_write_connection
from mcp_agent_mail.db.engine import write_batches

PROJECT = "/work/daily-loop-batches"


def queued_ever() -> int:
    """How many archive entries were ever queued (the writer may have applied some already)."""
    return db_kit.outbox_last_id()


def reservations() -> list[tuple[str, str, bool]]:
    return [
        (name, pattern, released is not None)
        for name, pattern, released in db_kit.query(
            "SELECT a.name, r.path_pattern, r.released_ts FROM file_reservations r "
            "JOIN agents a ON a.id = r.agent_id ORDER BY r.id"
        )
    ]


class HeldWriteLock:
    """Hold the database's write lock in a thread until released, so queued writes pile up."""

    def __init__(self) -> None:
        self.taken = threading.Event()
        self.release = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        with sync_write_connection():
            self.taken.set()
            self.release.wait(10)

    async def __aenter__(self) -> HeldWriteLock:
        self.thread.start()
        assert await asyncio.to_thread(self.taken.wait, 10)
        return self

    async def __aexit__(self, *_: Any) -> None:
        self.release.set()
        await asyncio.to_thread(self.thread.join, 10)


@pytest.fixture
async def client(isolated_env):
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        for name in ("BlueLake", "RedFox"):
            await c.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name})
        yield c


async def call(c: Client, tool: str, **args: Any) -> Any:
    return (await c.call_tool(tool, {"project_key": PROJECT, **args})).data


async def test_refused_calls_change_nothing_while_the_rest_of_their_batch_commits(client, isolated_env):
    sent = await call(client, "send_message", sender_name="BlueLake", to=["RedFox"], subject="hi", body_md="x")
    message_id = sent["deliveries"][0]["payload"]["id"]
    await call(client, "file_reservation_paths", agent_name="BlueLake", paths=["src/**"])
    before_queued, before_batches = queued_ever(), write_batches()

    async with HeldWriteLock():
        tasks = [
            asyncio.ensure_future(coro)
            for coro in (
                call(client, "file_reservation_paths", agent_name="RedFox", paths=["src/app.py"]),
                call(client, "file_reservation_paths", agent_name="Nobody", paths=["docs/x.md"]),
                call(client, "file_reservation_paths", agent_name="RedFox", paths=["docs/**"]),
                call(client, "mark_message_read", agent_name="RedFox", message_id=message_id),
                call(client, "acknowledge_message", agent_name="BlueLake", message_id=message_id),
                call(client, "renew_file_reservations", agent_name="BlueLake", extend_seconds=600),
                call(client, "register_agent", program="p", model="m", name="GreenCastle"),
            )
        ]
        await asyncio.sleep(1.0)
        assert not any(task.done() for task in tasks), "no write may answer before its transaction commits"
    conflict, unknown, granted, read, not_recipient, renewed, registered = await asyncio.gather(
        *tasks, return_exceptions=True
    )

    # Seven writes waiting behind the lock: the first one queued waits alone, the rest share transactions.
    assert write_batches() - before_batches <= 4
    assert conflict["granted"] == [] and conflict["conflicts"][0]["holders"][0]["agent"] == "BlueLake"
    assert isinstance(unknown, ToolError) and str(unknown).startswith("NOT_FOUND")
    assert [g["path_pattern"] for g in granted["granted"]] == ["docs/**"]
    assert read["read"] is True and read["message_id"] == message_id
    assert isinstance(not_recipient, ToolError) and str(not_recipient).startswith("NOT_FOUND")
    assert renewed["renewed"] == 1 and renewed["file_reservations"][0]["path_pattern"] == "src/**"
    assert registered["name"] == "GreenCastle" and registered["created"] is True

    assert reservations() == [("BlueLake", "src/**", False), ("RedFox", "docs/**", False)]
    # Queued for the archive: the grant, the read receipt, the renewal and the new agent's profile (the holders
    # were active moments ago, so no profile is re-queued); the conflict and both refusals added nothing.
    assert queued_ever() - before_queued == 4
