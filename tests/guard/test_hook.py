"""The installed guard in real repositories: real ``git commit`` / ``git push`` runs against a real mailbox."""

from __future__ import annotations

import asyncio
import os
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client
from guard_kit import edit_reservation, hook_mailbox, unreachable_target

from gitrepo import run_git
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.guard.hook import parse_name_status
from mcp_agent_mail.guard.mailbox import parse_postgres_url
from mcp_agent_mail.services.reservations.guard_install import MailboxTarget, install_guard
from mcp_agent_mail.timeutil import utcnow


def sh_git(repo: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run git in ``repo`` with extra environment and return the finished process."""
    return run_git(repo, *args, env={**os.environ, **env})


def mcp(*calls: tuple[str, dict[str, Any]]) -> list[Any]:
    """Call MCP tools in order through one in-memory client and return their results."""

    async def run() -> list[Any]:
        async with Client(build_mcp_server()) as c:
            return [(await c.call_tool(name, args)).data for name, args in calls]

    return asyncio.run(run())


@dataclass
class Guarded:
    """A guarded repository: its path, the mailbox its hooks read, and BlueLake's ``src/**`` reservation."""

    path: Path
    slug: str
    database: MailboxTarget
    reservation: dict[str, Any]

    def reserve(self, agent: str, paths: list[str], **extra: Any) -> dict[str, Any]:
        """Reserve ``paths`` for ``agent`` through the MCP tool; return the granted lease."""
        args = {"project_key": str(self.path), "agent_name": agent, "paths": paths, **extra}
        [result] = mcp(("file_reservation_paths", args))
        return result["granted"][0]

    def release(self, agent: str, paths: list[str]) -> None:
        """Release ``agent``'s reservations on ``paths`` through the MCP tool."""
        mcp(("release_file_reservations", {"project_key": str(self.path), "agent_name": agent, "paths": paths}))

    def head(self) -> str:
        """Return the commit HEAD names."""
        return sh_git(self.path, "rev-parse", "HEAD").stdout.strip()

    def commit(self, *files: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Change ``files`` (creating them as needed), stage them and run a real ``git commit``."""
        for name in files:
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text((target.read_text() if target.exists() else "") + "more\n")
            sh_git(self.path, "add", name)
        return sh_git(self.path, "commit", "-q", "-m", f"edit {' '.join(files)}", **env)


@pytest.fixture
def guarded(isolated_env: dict[str, Path], code_repo: Path) -> Guarded:
    """A repository with the guard installed (pre-commit and pre-push) and BlueLake holding ``src/**``."""
    repo = code_repo
    key = str(repo)
    project, *_, reserved = mcp(
        ("ensure_project", {"human_key": key}),
        ("register_agent", {"project_key": key, "program": "p", "model": "m", "name": "BlueLake"}),
        ("register_agent", {"project_key": key, "program": "p", "model": "m", "name": "RedFox"}),
        (
            "file_reservation_paths",
            {
                "project_key": key,
                "agent_name": "BlueLake",
                "paths": ["src/**"],
                "exclusive": True,
                "reason": "refactor",
            },
        ),
    )
    mailbox = hook_mailbox()
    install_guard(repo, mailbox=mailbox, project_slug=project["slug"], prepush=True)
    return Guarded(repo, project["slug"], mailbox, reserved["granted"][0])


def until(lease: dict[str, Any]) -> str:
    """The expiry of ``lease`` as the guard prints it."""
    return datetime.fromisoformat(lease["expires_ts"]).isoformat(timespec="seconds")


def test_another_agents_commit_of_a_reserved_file_is_refused(guarded):
    before = guarded.head()
    refused = guarded.commit("src/app.py", AGENT_NAME="RedFox")
    assert refused.returncode != 0
    assert refused.stderr.splitlines()[:2] == [
        "[pre-commit] mcp-agent-mail: 1 file is reserved by other agents:",
        f"  src/app.py  matches src/**  (held by BlueLake until {until(guarded.reservation)})",
    ]
    assert until(guarded.reservation).endswith("+00:00")
    assert "Coordinate with the holder (send_message) or wait" in refused.stderr
    assert "AGENT_NAME is not set" not in refused.stderr
    assert guarded.head() == before
    assert "src/app.py" in sh_git(guarded.path, "diff", "--cached", "--name-only").stdout

    sh_git(guarded.path, "reset", "-q")
    unrelated = guarded.commit("README.md", AGENT_NAME="RedFox")
    assert unrelated.returncode == 0, unrelated.stderr
    assert unrelated.stderr == "" and guarded.head() != before


@pytest.mark.parametrize("agent", ["bluelake", " Blue-Lake "])
def test_the_holder_commits_its_own_reserved_files(guarded, agent):
    before = guarded.head()
    done = guarded.commit("src/app.py", AGENT_NAME=agent)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and guarded.head() != before


def test_shared_released_expired_and_virtual_reservations_do_not_block(guarded):
    guarded.reserve("BlueLake", ["docs/**"], exclusive=False)
    guarded.reserve("BlueLake", ["tool://deploy"])
    expired = guarded.reserve("BlueLake", ["lib/**"])
    edit_reservation(expired["id"], expires_ts=utcnow() - timedelta(minutes=1))
    blocked = guarded.commit("docs/guide.md", "lib/util.py", "src/app.py", AGENT_NAME="RedFox")
    assert blocked.returncode != 0
    assert "1 file is reserved" in blocked.stderr and "  src/app.py  matches src/**" in blocked.stderr
    assert "docs/guide.md" not in blocked.stderr and "lib/util.py" not in blocked.stderr

    guarded.release("BlueLake", ["src/**"])
    before = guarded.head()
    done = sh_git(guarded.path, "commit", "-q", "-m", "all three", AGENT_NAME="RedFox")
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and guarded.head() != before


def test_a_rename_of_a_reserved_file_is_caught_by_its_old_name(guarded):
    before = guarded.head()
    sh_git(guarded.path, "mv", "src/app.py", "app.py")
    refused = sh_git(guarded.path, "commit", "-q", "-m", "move", AGENT_NAME="RedFox")
    assert refused.returncode != 0
    assert "  src/app.py  matches src/**  (held by BlueLake" in refused.stderr
    assert "  app.py  matches" not in refused.stderr
    assert guarded.head() == before


def test_warn_mode_commits_and_prints_the_conflicts(guarded):
    before = guarded.head()
    done = guarded.commit("src/app.py", AGENT_NAME="RedFox", AGENT_MAIL_GUARD_MODE="Warn")
    assert done.returncode == 0, done.stderr
    assert "  src/app.py  matches src/**  (held by BlueLake" in done.stderr
    assert "[pre-commit] AGENT_MAIL_GUARD_MODE=warn: continuing anyway." in done.stderr
    assert guarded.head() != before


@pytest.mark.parametrize("value", ["1", "YES", "true"])
def test_bypass_commits_with_one_notice(guarded, value):
    before = guarded.head()
    done = guarded.commit("src/app.py", AGENT_NAME="RedFox", AGENT_MAIL_BYPASS=value)
    assert done.returncode == 0, done.stderr
    assert done.stderr == "[pre-commit] mcp-agent-mail guard bypassed (AGENT_MAIL_BYPASS)\n"
    assert guarded.head() != before


def test_without_agent_name_every_holder_counts(guarded):
    before = guarded.head()
    refused = guarded.commit("src/app.py")
    assert refused.returncode != 0
    assert "  src/app.py  matches src/**  (held by BlueLake" in refused.stderr
    assert "AGENT_NAME is not set, so every holder counts: set AGENT_NAME=<your agent name>" in refused.stderr
    assert guarded.head() == before

    sh_git(guarded.path, "reset", "-q")
    done = guarded.commit("README.md")
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and guarded.head() != before


@pytest.mark.sqlite_only
def test_a_missing_mailbox_refuses_in_block_mode_and_warns_in_warn_mode(guarded):
    assert isinstance(guarded.database, Path)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{guarded.database}{suffix}").unlink(missing_ok=True)
    before = guarded.head()
    refused = guarded.commit("README.md", AGENT_NAME="RedFox")
    assert refused.returncode != 0
    message = (
        f"[pre-commit] mcp-agent-mail guard cannot read the mailbox at {guarded.database}: the file does not exist"
    )
    assert refused.stderr.splitlines()[0] == message
    assert "mcp-agent-mail guard install" in refused.stderr and "AGENT_MAIL_BYPASS=1" in refused.stderr
    assert guarded.head() == before
    assert not guarded.database.exists()

    warned = sh_git(guarded.path, "commit", "-q", "-m", "warned", AGENT_NAME="RedFox", AGENT_MAIL_GUARD_MODE="warn")
    assert warned.returncode == 0, warned.stderr
    assert warned.stderr.splitlines()[0] == message
    assert guarded.head() != before


@pytest.mark.usefixtures("postgresql_only")
def test_an_unreachable_postgresql_mailbox_refuses_in_block_mode_and_warns_in_warn_mode(guarded):
    moved = unreachable_target(guarded.database)
    install_guard(guarded.path, mailbox=moved, project_slug=guarded.slug)
    target = parse_postgres_url(moved.url)
    before = guarded.head()
    refused = guarded.commit("README.md", AGENT_NAME="RedFox")
    assert refused.returncode != 0
    first = refused.stderr.splitlines()[0]
    assert first.startswith(
        f"[pre-commit] mcp-agent-mail guard cannot read the mailbox at {target}: PostgreSQL at {target.address} "
        f"(database {target.dbname}, user {target.user}) cannot be reached: "
    )
    assert "refused" in first.lower()
    assert "Check that the database is up" in refused.stderr and "AGENT_MAIL_BYPASS=1" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert guarded.head() == before
    assert "README.md" in sh_git(guarded.path, "diff", "--cached", "--name-only").stdout

    warned = sh_git(guarded.path, "commit", "-q", "-m", "warned", AGENT_NAME="RedFox", AGENT_MAIL_GUARD_MODE="warn")
    assert warned.returncode == 0, warned.stderr
    assert warned.stderr.splitlines()[0] == first
    assert guarded.head() != before


def test_pre_push_refuses_commits_touching_reserved_paths_until_released(guarded, tmp_path):
    remote = tmp_path / "remote.git"
    sh_git(tmp_path, "init", "-q", "--bare", str(remote))
    sh_git(guarded.path, "remote", "add", "origin", str(remote))
    assert sh_git(guarded.path, "push", "-q", "--no-verify", "origin", "main").returncode == 0
    published = guarded.head()
    (guarded.path / "src" / "app.py").write_text("print('v2')\n")
    sh_git(guarded.path, "commit", "-q", "--no-verify", "-am", "reserved edit")
    assert guarded.commit("README.md", AGENT_NAME="RedFox").returncode == 0

    refused = sh_git(guarded.path, "push", "origin", "main", AGENT_NAME="RedFox")
    assert refused.returncode != 0
    assert "[pre-push] mcp-agent-mail: 1 file is reserved by other agents:" in refused.stderr
    assert "  src/app.py  matches src/**  (held by BlueLake" in refused.stderr
    assert "README.md" not in refused.stderr
    assert sh_git(remote, "rev-parse", "main").stdout.strip() == published

    sh_git(guarded.path, "branch", "old", published)
    assert sh_git(guarded.path, "push", "-q", "--no-verify", "origin", "old").returncode == 0
    deleted = sh_git(guarded.path, "push", "-q", "origin", "--delete", "old", AGENT_NAME="RedFox")
    assert deleted.returncode == 0 and deleted.stderr == ""

    guarded.release("BlueLake", ["src/**"])
    pushed = sh_git(guarded.path, "push", "-q", "origin", "main", AGENT_NAME="RedFox")
    assert pushed.returncode == 0, pushed.stderr
    assert sh_git(remote, "rev-parse", "main").stdout.strip() == guarded.head()


def test_core_ignorecase_makes_other_spellings_match(guarded):
    guarded.reserve("BlueLake", ["Docs/**"])
    done = guarded.commit("docs/guide.md", AGENT_NAME="RedFox")
    assert done.returncode == 0, done.stderr
    sh_git(guarded.path, "config", "core.ignorecase", "true")
    before = guarded.head()
    refused = guarded.commit("docs/guide.md", AGENT_NAME="RedFox")
    assert refused.returncode != 0
    assert "  docs/guide.md  matches Docs/**  (held by BlueLake" in refused.stderr
    assert guarded.head() == before


def test_an_unreadable_stored_pattern_refuses_commits_with_a_reason_until_released(guarded):
    legacy = guarded.reserve("BlueLake", ["legacy/**"])
    edit_reservation(legacy["id"], path_pattern="[z-a]")
    before = guarded.head()
    refused = guarded.commit("README.md", AGENT_NAME="RedFox")
    assert refused.returncode != 0
    assert f"  README.md  is covered by the unreadable pattern [z-a]  (held by BlueLake until {until(legacy)})" in (
        refused.stderr
    )
    assert (
        "[pre-commit] BlueLake's reservation cannot be read: path pattern '[z-a]' has a reversed character "
        "range 'z-a'. It counts as covering every path until BlueLake releases it or it expires."
    ) in refused.stderr
    assert "Traceback" not in refused.stderr and guarded.head() == before

    mcp(
        (
            "release_file_reservations",
            {"project_key": str(guarded.path), "agent_name": "BlueLake", "file_reservation_ids": [legacy["id"]]},
        )
    )
    done = sh_git(guarded.path, "commit", "-q", "-m", "readme", AGENT_NAME="RedFox")
    assert done.returncode == 0, done.stderr
    assert guarded.head() != before


def test_name_status_parsing_keeps_both_names_of_renames_and_copies():
    output = b"M\0a.py\0R100\0old/b.py\0new/b.py\0C75\0c.py\0d.py\0D\0a.py\0A\0caf\xc3\xa9.md\0"
    assert parse_name_status(output) == ["a.py", "old/b.py", "new/b.py", "c.py", "d.py", "café.md"]
    assert parse_name_status(b"") == []
