"""Fixtures for the Git guard: a real repository with one commit, and the mailbox project for it."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from gitrepo import run_git
from mcp_agent_mail.services.identity.projects import ensure_project
from pg_cluster import on_postgresql

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
def postgresql_only() -> None:
    """Skip the test unless the run uses PostgreSQL (MCP_AGENT_MAIL_TEST_BACKEND=postgresql)."""
    if not on_postgresql():
        pytest.skip("PostgreSQL only: run with MCP_AGENT_MAIL_TEST_BACKEND=postgresql")


@pytest.fixture
async def project(isolated_env: dict[str, Path], repo: Path) -> dict[str, Any]:
    """The mailbox project whose human key is ``repo`` (in the test's SQLite or PostgreSQL database)."""
    return await ensure_project(str(repo))
