"""Fixtures for fault tests: a mailbox in a temporary directory and real ``mcp-agent-mail serve`` processes."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from load_http import ServerProcess, mailbox_env


@dataclass
class Mailbox:
    """Where one test's database, archive and server logs live, and the servers started on them."""

    root: Path
    database: str  # the database URL, on the run's backend
    servers: list[ServerProcess] = field(default_factory=list)

    @property
    def sqlite_file(self) -> Path:
        """The SQLite database file (when the run uses SQLite)."""
        return self.root / "mailbox.sqlite3"

    @property
    def storage(self) -> Path:
        """The Git archive root."""
        return self.root / "archive"

    @property
    def log(self) -> Path:
        """The log every server of this mailbox appends to."""
        return self.root / "server.log"

    def env(self, **extra: str) -> dict[str, str]:
        """Return the server environment for this mailbox, with extra settings."""
        return mailbox_env(self.root, self.database, **extra)

    def start(self, **extra: str) -> ServerProcess:
        """Start a server on this mailbox and wait until it answers; it is stopped after the test."""
        server = ServerProcess(self.env(**extra), self.log)
        self.servers.append(server)
        try:
            server.wait_alive()
        except RuntimeError as exc:
            pytest.fail(str(exc))
        return server


@pytest.fixture
def mailbox(tmp_path: Path, new_database_url: Callable[[Path], str]) -> Iterator[Mailbox]:
    """A fresh mailbox; every server started on it is stopped (SIGKILL if SIGTERM hangs) at teardown."""
    box = Mailbox(tmp_path, new_database_url(tmp_path / "mailbox.sqlite3"))
    try:
        yield box
    finally:
        for server in box.servers:
            server.stop(grace=10)


@pytest.fixture
def settings_for(monkeypatch: pytest.MonkeyPatch) -> Callable[[Mailbox], None]:
    """Point this test process's settings at a mailbox (for doctor, render and flush calls made in-process)."""
    from mcp_agent_mail.archive import clear_repo_cache
    from mcp_agent_mail.config import clear_settings_cache
    from mcp_agent_mail.db import reset_database_state

    def apply(box: Mailbox) -> None:
        for key, value in box.env().items():
            if key.startswith(("DATABASE_", "STORAGE_", "MCP_AGENT_MAIL_HOME", "APP_ENVIRONMENT")):
                monkeypatch.setenv(key, value)
        clear_repo_cache()
        reset_database_state()
        clear_settings_cache()

    return apply
