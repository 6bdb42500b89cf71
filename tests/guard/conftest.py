"""Fixtures for the Git guard: a real repository with one commit, and the mailbox project for it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gitrepo import run_git
from mcp_agent_mail.services.identity.projects import ensure_project

Git = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def git() -> Git:
    """Return a function running git in a directory: ``git(repo, "status")``."""
    return run_git


@pytest.fixture
def repo(code_repo: Path) -> Path:
    """A Git work tree with one commit, isolated from the machine's global and system Git config."""
    return code_repo


@pytest.fixture
async def project(isolated_env: dict[str, Path], repo: Path) -> dict[str, Any]:
    """The mailbox project whose human key is ``repo`` (a real SQLite database with the schema)."""
    return await ensure_project(str(repo))
