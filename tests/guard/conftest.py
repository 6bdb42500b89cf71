"""Fixtures for the Git guard: a real repository with one commit, and the mailbox project for it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mcp_agent_mail.services.projects import ensure_project

Git = Callable[..., subprocess.CompletedProcess[str]]


def run_git(repo: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run git in ``repo`` and return the finished process (never raises on a non-zero exit)."""
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True, check=False)


@pytest.fixture
def git() -> Git:
    """Return a function running git in a directory: ``git(repo, "status")``."""
    return run_git


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A Git work tree with one commit, isolated from the machine's global and system Git config."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("AGENT_NAME", "AGENT_MAIL_BYPASS", "AGENT_MAIL_GUARD_MODE"):
        monkeypatch.delenv(name, raising=False)
    path = tmp_path / "code"
    path.mkdir()
    run_git(path, "init", "-q", "-b", "main")
    run_git(path, "config", "user.name", "Tester")
    run_git(path, "config", "user.email", "tester@example.com")
    (path / "src").mkdir()
    (path / "src" / "app.py").write_text("print('v1')\n")
    (path / "README.md").write_text("readme\n")
    run_git(path, "add", "-A")
    assert run_git(path, "commit", "-q", "-m", "initial").returncode == 0
    return path


@pytest.fixture
async def project(isolated_env: dict[str, Path], repo: Path) -> dict[str, Any]:
    """The mailbox project whose human key is ``repo`` (a real SQLite database with the schema)."""
    return await ensure_project(str(repo))
