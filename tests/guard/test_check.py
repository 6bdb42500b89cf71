"""Reading conflicts from the mailbox database read-only, and ``run_check`` behind ``guard check``."""

from __future__ import annotations

import asyncio
import os
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from guard_kit import edit_reservation, guard_mailbox
from sqlalchemy import update

from gitrepo import init_repo, run_git
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.db import schema, sync_write_connection
from mcp_agent_mail.guard.check import (
    Conflict,
    MailboxUnreadable,
    find_conflicts,
    normalise_path,
    project_slug_for_repo,
)
from mcp_agent_mail.guard.hook import run_check


def mcp(*calls: tuple[str, dict[str, Any]]) -> list[Any]:
    """Call MCP tools in order through one in-memory client and return their results."""

    async def run() -> list[Any]:
        async with Client(build_mcp_server()) as c:
            return [(await c.call_tool(name, args)).data for name, args in calls]

    return asyncio.run(run())


def reserve(key: str, agent: str, paths: list[str], **extra: Any) -> tuple[str, dict[str, Any]]:
    """One ``file_reservation_paths`` call for ``mcp``."""
    return ("file_reservation_paths", {"project_key": key, "agent_name": agent, "paths": paths, **extra})


@pytest.fixture
def mailbox(isolated_env: dict[str, Path], isolated_git: None, tmp_path: Path) -> dict[str, Any]:
    """A Git repository registered as a project: BlueLake holds ``src/**``, RedFox ``lib/**`` and ``docs/**``.

    ``db`` is the mailbox as the guard reads it: the SQLite file, or the PostgreSQL database.
    """
    repo = init_repo(tmp_path / "code", files={}, commit=False)
    key = str(repo)
    project, *_, blue, red = mcp(
        ("ensure_project", {"human_key": key}),
        ("register_agent", {"project_key": key, "program": "p", "model": "m", "name": "BlueLake"}),
        ("register_agent", {"project_key": key, "program": "p", "model": "m", "name": "RedFox"}),
        reserve(key, "BlueLake", ["src/**"]),
        reserve(key, "RedFox", ["lib/**", "docs/**"]),
    )
    leases = {g["path_pattern"]: g for g in [*blue["granted"], *red["granted"]]}
    return {"repo": repo, "slug": project["slug"], "db": guard_mailbox(), "leases": leases}


