"""Shared fixtures: every test gets its own database file and archive root."""

from __future__ import annotations

import gc
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from gitrepo import init_repo
from mcp_agent_mail.archive import clear_repo_cache
from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.db import reset_database_state

# MCP_AGENT_MAIL_TEST_BACKEND=postgresql runs the suite on a private PostgreSQL cluster (see tests/pg_cluster.py).
pytest_plugins = ["pg_cluster"]


def _reset_caches() -> None:
    clear_repo_cache()
    reset_database_state()
    clear_settings_cache()


@pytest.fixture
def isolated_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pg_database_url: str | None
) -> Iterator[dict[str, Path]]:
    """Point DATABASE_URL at a fresh database (SQLite file or PostgreSQL) and STORAGE_ROOT at a temporary directory."""
    db_path = tmp_path / "test.sqlite3"
    storage = tmp_path / "storage"
    monkeypatch.setenv("MCP_AGENT_MAIL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("DATABASE_URL", pg_database_url or f"sqlite+aiosqlite:///{db_path}")
    monkeypatch.setenv("STORAGE_ROOT", str(storage))
    monkeypatch.setenv("HTTP_HOST", "127.0.0.1")
    monkeypatch.setenv("HTTP_PORT", "8765")
    monkeypatch.setenv("HTTP_PATH", "/mcp/")
    monkeypatch.setenv("APP_ENVIRONMENT", "test")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "test-agent")
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", "test@example.com")
    monkeypatch.setenv("INLINE_IMAGE_MAX_BYTES", "128")
    _reset_caches()
    yield {"tmp_path": tmp_path, "db_path": db_path, "storage": storage}
    _reset_caches()
    gc.collect()  # close what the test left unreferenced before its files go
    gc.freeze()  # and keep survivors out of later collections, which would otherwise grow with the suite
    shutil.rmtree(storage, ignore_errors=True)
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db_path}{suffix}").unlink(missing_ok=True)


@pytest.fixture
def isolated_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep git away from the machine's global and system config and the guard's AGENT_* variables."""
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "gitconfig"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in ("AGENT_NAME", "AGENT_MAIL_BYPASS", "AGENT_MAIL_GUARD_MODE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def code_repo(isolated_git: None, tmp_path: Path) -> Path:
    """A Git work tree at ``tmp_path / "code"`` with one commit (src/app.py, README.md), isolated as above."""
    return init_repo(tmp_path / "code")


@pytest.fixture(autouse=True)
def _always_reset() -> Iterator[None]:
    yield
    _reset_caches()
