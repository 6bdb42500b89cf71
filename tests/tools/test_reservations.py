"""File reservation tools through an in-memory MCP client."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime, timedelta

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError
from sqlalchemy import text, update

import db_kit
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.db import get_session, run_write, schema
from mcp_agent_mail.db.types import to_db_text
from mcp_agent_mail.services.reservations.leases import list_active_reservations
from mcp_agent_mail.services.reservations.patterns import patterns_overlap
from mcp_agent_mail.timeutil import utcnow

PROJECT = "/work/reservations-test"


@pytest.fixture
async def client(isolated_env, monkeypatch):
    # Tests here read the archive queue: the writer, woken by each write, waits a minute before it
    # drains, instead of racing them after the default 200 ms (it drains at the end either way).
    monkeypatch.setenv("ARCHIVE_FLUSH_INTERVAL_MS", "60000")
    clear_settings_cache()
    async with Client(build_mcp_server()) as c:
        await c.call_tool("ensure_project", {"human_key": PROJECT})
        for name in ("BlueLake", "RedFox"):
            await c.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name})
        yield c


async def reserve(c: Client, agent: str, paths: list[str], **extra) -> dict:
    args = {"project_key": PROJECT, "agent_name": agent, "paths": paths, **extra}
    return (await c.call_tool("file_reservation_paths", args)).data


async def rows() -> list[dict]:
    async with get_session() as session:
        result = await session.execute(
            text(
                "SELECT id, agent_id, path_pattern, exclusive, reason, created_ts, expires_ts, released_ts "
                "FROM file_reservations ORDER BY id"
            )
        )
        return [dict(r) for r in result.mappings()]


async def outbox_refs() -> list[str]:
    async with get_session() as session:
        result = await session.execute(text("SELECT ref FROM archive_outbox WHERE kind = 'reservation' ORDER BY id"))
        return [r[0] for r in result]


async def execute(sql: str, **params) -> None:
    async with get_session() as session:
        await session.execute(text(sql), params)
        await session.commit()


def ts(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_grant_returns_lease_and_queues_archive_work(client):
    before = utcnow()
    result = await reserve(
        client, "BlueLake", ["src/core/**"], ttl_seconds=7200, exclusive=True, reason="Core refactoring"
    )
    assert result["conflicts"] == []
    [granted] = result["granted"]
    assert granted["path_pattern"] == "src/core/**"
    assert granted["exclusive"] is True and granted["reason"] == "Core refactoring"
    assert granted["expires_ts"].endswith("+00:00")
    assert timedelta(seconds=7199) < ts(granted["expires_ts"]) - before < timedelta(seconds=7300)
    [row] = await rows()
    assert row["id"] == granted["id"] and row["released_ts"] is None and row["exclusive"] == 1
    assert await outbox_refs() == [str(granted["id"])]


@pytest.mark.parametrize(
    ("held", "requested"),
    [
        ("src/app.py", "src/**"),
        ("src/**", "src/app.py"),
        ("src/app.py", "src"),
        ("*.py", "src/*"),
        ("tests/**", "**/test_*.py"),
        # Same literal folders first, globs further down: never parted early.
        ("src/api/*.py", "src/*/handlers.py"),
        ("src/app/", "src/app/main.py"),
        ("**/generated/**", "src/generated/x.py"),
    ],
)
async def test_conflicts_are_reported_with_holders_and_not_granted(client, held, requested):
    held_lease = (await reserve(client, "BlueLake", [held], reason="mine"))["granted"][0]
    result = await reserve(client, "RedFox", [requested, "docs/notes.txt"])
    assert [g["path_pattern"] for g in result["granted"]] == ["docs/notes.txt"]
    assert result["conflicts"] == [
        {
            "path": requested,
            "holders": [
                {
                    "id": held_lease["id"],
                    "agent": "BlueLake",
                    "path_pattern": held,
                    "exclusive": True,
                    "expires_ts": held_lease["expires_ts"],
                }
            ],
            # The original project's flat conflict keys, naming the first holder.
            "type": "FILE_RESERVATION_CONFLICT",
            "message": f"{requested} is held by BlueLake ({held}) until {held_lease['expires_ts']}.",
            "surface": requested,
            "holder": "BlueLake",
            "path_pattern": held,
            "exclusive": True,
            "expires_ts": held_lease["expires_ts"],
        }
    ]
    assert [r["path_pattern"] for r in await rows()] == [held, "docs/notes.txt"]


async def test_shared_leases_coexist_but_exclusive_conflicts_with_shared(client):
    await reserve(client, "BlueLake", ["docs/**"], exclusive=False)
    shared = await reserve(client, "RedFox", ["docs/readme.md"], exclusive=False)
    assert shared["conflicts"] == [] and len(shared["granted"]) == 1
    exclusive = await reserve(client, "RedFox", ["docs/guide.md"], exclusive=True)
    assert exclusive["granted"] == []
    assert exclusive["conflicts"][0]["holders"][0]["exclusive"] is False


async def test_disjoint_patterns_do_not_conflict(client):
    await reserve(client, "BlueLake", ["src/a.py", "*.md"])
    result = await reserve(client, "RedFox", ["src/b.py", "src/*.py", "tests/*.py", "docs/"])
    assert [c["path"] for c in result["conflicts"]] == ["src/*.py", "docs/"]
    assert [h["path_pattern"] for c in result["conflicts"] for h in c["holders"]] == ["src/a.py", "*.md"]
    assert [g["path_pattern"] for g in result["granted"]] == ["src/b.py", "tests/*.py"]


async def test_own_overlapping_reservations_never_conflict(client):
    await reserve(client, "BlueLake", ["src/**"])
    result = await reserve(client, "BlueLake", ["src/app.py"])
    assert result["conflicts"] == [] and len(result["granted"]) == 1


async def test_virtual_patterns_only_meet_identical_names(client):
    await reserve(client, "BlueLake", ["tool://deploy", "src/x.py"])
    result = await reserve(client, "RedFox", ["tool://deploy", "tool://build", "**"])
    assert [c["path"] for c in result["conflicts"]] == ["tool://deploy", "**"]
    assert result["conflicts"][1]["holders"][0]["path_pattern"] == "src/x.py"
    assert [g["path_pattern"] for g in result["granted"]] == ["tool://build"]


async def test_rereserve_updates_in_place_and_duplicates_collapse(client):
    first = (await reserve(client, "BlueLake", ["src/a.py"], ttl_seconds=7200, reason="first"))["granted"][0]
    again = await reserve(client, "BlueLake", ["./src/a.py", "src/a.py", "src\\a.py"], ttl_seconds=60, exclusive=False)
    [granted] = again["granted"]
    assert granted["id"] == first["id"]
    assert granted["expires_ts"] == first["expires_ts"]  # never shortened
    assert granted["exclusive"] is False and granted["reason"] == "first"
    [row] = await rows()
    assert row["exclusive"] == 0


async def test_expired_reservations_are_inactive(client):
    lease = (await reserve(client, "BlueLake", ["src/**"]))["granted"][0]
    await execute(
        "UPDATE file_reservations SET expires_ts = :t WHERE id = :i",
        t=to_db_text(utcnow() - timedelta(seconds=1)),
        i=lease["id"],
    )
    result = await reserve(client, "RedFox", ["src/app.py"])
    assert result["conflicts"] == [] and len(result["granted"]) == 1
    assert [r["agent"] for r in await list_active_reservations(PROJECT)] == ["RedFox"]
    released = (
        await client.call_tool("release_file_reservations", {"project_key": PROJECT, "agent_name": "BlueLake"})
    ).data
    assert released["released"] == 0
    assert (await rows())[0]["released_ts"] is None  # expired rows are left alone


async def test_release_by_path_id_and_all_is_idempotent(client):
    granted = (await reserve(client, "BlueLake", ["src/a.py", "src/b.py", "docs/**"]))["granted"]
    other = (await reserve(client, "RedFox", ["tests/**"]))["granted"][0]
    call = {"project_key": PROJECT, "agent_name": "BlueLake"}
    by_path = (await client.call_tool("release_file_reservations", {**call, "paths": ["./src/a.py"]})).data
    assert by_path["released"] == 1 and by_path["released_at"].endswith("+00:00")
    by_id = (
        await client.call_tool(
            "release_file_reservations", {**call, "file_reservation_ids": [granted[1]["id"], other["id"]]}
        )
    ).data
    assert by_id["released"] == 1  # RedFox's lease is not the caller's
    rest = (await client.call_tool("release_file_reservations", call)).data
    assert rest["released"] == 1
    again = (await client.call_tool("release_file_reservations", call)).data
    assert again["released"] == 0
    assert [r["agent"] for r in await list_active_reservations(PROJECT)] == ["RedFox"]
    assert (await reserve(client, "RedFox", ["src/**"]))["conflicts"] == []
    assert (await outbox_refs()).count(str(granted[0]["id"])) == 2  # grant + release


async def test_renew_extends_caps_and_touches_agent(client):
    lease = (await reserve(client, "BlueLake", ["src/**"], ttl_seconds=3600))["granted"][0]
    await reserve(client, "BlueLake", ["docs/**"])
    idle = update(schema.agents).values(last_active_ts=datetime(2000, 1, 1, tzinfo=UTC))
    await run_write(lambda tx: tx.execute(idle))
    result = (
        await client.call_tool(
            "renew_file_reservations",
            {"project_key": PROJECT, "agent_name": "BlueLake", "extend_seconds": 600, "paths": ["src/**"]},
        )
    ).data
    assert result["renewed"] == 1
    [item] = result["file_reservations"]
    assert item["id"] == lease["id"] and item["old_expires_ts"] == lease["expires_ts"]
    assert ts(item["new_expires_ts"]) - ts(item["old_expires_ts"]) == timedelta(seconds=600)
    capped = (
        await client.call_tool(
            "renew_file_reservations",
            {"project_key": PROJECT, "agent_name": "BlueLake", "extend_seconds": 7 * 86400},
        )
    ).data
    assert capped["renewed"] == 2
    for entry in capped["file_reservations"]:
        assert ts(entry["new_expires_ts"]) - utcnow() <= timedelta(days=7)
    [(touched,)] = db_kit.rows("agents", "last_active_ts", where="name = 'BlueLake'")
    assert touched.year > 2000
    none = (await client.call_tool("renew_file_reservations", {"project_key": PROJECT, "agent_name": "RedFox"})).data
    assert none["renewed"] == 0 and none["file_reservations"] == []


BAD_RESERVE = [
    ({"paths": []}, r"^INVALID_ARGUMENT: paths is empty \(EMPTY_PATHS\)"),
    ({"paths": ["../outside"]}, r"^INVALID_ARGUMENT: .*escapes.*Hint: use a path relative to the repository root"),
    ({"paths": ["src/ok.py", "/etc/passwd"]}, r"^INVALID_ARGUMENT: .*absolute"),
    ({"paths": ["C:\\x"]}, r"^INVALID_ARGUMENT: .*Windows drive"),
    ({"paths": ["src/a\x00.py"]}, r"^INVALID_ARGUMENT: .*control character"),
    ({"paths": ["src/a.py"], "ttl_seconds": 0}, r"^INVALID_ARGUMENT: ttl_seconds must be an integer from 60 to 604800"),
    ({"paths": ["src/a.py"], "ttl_seconds": -1}, r"^INVALID_ARGUMENT: ttl_seconds"),
    ({"paths": ["src/a.py"], "ttl_seconds": 10**9}, r"^INVALID_ARGUMENT: ttl_seconds"),
    ({"paths": ["src/a.py"], "reason": "x" * 513}, r"^INVALID_ARGUMENT: reason"),
    ({"paths": [f"f{i}.py" for i in range(101)]}, r"^INVALID_ARGUMENT: paths lists 101"),
    ({"paths": ["src/ok.py", "[z-a]"]}, r"^INVALID_ARGUMENT: .*reversed character range 'z-a'.*Hint: write each range"),
    ({"paths": ["src/[z-a]*.py"]}, r"^INVALID_ARGUMENT: path pattern 'src/\[z-a\]\*\.py' has a reversed"),
    ({"paths": ["*a" * 17]}, r"^INVALID_ARGUMENT: .*17 wildcards in one segment; at most 16"),
    ({"paths": ["/".join(["*"] * 33)]}, r"^INVALID_ARGUMENT: .*33 wildcards; at most 32"),
    ({"paths": ["src/a.py"], "agent_name": "NoSuchAgent"}, r"^NOT_FOUND: Agent"),
    ({"paths": ["src/a.py"], "project_key": "/no/such/project"}, r"^NOT_FOUND: Project"),
]


@pytest.mark.parametrize(("args", "error"), BAD_RESERVE)
async def test_bad_reserve_input_is_refused_without_changes(client, args, error):
    await reserve(client, "BlueLake", ["keep/**"])
    before, outbox = await rows(), await outbox_refs()
    call = {"project_key": PROJECT, "agent_name": "RedFox", **args}
    with pytest.raises(ToolError, match=error):
        await client.call_tool("file_reservation_paths", call)
    assert await rows() == before
    assert await outbox_refs() == outbox


@pytest.mark.parametrize(
    ("tool", "args", "error"),
    [
        ("release_file_reservations", {"paths": []}, r"^INVALID_ARGUMENT: paths is empty \(EMPTY_PATHS\)"),
        ("release_file_reservations", {"file_reservation_ids": []}, r"^INVALID_ARGUMENT: .*EMPTY_IDS"),
        ("release_file_reservations", {"paths": ["/etc/passwd"]}, r"^INVALID_ARGUMENT: .*absolute"),
        ("release_file_reservations", {"agent_name": "Nobody"}, r"^NOT_FOUND: Agent"),
        ("renew_file_reservations", {"extend_seconds": 0}, r"^INVALID_ARGUMENT: extend_seconds"),
        ("renew_file_reservations", {"extend_seconds": 10**9}, r"^INVALID_ARGUMENT: extend_seconds"),
        ("renew_file_reservations", {"file_reservation_ids": []}, r"^INVALID_ARGUMENT: .*EMPTY_IDS"),
        ("renew_file_reservations", {"project_key": "/nope"}, r"^NOT_FOUND: Project"),
    ],
)
async def test_bad_release_and_renew_input_is_refused_without_changes(client, tool, args, error):
    await reserve(client, "BlueLake", ["keep/**"])
    before = await rows()
    with pytest.raises(ToolError, match=error):
        await client.call_tool(tool, {"project_key": PROJECT, "agent_name": "BlueLake", **args})
    assert await rows() == before


async def test_retired_agent_and_archived_project_cannot_reserve(client):
    await execute("UPDATE agents SET retired_at = :t WHERE name = 'RedFox'", t=to_db_text(utcnow()))
    with pytest.raises(ToolError, match=r"^AGENT_RETIRED: "):
        await reserve(client, "RedFox", ["src/a.py"])
    await execute("UPDATE projects SET archived_at = :t", t=to_db_text(utcnow()))
    with pytest.raises(ToolError, match=r"^PROJECT_ARCHIVED: "):
        await reserve(client, "BlueLake", ["src/a.py"])
    assert await rows() == []


async def test_list_active_reservations_shape(client):
    await reserve(client, "BlueLake", ["src/**"], reason="refactor", exclusive=False)
    [item] = await list_active_reservations(PROJECT)
    assert set(item) == {"id", "agent", "path_pattern", "exclusive", "reason", "created_ts", "expires_ts"}
    assert item["agent"] == "BlueLake" and item["exclusive"] is False and item["reason"] == "refactor"


RACE_SCRIPT = """
import asyncio, json, sys, time
from mcp_agent_mail.services.reservations.leases import reserve_paths
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
result = asyncio.run(reserve_paths(sys.argv[1], sys.argv[3], ["src/**"], 3600, True, "race"))
print(json.dumps(len(result["granted"])))
"""


async def test_concurrent_processes_never_both_get_an_exclusive_lease(client, isolated_env):
    names = ["GreenCastle", "SilverPond", "AmberHill"]
    for name in names:
        await client.call_tool("register_agent", {"project_key": PROJECT, "program": "p", "model": "m", "name": name})
    start = time.time() + 1.5
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", RACE_SCRIPT, PROJECT, str(start), name, stdout=asyncio.subprocess.PIPE
        )
        for name in names
    ]
    outputs = [(await p.communicate())[0] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(int(out) for out in outputs) == [0, 0, 1]
    assert len(await list_active_reservations(PROJECT)) == 1


async def test_a_stored_pattern_that_no_longer_validates_blocks_every_request_and_says_why(client):
    # As a row restored from an old archive could hold: the server refuses "[z-a]" today.
    legacy = (await reserve(client, "BlueLake", ["legacy/**"]))["granted"][0]
    await execute("UPDATE file_reservations SET path_pattern = 'src/[z-a]*.py' WHERE id = :i", i=legacy["id"])
    before = await rows()
    result = await reserve(client, "RedFox", ["docs/readme.md", "tool://deploy"])
    assert result["granted"] == []
    assert [c["path"] for c in result["conflicts"]] == ["docs/readme.md", "tool://deploy"]
    for conflict in result["conflicts"]:
        [holder] = conflict["holders"]
        assert holder["id"] == legacy["id"] and holder["path_pattern"] == "src/[z-a]*.py"
        assert holder["pattern_error"] == (
            "path pattern 'src/[z-a]*.py' has a reversed character range 'z-a'. "
            "It is treated as overlapping every path until released."
        )
    assert await rows() == before

    own = await reserve(client, "BlueLake", ["src/app.py"])
    assert own["conflicts"] == [] and len(own["granted"]) == 1
    call = {"project_key": PROJECT, "agent_name": "BlueLake", "file_reservation_ids": [legacy["id"]]}
    assert (await client.call_tool("release_file_reservations", call)).data["released"] == 1
    after = await reserve(client, "RedFox", ["docs/readme.md"])
    assert after["conflicts"] == [] and len(after["granted"]) == 1


async def test_star_heavy_globs_against_long_names_are_decided(client):
    held = "src/*a*a*a*a*a*a*a*a*a*b"
    await reserve(client, "BlueLake", [held])
    long_name = "a" * 80  # a backtracking matcher needs hours for this one
    requested = [f"src/{long_name}.py", f"src/{long_name}b", f"src/x{long_name}b/c.py", f"src/{long_name}/b"]
    result = await reserve(client, "RedFox", requested)
    assert [g["path_pattern"] for g in result["granted"]] == [f"src/{long_name}.py", f"src/{long_name}/b"]
    assert [c["path"] for c in result["conflicts"]] == [f"src/{long_name}b", f"src/x{long_name}b/c.py"]
    assert {h["path_pattern"] for c in result["conflicts"] for h in c["holders"]} == {held}


async def test_a_request_too_heavy_to_decide_inside_the_write_gets_the_full_answer(client):
    # 40 x 40 star-heavy pairs take far longer than a write may spend deciding them under the
    # lock: they are decided before the write, which then only looks them up.
    held = [f"gen/{i}/*a*a*a*a*a*a*a*a*{'b' if i % 2 else 'c'}" for i in range(40)]
    await reserve(client, "BlueLake", held)
    requested = [f"gen/{i % 40}/{'a' * (60 + i)}{'b' if i % 3 else 'd'}" for i in range(40)]
    result = await reserve(client, "RedFox", requested)
    expected = [p for p in requested if any(patterns_overlap(h, p) for h in held)]
    assert expected and len(expected) < len(requested)
    assert [c["path"] for c in result["conflicts"]] == expected
    for conflict in result["conflicts"]:
        assert [h["path_pattern"] for h in conflict["holders"]] == [
            h for h in held if patterns_overlap(h, conflict["path"])
        ]
    assert [g["path_pattern"] for g in result["granted"]] == [p for p in requested if p not in expected]