def expires(lease: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(lease["expires_ts"])


def test_conflicts_name_path_pattern_holder_and_expiry(mailbox):
    found = find_conflicts(
        mailbox["db"], mailbox["slug"], ["src/app.py", "lib/x.py", "docs/a.md", "README.md"], agent_name=None
    )
    leases = mailbox["leases"]
    assert found == [
        Conflict("src/app.py", "src/**", "BlueLake", expires(leases["src/**"])),
        Conflict("lib/x.py", "lib/**", "RedFox", expires(leases["lib/**"])),
        Conflict("docs/a.md", "docs/**", "RedFox", expires(leases["docs/**"])),
    ]
    assert found[0].expires_ts.utcoffset() is not None and found[0].expires_ts.utcoffset().total_seconds() == 0


@pytest.mark.parametrize("agent", ["RedFox", "redfox", "Red-Fox", " REDFOX "])
def test_the_agents_own_reservations_are_skipped_whatever_the_spelling(mailbox, agent):
    found = find_conflicts(mailbox["db"], mailbox["slug"], ["src/app.py", "docs/a.md"], agent_name=agent)
    assert [(c.path, c.holder) for c in found] == [("src/app.py", "BlueLake")]


def test_paths_are_normalised_and_deduplicated(mailbox):
    assert normalise_path(".\\src\\a.py") == "src/a.py"
    assert normalise_path("/./src/a.py") == "src/a.py"
    paths = ["./src/a.py", "/src/a.py", "src\\a.py", "src/a.py", "", "  "]
    found = find_conflicts(mailbox["db"], mailbox["slug"], paths, agent_name="RedFox")
    assert [c.path for c in found] == ["src/a.py"]
    assert find_conflicts(mailbox["db"], mailbox["slug"], [], agent_name=None) == []


def test_ignorecase_lowercases_both_sides(mailbox):
    args = (mailbox["db"], mailbox["slug"], ["SRC/App.py"])
    assert find_conflicts(*args, agent_name="RedFox") == []
    [hit] = find_conflicts(*args, agent_name="RedFox", ignorecase=True)
    assert (hit.path, hit.pattern, hit.holder) == ("SRC/App.py", "src/**", "BlueLake")


def test_reads_while_a_writer_holds_its_transaction(mailbox):
    class RolledBack(Exception):
        pass

    with pytest.raises(RolledBack), sync_write_connection() as writer:  # BEGIN IMMEDIATE on SQLite
        writer.execute(update(schema.file_reservations).values(reason="busy"))
        found = find_conflicts(mailbox["db"], mailbox["slug"], ["src/app.py"], agent_name="RedFox")
        assert [c.holder for c in found] == ["BlueLake"]
        raise RolledBack


@pytest.mark.sqlite_only
def test_never_writes_the_database_file(mailbox):
    before = mailbox["db"].stat().st_mtime_ns, mailbox["db"].read_bytes()
    find_conflicts(mailbox["db"], mailbox["slug"], ["src/app.py"], agent_name=None)
    assert (mailbox["db"].stat().st_mtime_ns, mailbox["db"].read_bytes()) == before


def test_a_missing_project_is_unreadable(mailbox):
    with pytest.raises(MailboxUnreadable, match="has no project 'elsewhere'") as caught:
        find_conflicts(mailbox["db"], "elsewhere", ["src/app.py"], agent_name=None)
    assert caught.value.path == mailbox["db"]


@pytest.mark.sqlite_only
def test_unreadable_mailbox_files_raise(mailbox, tmp_path):
    missing = tmp_path / "gone.sqlite3"
    with pytest.raises(MailboxUnreadable) as caught:
        find_conflicts(missing, mailbox["slug"], ["a"], agent_name=None)
    assert caught.value.path == missing and caught.value.why == "the file does not exist"
    assert not missing.exists()
    empty = tmp_path / "empty.sqlite3"
    sqlite3.connect(empty).close()
    with pytest.raises(MailboxUnreadable, match="not a mailbox database"):
        find_conflicts(empty, mailbox["slug"], ["a"], agent_name=None)
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(MailboxUnreadable, match="not a database"):
        find_conflicts(garbage, mailbox["slug"], ["a"], agent_name=None)
    with pytest.raises(MailboxUnreadable, match="not a file"):
        find_conflicts(tmp_path, mailbox["slug"], ["a"], agent_name=None)


def test_project_slug_for_repo_accepts_the_root_or_a_link_to_it(mailbox, tmp_path):
    assert project_slug_for_repo(mailbox["db"], mailbox["repo"]) == mailbox["slug"]
    link = tmp_path / "link"
    link.symlink_to(mailbox["repo"])
    assert project_slug_for_repo(mailbox["db"], link) == mailbox["slug"]
    assert project_slug_for_repo(mailbox["db"], tmp_path) is None


def test_run_check_reports_and_exits_per_advisory(mailbox, capsys):
    stdin = "src/app.py\0README.md\0src/app.py\0"  # as ``guard check --stdin-nul`` reads it
    paths = stdin.split("\0")
    assert run_check(paths, repo=mailbox["repo"], agent_name="RedFox", advisory=False) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[:2] == [
        "[guard check] mcp-agent-mail: 1 file is reserved by other agents:",
        f"  src/app.py  matches src/**  (held by BlueLake until "
        f"{expires(mailbox['leases']['src/**']).isoformat(timespec='seconds')})",
    ]
    assert "README.md" not in err
    assert run_check(paths, repo=mailbox["repo"], agent_name="RedFox", advisory=True) == 0
    assert "src/app.py  matches src/**" in capsys.readouterr().err
    sub = mailbox["repo"] / "src"
    sub.mkdir()
    assert (
        run_check(
            ["src/app.py", "lib/x.py"], repo=sub, agent_name="bluelake", advisory=False, database_path=mailbox["db"]
        )
        == 1
    )
    assert "held by RedFox" in capsys.readouterr().err
    assert run_check(["tests/x.py"], repo=mailbox["repo"], agent_name=None, advisory=False) == 0
    assert capsys.readouterr().err == ""


def test_run_check_refuses_unknown_repositories_and_mailboxes(mailbox, tmp_path, capsys):
    other = tmp_path / "other"
    other.mkdir()
    assert run_check(["a"], repo=other, agent_name=None, advisory=False) == 1
    assert "is not inside a Git work tree" in capsys.readouterr().err
    run_git(other, "init", "-q")
    assert run_check(["a"], repo=other, agent_name=None, advisory=False) == 1
    assert f"no mailbox project has the human key {other.resolve()}" in capsys.readouterr().err
    assert run_check(["a"], repo=other, agent_name=None, advisory=True) == 0
    missing = tmp_path / "missing.sqlite3"
    assert run_check(["a"], repo=mailbox["repo"], agent_name=None, advisory=False, database_path=missing) == 1
    assert f"cannot read the mailbox at {missing}" in capsys.readouterr().err
    assert not os.path.exists(missing)


def test_run_check_in_a_linked_worktree_uses_the_main_tree_project(mailbox, tmp_path, capsys):
    repo = mailbox["repo"]
    (repo / "README.md").write_text("readme\n")
    run_git(repo, "add", "README.md")
    assert run_git(repo, "commit", "-q", "-m", "initial").returncode == 0
    linked = tmp_path / "linked"
    assert run_git(repo, "worktree", "add", "-q", str(linked)).returncode == 0
    assert run_check(["src/app.py"], repo=linked, agent_name="RedFox", advisory=False) == 1
    assert "src/app.py  matches src/**  (held by BlueLake" in capsys.readouterr().err


def test_an_unreadable_stored_pattern_covers_every_path_and_is_reported(mailbox, capsys):
    # A row restored from an old archive may hold a pattern the server refuses today.
    lease = mailbox["leases"]["lib/**"]
    edit_reservation(lease["id"], path_pattern="lib/[z-a]*.py")
    found = find_conflicts(mailbox["db"], mailbox["slug"], ["README.md", "src/app.py"], agent_name="BlueLake")
    problem = "path pattern 'lib/[z-a]*.py' has a reversed character range 'z-a'."
    assert found == [
        Conflict("README.md", "lib/[z-a]*.py", "RedFox", expires(lease), problem),
        Conflict("src/app.py", "lib/[z-a]*.py", "RedFox", expires(lease), problem),
    ]
    assert run_check(["README.md"], repo=mailbox["repo"], agent_name="BlueLake", advisory=False) == 1
    err = capsys.readouterr().err
    assert err.splitlines()[:2] == [
        "[guard check] mcp-agent-mail: 1 file is reserved by other agents:",
        f"  README.md  is covered by the unreadable pattern lib/[z-a]*.py  (held by RedFox until "
        f"{expires(lease).isoformat(timespec='seconds')})",
    ]
    assert (
        f"[guard check] RedFox's reservation cannot be read: {problem} It counts as covering every path "
        "until RedFox releases it or it expires."
    ) in err
    assert "Traceback" not in err
    assert run_check(["README.md"], repo=mailbox["repo"], agent_name="RedFox", advisory=False) == 0


def test_ignorecase_folds_character_classes_as_stored(mailbox):
    key = str(mailbox["repo"])
    mcp(reserve(key, "BlueLake", ["Notes/[Z-a]*"]))  # lowercased, the range would read z-a
    args = (mailbox["db"], mailbox["slug"], ["notes/zeta.md", "notes/beta.md"])
    assert find_conflicts(*args, agent_name="RedFox") == []
    found = find_conflicts(*args, agent_name="RedFox", ignorecase=True)
    assert [(c.path, c.pattern, c.holder) for c in found] == [("notes/zeta.md", "Notes/[Z-a]*", "BlueLake")]


def test_star_heavy_reservations_are_checked_against_long_paths(mailbox):
    key = str(mailbox["repo"])
    mcp(reserve(key, "BlueLake", ["gen/*a*a*a*a*a*a*a*a*a*b"]))
    long_name = "a" * 80  # a backtracking matcher needs hours for this one
    paths = [f"gen/{long_name}.py", f"gen/{long_name}b/x.py", f"gen/{long_name}"]
    found = find_conflicts(mailbox["db"], mailbox["slug"], paths, agent_name="RedFox")
    assert [(c.path, c.pattern) for c in found] == [(f"gen/{long_name}b/x.py", "gen/*a*a*a*a*a*a*a*a*a*b")]
