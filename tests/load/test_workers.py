"""`serve --workers 2`: two worker processes answer one endpoint and share the mailbox without loss."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import load_http

from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.services.recovery.server_registry import registry_paths

pytestmark = pytest.mark.slow


class _WorkersServer(load_http.ServerProcess):
    """A ``serve --workers 2`` process on a free loopback port."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.port = load_http.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.url = f"{self.base}/mcp/"
        with log.open("ab") as sink:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "mcp_agent_mail", "serve", "--port", str(self.port), "--workers", "2"],
                env=env,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )


def _wait_for_registrations(directory: Path, count: int, timeout: float) -> set[str]:
    """Poll the server registry until ``count`` processes have registered or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    names: set[str] = set()
    while time.monotonic() < deadline:
        names = {path.name for path in directory.iterdir()} if directory.is_dir() else set()
        if len(names) >= count:
            break
        time.sleep(0.1)
    return names


def _registry_dir(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the servers of the mailbox ``env`` describes register (beside a SQLite file, else in the data dir)."""
    for name in ("DATABASE_URL", "MCP_AGENT_MAIL_HOME", "STORAGE_ROOT"):
        monkeypatch.setenv(name, env[name])
    clear_settings_cache()
    return registry_paths(get_settings()).sidecar_dir


async def test_two_workers_serve_one_mailbox(
    tmp_path: Path, new_database_url: Callable[[Path], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    database = new_database_url(tmp_path / "mailbox.sqlite3")
    env = load_http.mailbox_env(tmp_path, database)
    storage = tmp_path / "archive"
    registry = _registry_dir(env, monkeypatch)
    server = _WorkersServer(env, tmp_path / "server.log")
    try:
        server.wait_alive(timeout=40)
        # The parent registers the HTTP server; each worker's MCP lifespan registers itself too.
        # A busy machine may start the second worker a little after the first one answers.
        registered = _wait_for_registrations(registry, 3, timeout=40)
        result = await load_http.run_load(server.url, 6, 6)
        left = load_http.wait_for_archive(database, timeout=30)
        assert server.proc.poll() is None, server.log_tail()
    finally:
        server.stop()
    assert len(registered) >= 3, registered
    assert left == 0
    assert not result.errors, result.errors[:5]
    report = load_http.audit(database, storage, result.acked)
    assert report.ok, report.summary()
    assert report.stored == len(result.acked) == len(set(result.acked))
