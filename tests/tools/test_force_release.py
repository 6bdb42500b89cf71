"""force_release_file_reservation through an in-memory MCP client, against real Git repositories."""

from __future__ import annotations

import os
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from sqlalchemy import text

from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.db import get_session
from mcp_agent_mail.db.types import to_db_text
from mcp_agent_mail.timeutil import utcnow

OLD = time.time() - 3 * 86400


def git(repo: Path, *args: str, when: float | None = None) -> None:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "Dev",
        "GIT_AUTHOR_EMAIL": "dev@example.com",
        "GIT_COMMITTER_NAME": "Dev",
        "GIT_COMMITTER_EMAIL": "dev@example.com",
    }
    if when is not None:
        stamp = f"@{int(when)} +0000"
        env.update(GIT_AUTHOR_DATE=stamp, GIT_COMMITTER_DATE=stamp)
    subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)


def commit_file(repo: Path, rel: str, content: str, when: float) -> None:
    path = repo / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    git(repo, "add", rel)
    git(repo, "commit", "-q", "-m", f"edit {rel}", when=when)


def age_files(repo: Path) -> None:
    """Make every working-tree file look untouched for days."""
    for root, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if d != ".git"]
        for name in files:
            os.utime(Path(root) / name, (OLD, OLD))


async def execute(sql: str, **params) -> None:
    async with get_session() as session:
        await session.execute(text(sql), params)
        await session.commit()


async def scalar(sql: str, **params):
    async with get_session() as session:
        return (await session.execute(text(sql), params)).scalar()


async def make_inactive(name: str) -> None:
    await execute(
        "UPDATE agents SET last_active_ts = :t WHERE name = :n", t=to_db_text(utcnow() - timedelta(hours=2)), n=name
    )


@pytest.fixture
def repo(isolated_env) -> Path:
    path = isolated_env["tmp_path"] / "work" / "app"
    path.mkdir(parents=True)
    git(path, "init", "-q")
    commit_file(path, "src/app.py", "print('v1')\n", OLD)
    commit_file(path, "docs/readme.md", "# readme\n", OLD)
    age_files(path)
    return path


@pytest.fixture
async def client(repo):
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": str(repo)})
        for name in ("BlueLake", "RedFox"):
            await c.call_tool("register_agent", {"project_key": str(repo), "program": "p", "model": "m", "name": name})
        yield c


async def reserve(c: Client, repo: Path, agent: str, paths: list[str]) -> dict:
    args = {"project_key": str(repo), "agent_name": agent, "paths": paths}
    return (await c.call_tool("file_reservation_paths", args)).data


async def force(c: Client, repo: Path, rid: int, **extra) -> dict:
    args = {"project_key": str(repo), "agent_name": "RedFox", "file_reservation_id": rid, **extra}
    return (await c.call_tool("force_release_file_reservation", args)).data


async def released_ts(rid: int):
    return await scalar("SELECT released_ts FROM file_reservations WHERE id = :i", i=rid)


async def test_stale_holder_is_released_notified_and_actor_can_reserve(client, repo):
    held = (await reserve(client, repo, "BlueLake", ["src/**"]))["granted"][0]
    blocked = await reserve(client, repo, "RedFox", ["src/app.py"])
    assert blocked["granted"] == [] and blocked["conflicts"][0]["holders"][0]["id"] == held["id"]
    await make_inactive("BlueLake")

    result = await force(client, repo, held["id"], note="Picking up the parser work.")

    assert result["released"] == 1
    lease = result["reservation"]
    assert lease["id"] == held["id"] and lease["agent"] == "BlueLake" and lease["path_pattern"] == "src/**"
    assert lease["released_ts"] == result["released_at"]
    assert lease["stale_reasons"] == [
        "agent_inactive>1800s",
        "no_recent_mail_activity>900s",
        "no_recent_filesystem_activity>900s",
        "no_recent_git_activity>900s",
    ]
    assert lease["notified"] is True and "notification_error" not in lease
    assert "last_agent_activity_ts" in lease and "last_filesystem_activity_ts" in lease
    assert datetime.fromisoformat(lease["last_git_activity_ts"]).timestamp() == pytest.approx(OLD, abs=2)
    assert await released_ts(held["id"]) is not None

    inbox = (
        await client.call_tool(
            "fetch_inbox", {"project_key": str(repo), "agent_name": "BlueLake", "include_bodies": True}
        )
    ).data
    assert [m["subject"] for m in inbox] == ["[file-reservations] Released stale lease on src/**"]
    body = inbox[0]["body_md"]
    assert inbox[0]["from"] == "RedFox"
    assert "agent_inactive>1800s" in body and "Picking up the parser work." in body
    assert "file_reservation_paths" in body

    mine = await reserve(client, repo, "RedFox", ["src/app.py"])
    assert mine["conflicts"] == [] and mine["granted"][0]["path_pattern"] == "src/app.py"
    again = await force(client, repo, held["id"])
    assert again["released"] == 0 and again["already_released"] is True


