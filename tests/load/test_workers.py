"""`serve --workers 2`: two worker processes answer one endpoint and share the mailbox without loss."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import load_http


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
                env=env, stdout=sink, stderr=subprocess.STDOUT,
            )


async def test_two_workers_serve_one_mailbox(tmp_path: Path) -> None:
    env = load_http.mailbox_env(tmp_path)
    db_path, storage = tmp_path / "mailbox.sqlite3", tmp_path / "archive"
    server = _WorkersServer(env, tmp_path / "server.log")
    try:
        server.wait_alive(timeout=40)
        result = await load_http.run_load(server.url, 6, 6)
        left = load_http.wait_for_archive(db_path, timeout=30)
        assert server.proc.poll() is None, server.log_tail()
        registered = {path.name for path in (tmp_path / "mailbox.sqlite3.servers.d").iterdir()}
    finally:
        server.stop()
    # The parent registers the HTTP server; each worker's MCP lifespan registers itself too.
    assert len(registered) >= 3, registered
    assert left == 0
    assert not result.errors, result.errors[:5]
    report = load_http.audit(db_path, storage, result.acked)
    assert report.ok, report.summary()
    assert report.stored == len(result.acked) == len(set(result.acked))
