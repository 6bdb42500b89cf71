"""Push delivery latency with 50 waiting agents: ``python benchmarks/bench_push.py [--sends N] [--backend B]``.

Two real server processes share one throw-away mailbox:

- an HTTP server (``mcp-agent-mail serve``) with 50 ``wait_for_mail`` calls outstanding, one per
  agent, each a plain JSON-RPC POST (stateless HTTP, the server's default);
- a stdio server (``mcp-agent-mail stdio``) whose one session subscribed to the 50 agents' inboxes
  (``resources/subscribe``, handshake-era protocol).

This process (a third one) sends the mail, one message at a time to an agent chosen in turn,
with a random pause of 0.3-0.7 s between sends so that the SQLite feed has backed off to its
idle interval (the slower case). Latency is measured from the moment ``send_message`` returned
here (its transaction had committed) to the moment the waiting call answered, and to the moment
the ``notifications/resources/updated`` for that inbox arrived. All clocks are this machine's
monotonic clock, read in this process.

The CPU time both servers use over 10 s of idleness is read from ``/proc`` twice: before anybody
waits, and after the sends with the 50 waits and 50 subscriptions still in place. Not part of
the test suite.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

PROJECT = "/bench/push"
AGENTS = 50
TARGET_MS = 1000.0
IDLE_S = 10.0
HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pattern: str) -> list[int]:
    """Pids of this process's children whose command line contains ``pattern``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == os.getpid() and pattern in cmdline:
            found.append(int(entry.name))
    return found


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


@contextlib.contextmanager
def _http_server(env: dict[str, str], log: Path) -> Iterator[tuple[str, int]]:
    port = _free_port()
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mcp_agent_mail", "serve", "--port", str(port)],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{base}/health/liveness", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise SystemExit(f"HTTP server did not start:\n{log.read_text()}")
        yield f"{base}/mcp/", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def _wait_call(http: httpx.AsyncClient, url: str, agent: str, since_ts: str) -> tuple[float, dict[str, Any]]:
    args = {"project_key": PROJECT, "agent_name": agent, "timeout_seconds": 300, "since_ts": since_ts}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": "wait_for_mail", "arguments": args}}
    response = await http.post(url, json=body, headers=HEADERS)
    answered = time.monotonic()
    result = response.json()["result"]
    if result.get("isError"):
        raise SystemExit(f"wait_for_mail failed: {result}")
    return answered, dict(result["structuredContent"])