async def test_recent_commit_touching_the_path_refuses(client, repo):
    held = (await reserve(client, repo, "BlueLake", ["src/app.py"]))["granted"][0]
    commit_file(repo, "src/app.py", "print('v2')\n", time.time() - 60)
    age_files(repo)  # only the commit is recent
    await make_inactive("BlueLake")

    with pytest.raises(ToolError) as info:
        await force(client, repo, held["id"])
    message = str(info.value)
    assert message.startswith("RESERVATION_ACTIVE:")
    assert "git_activity_recent" in message and "Hint: Ask the holder (send_message)" in message
    assert await released_ts(held["id"]) is None
    inbox = (await client.call_tool("fetch_inbox", {"project_key": str(repo), "agent_name": "BlueLake"})).data
    assert inbox == []


async def test_commit_elsewhere_does_not_protect_the_lease(client, repo):
    held = (await reserve(client, repo, "BlueLake", ["src/app.py"]))["granted"][0]
    commit_file(repo, "docs/readme.md", "# v2\n", time.time() - 60)
    age_files(repo)
    await make_inactive("BlueLake")
    result = await force(client, repo, held["id"], notify_previous=False)
    assert result["released"] == 1 and result["reservation"]["notified"] is False
    inbox = (await client.call_tool("fetch_inbox", {"project_key": str(repo), "agent_name": "BlueLake"})).data
    assert inbox == []


async def test_recently_modified_file_refuses(client, repo):
    held = (await reserve(client, repo, "BlueLake", ["src/*.py"]))["granted"][0]
    (repo / "src" / "app.py").write_text("print('editing')\n")  # uncommitted work in progress
    await make_inactive("BlueLake")
    with pytest.raises(ToolError, match=r"^RESERVATION_ACTIVE: .*filesystem_activity_recent"):
        await force(client, repo, held["id"])
    assert await released_ts(held["id"]) is None


async def test_active_holder_refuses_without_scanning(client, repo):
    held = (await reserve(client, repo, "BlueLake", ["src/app.py"]))["granted"][0]
    with pytest.raises(ToolError, match=r"^RESERVATION_ACTIVE: .*agent_recently_active"):
        await force(client, repo, held["id"])
    assert await released_ts(held["id"]) is None


async def test_recent_mail_read_refuses(client, repo):
    held = (await reserve(client, repo, "BlueLake", ["src/app.py"]))["granted"][0]
    sent = (
        await client.call_tool(
            "send_message",
            {
                "project_key": str(repo),
                "sender_name": "RedFox",
                "to": ["BlueLake"],
                "subject": "ping",
                "body_md": "hi",
            },
        )
    ).data
    message_id = sent["deliveries"][0]["payload"]["id"]
    await client.call_tool(
        "mark_message_read", {"project_key": str(repo), "agent_name": "BlueLake", "message_id": message_id}
    )
    await make_inactive("BlueLake")
    with pytest.raises(ToolError, match=r"^RESERVATION_ACTIVE: .*mail_activity_recent"):
        await force(client, repo, held["id"])
    assert await released_ts(held["id"]) is None


async def test_virtual_reservation_uses_agent_and_mail_activity_only(client, repo):
    held = (await reserve(client, repo, "BlueLake", ["tool://deploy"]))["granted"][0]
    (repo / "src" / "app.py").write_text("recent\n")
    await make_inactive("BlueLake")
    result = await force(client, repo, held["id"])
    assert result["reservation"]["stale_reasons"] == [
        "agent_inactive>1800s",
        "no_recent_mail_activity>900s",
        "virtual_reservation",
    ]


async def test_expired_lease_is_reported_as_already_released(client, repo):
    held = (await reserve(client, repo, "BlueLake", ["src/app.py"]))["granted"][0]
    await execute(
        "UPDATE file_reservations SET expires_ts = :t WHERE id = :i",
        t=to_db_text(utcnow() - timedelta(seconds=5)),
        i=held["id"],
    )
    result = await force(client, repo, held["id"])
    assert result["released"] == 0 and result["already_released"] is True and result["expired"] is True