async def _run(sends: int, env: dict[str, str], root: Path) -> None:
    from fastmcp import Client
    from fastmcp.client.transports import StdioTransport

    from mcp_agent_mail.app import build_mcp_server

    async with Client(build_mcp_server()) as local:
        await local.call_tool("ensure_project", {"human_key": PROJECT})
        names = []
        for number in range(AGENTS + 1):
            args = {"project_key": PROJECT, "program": "bench", "model": "m", "name_hint": f"agent-{number}"}
            names.append((await local.call_tool("create_agent_identity", args)).data["name"])
        sender, waiters = names[0], names[1:]
        start_ts = "2000-01-01T00:00:00+00:00"

        notified: dict[str, list[float]] = {}

        async def on_message(message: Any) -> None:
            root_message = getattr(message, "root", message)
            if getattr(root_message, "method", "") == "notifications/resources/updated":
                notified.setdefault(str(root_message.params.uri), []).append(time.monotonic())

        transport = StdioTransport(
            command=sys.executable, args=["-m", "mcp_agent_mail", "stdio"], env=env, keep_alive=False
        )
        with _http_server(env, root / "http.log") as (url, http_pid):
            async with (
                Client(transport, timeout=60, mode="legacy", message_handler=on_message) as stdio,
                httpx.AsyncClient(timeout=httpx.Timeout(400.0)) as http,
            ):
                stdio_pid = _children("stdio")[0]
                await stdio.ping()
                await asyncio.sleep(2.0)
                quiet = {pid: _cpu_seconds(pid) for pid in (http_pid, stdio_pid)}
                await asyncio.sleep(IDLE_S)
                baseline = {pid: _cpu_seconds(pid) - spent for pid, spent in quiet.items()}
                uris = {agent: f"resource://inbox/{agent}?project={PROJECT}" for agent in waiters}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    for uri in uris.values():
                        await stdio.session.subscribe_resource(uri)
                pending = {agent: asyncio.create_task(_wait_call(http, url, agent, start_ts)) for agent in waiters}
                await asyncio.sleep(2.0)  # let every wait reach the server before the first send
                wake_ms: list[float] = []
                push_ms: list[float] = []
                for number in range(sends):
                    agent = waiters[number % AGENTS]
                    await asyncio.sleep(random.uniform(0.3, 0.7))
                    seen_before = len(notified.get(uris[agent], []))
                    args = {"project_key": PROJECT, "sender_name": sender, "to": [agent], "subject": f"#{number}"}
                    await local.call_tool("send_message", {**args, "body_md": "Bench."})
                    committed = time.monotonic()
                    answered, result = await asyncio.wait_for(pending[agent], 30)
                    if not result.get("messages"):
                        raise SystemExit(f"wait_for_mail answered without mail: {result}")
                    wake_ms.append((answered - committed) * 1000)
                    newest = result["messages"][0]["created_ts"]
                    pending[agent] = asyncio.create_task(_wait_call(http, url, agent, newest))
                    deadline = time.monotonic() + 30
                    while len(notified.get(uris[agent], [])) <= seen_before and time.monotonic() < deadline:
                        await asyncio.sleep(0.002)
                    push_ms.append((notified[uris[agent]][seen_before] - committed) * 1000)
                await asyncio.sleep(2.0)
                before = {pid: _cpu_seconds(pid) for pid in (http_pid, stdio_pid)}
                await asyncio.sleep(IDLE_S)
                idle = {pid: _cpu_seconds(pid) - spent for pid, spent in before.items()}
                for task in pending.values():
                    task.cancel()
                await asyncio.gather(*pending.values(), return_exceptions=True)

    def row(label: str, values: list[float]) -> str:
        p50, p99 = statistics.median(values), _percentile(values, 0.99)
        verdict = "ok" if p99 <= TARGET_MS else "OVER"
        return f"{label:<44} {p50:8.1f} {p99:8.1f} {max(values):8.1f}   {verdict}"

    print(f"{'latency from send commit (ms)':<44} {'p50':>8} {'p99':>8} {'max':>8}   target p99 <= {TARGET_MS:.0f}")
    print(row("wait_for_mail over HTTP wakes (50 waiting)", wake_ms))
    print(row("resources/updated over stdio (50 subscribed)", push_ms))
    for label, spent in (("nobody waiting", baseline), ("50 waits / 50 subscriptions", idle)):
        print(
            f"idle CPU over {IDLE_S:.0f} s, {label}: HTTP server {spent[http_pid]:.3f} s "
            f"({spent[http_pid] / IDLE_S:.2%}), stdio server {spent[stdio_pid]:.3f} s ({spent[stdio_pid] / IDLE_S:.2%})"
        )


def main() -> None:
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sends", type=int, default=100)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-push-") as folder, contextlib.ExitStack() as stack:
        root = Path(folder)
        if args.backend == "postgresql":
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from pg_server import throwaway_database_url

            url = stack.enter_context(throwaway_database_url())
        else:
            url = f"sqlite+aiosqlite:///{root / 'mailbox.sqlite3'}"
        env = {key: value for key, value in os.environ.items() if not key.startswith(("HTTP_", "DATABASE_"))}
        env.update(
            MCP_AGENT_MAIL_HOME=str(root / "home"),
            DATABASE_URL=url,
            STORAGE_ROOT=str(root / "archive"),
            LOG_LEVEL="WARNING",
            HTTP_RATE_LIMIT_ENABLED="false",
        )
        os.environ.update(env)
        print(f"{args.backend}; {AGENTS} waiting agents; {args.sends} sends, 0.3-0.7 s apart; {os.cpu_count()} CPUs")
        asyncio.run(_run(args.sends, env, root))


if __name__ == "__main__":
    main()