async def test_retired_holder_released_and_notification_failure_reported(client, repo):
    held = (await reserve(client, repo, "BlueLake", ["docs/**"]))["granted"][0]
    await execute("UPDATE agents SET retired_at = :t WHERE name = 'BlueLake'", t=to_db_text(utcnow()))
    await make_inactive("BlueLake")
    result = await force(client, repo, held["id"])
    lease = result["reservation"]
    assert result["released"] == 1 and lease["stale_reasons"][0] == "agent_retired"
    assert lease["notified"] is False and lease["notification_error"]["code"] == "AGENT_RETIRED"
    assert await released_ts(held["id"]) is not None


async def test_project_without_checkout_on_this_machine(isolated_env):
    project = "/nonexistent/checkout/elsewhere"
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": project})
        for name in ("BlueLake", "RedFox"):
            await c.call_tool("register_agent", {"project_key": project, "program": "p", "model": "m", "name": name})
        args = {"project_key": project, "agent_name": "BlueLake", "paths": ["src/**"]}
        held = (await c.call_tool("file_reservation_paths", args)).data["granted"][0]
        await make_inactive("BlueLake")
        result = (
            await c.call_tool(
                "force_release_file_reservation",
                {
                    "project_key": project,
                    "agent_name": "RedFox",
                    "file_reservation_id": held["id"],
                },
            )
        ).data
        assert result["reservation"]["stale_reasons"][-1] == "workspace_not_on_server"


@pytest.mark.parametrize(
    ("rid", "pattern"),
    [(0, r"^INVALID_ARGUMENT: .*not a reservation id"), (999, r"^NOT_FOUND: File reservation 999 not found")],
)
async def test_bad_ids_are_refused(client, repo, rid, pattern):
    held = (await reserve(client, repo, "BlueLake", ["src/app.py"]))["granted"][0]
    await make_inactive("BlueLake")
    with pytest.raises(ToolError, match=pattern):
        await force(client, repo, rid)
    assert await released_ts(held["id"]) is None


async def test_unknown_actor_and_long_note_are_refused(client, repo):
    held = (await reserve(client, repo, "BlueLake", ["src/app.py"]))["granted"][0]
    await make_inactive("BlueLake")
    with pytest.raises(ToolError, match=r"^NOT_FOUND: Agent 'Ghost'"):
        await client.call_tool(
            "force_release_file_reservation",
            {
                "project_key": str(repo),
                "agent_name": "Ghost",
                "file_reservation_id": held["id"],
            },
        )
    with pytest.raises(ToolError, match=r"^INVALID_ARGUMENT: note is longer"):
        await force(client, repo, held["id"], note="x" * 5000)
    assert await released_ts(held["id"]) is None


async def test_reserving_never_sweeps_an_inactive_holders_lease(client, repo):
    held = (await reserve(client, repo, "BlueLake", ["src/app.py"]))["granted"][0]
    await make_inactive("BlueLake")
    result = await reserve(client, repo, "RedFox", ["src/app.py"])
    assert result["granted"] == [] and result["conflicts"][0]["holders"][0]["agent"] == "BlueLake"
    assert await released_ts(held["id"]) is None


async def test_project_in_a_subdirectory_of_the_repository(isolated_env):
    mono = isolated_env["tmp_path"] / "mono"
    mono.mkdir()
    git(mono, "init", "-q")
    commit_file(mono, "pkg/src/app.py", "v1\n", OLD)
    commit_file(mono, "other/src/app.py", "v1\n", OLD)
    project = mono / "pkg"
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": str(project)})
        for name in ("BlueLake", "RedFox"):
            await c.call_tool(
                "register_agent", {"project_key": str(project), "program": "p", "model": "m", "name": name}
            )
        first = (await reserve(c, project, "BlueLake", ["src/app.py"]))["granted"][0]
        commit_file(mono, "other/src/app.py", "v2\n", time.time() - 30)  # same relative path, other project
        age_files(mono)
        await make_inactive("BlueLake")
        assert (await force(c, project, first["id"], notify_previous=False))["released"] == 1

        second = (await reserve(c, project, "BlueLake", ["src/app.py"]))["granted"][0]
        commit_file(mono, "pkg/src/app.py", "v2\n", time.time() - 30)
        age_files(mono)
        await make_inactive("BlueLake")
        with pytest.raises(ToolError, match=r"^RESERVATION_ACTIVE: .*git_activity_recent"):
            await force(c, project, second["id"])


async def test_holder_may_force_release_its_own_lease(client, repo):
    held = (await reserve(client, repo, "RedFox", ["src/app.py"]))["granted"][0]
    result = await force(client, repo, held["id"])
    assert result["released"] == 1 and result["reservation"]["stale_reasons"] == ["released_by_holder"]
    assert result["reservation"]["notified"] is False
