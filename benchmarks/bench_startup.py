"""Cold-start times of the command line: each run is a fresh process, as hooks and clients start it.

Rows: ``--help``; an unknown command; ``mail status`` on an empty mailbox and on a
populated one (one project, 20 agents, 2,000 messages); and a ``stdio`` server's
time from spawn to its answer to ``initialize``. Prints a table of median and p90
wall-clock milliseconds against each target, plus the median CPU time the process
used (user + system, a figure other load on the machine disturbs less), or
``--json``; exits 1 when a median misses its target.

    python benchmarks/bench_startup.py            # 15 runs per row
    python benchmarks/bench_startup.py --runs 30 --json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mcp_agent_mail.cli.stdio_relay import CACHE_FILE

EXECUTABLE = shutil.which("mcp-agent-mail", path=str(Path(sys.executable).parent)) or "mcp-agent-mail"
PROJECT = "/srv/bench-startup"
TARGETS_MS: dict[str, float | None] = {
    "--help": 300.0,
    "unknown command": 300.0,
    "mail status (empty mailbox)": 100.0,
    "mail status (2,000 messages)": 100.0,
    "stdio: initialize answered": 1000.0,
    "stdio: initialize, first start": None,
}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "bench-startup", "version": "1"},
    },
}


def _timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Return (wall ms, CPU ms) of one run of ``argv`` to its exit."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _pid, _status, usage = os.wait4(process.pid, 0)
    process.returncode = 0
    return (time.perf_counter() - started) * 1000, (usage.ru_utime + usage.ru_stime) * 1000


def _cpu_ms(pid: int) -> float:
    """Return the CPU time (user + system) process ``pid`` has used so far, from /proc (0 where there is none)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) * 1000 / os.sysconf("SC_CLK_TCK")


def _stdio_initialize(env: dict[str, str]) -> tuple[float, float]:
    """Spawn ``stdio``, send ``initialize`` at once and time the response line."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [EXECUTABLE, "stdio"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write((json.dumps(INITIALIZE) + "\n").encode())
        process.stdin.flush()
        line = process.stdout.readline()
        elapsed = (time.perf_counter() - started) * 1000
        cpu = _cpu_ms(process.pid)
        if b'"result"' not in line:
            raise RuntimeError(f"stdio answered {line[:200]!r}")
        return elapsed, cpu
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _forget_answer(env: dict[str, str]) -> dict[str, str]:
    """Remove the stored ``initialize`` answer, so the next ``stdio`` start answers only once it has loaded."""
    (Path(env["MCP_AGENT_MAIL_HOME"]) / CACHE_FILE).unlink(missing_ok=True)
    return env


def _populate(env: dict[str, str], messages: int) -> None:
    """Create the project, 20 agents and ``messages`` messages (half of them read) in a child process."""
    code = f"""
import asyncio
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.services.database import prepare_database
from mcp_agent_mail.services.identity.agents import register_agent
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.bulk_read import mark_all_read
from mcp_agent_mail.services.mail.messages import send_message
from mcp_agent_mail.services.identity.names import ADJECTIVES, NOUNS

async def main():
    names = [a + n for a, n in zip(ADJECTIVES, NOUNS)][:20]
    await ensure_project({PROJECT!r})
    for name in names:
        await register_agent({PROJECT!r}, "bench", "bench", name=name)
    for i in range({messages}):
        sender, to = names[i % 20], names[(i + 1) % 20]
        importance = "urgent" if i % 7 == 0 else "normal"
        await send_message({PROJECT!r}, sender, [to], f"m{{i}}", "body", importance=importance, ack_required=i % 5 == 0)
        if i == {messages} // 2:
            for name in names:
                await mark_all_read({PROJECT!r}, name)

prepare_database(get_settings())
asyncio.run(main())
"""
    subprocess.run([sys.executable, "-c", code], env=env, check=True)


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def _summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    wall = [w for w, _ in samples]
    cpu = [c for _, c in samples]
    return {
        "median_ms": round(statistics.median(wall), 1),
        "p90_ms": round(_p90(wall), 1),
        "cpu_median_ms": round(statistics.median(cpu), 1),
        "runs": len(samples),
    }


def measure(runs: int) -> dict[str, dict[str, float]]:
    """Return median and p90 (ms) of every row over ``runs`` fresh processes each."""
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        base = dict(os.environ)
        for name in ("AGENT_MAIL_AGENT", "AGENT_NAME", "DATABASE_URL", "STORAGE_ROOT"):
            base.pop(name, None)

        def mailbox(name: str) -> dict[str, str]:
            home = Path(tmp) / name
            home.mkdir()
            return {**base, "MCP_AGENT_MAIL_HOME": str(home), "ARCHIVE_FLUSH_INTERVAL_MS": "20"}

        empty, full = mailbox("empty"), mailbox("full")
        subprocess.run([EXECUTABLE, "migrate"], env=empty, check=True, stdout=subprocess.DEVNULL)
        _populate(full, 2000)
        status = [EXECUTABLE, "mail", "status", "--project", PROJECT, "--agent"]
        agent = "AmberAnchor"
        rows: dict[str, Callable[[], tuple[float, float]]] = {
            "--help": lambda: _timed([EXECUTABLE, "--help"], empty),
            "unknown command": lambda: _timed([EXECUTABLE, "no-such-command"], empty),
            "mail status (empty mailbox)": lambda: _timed([*status, agent], empty),
            "mail status (2,000 messages)": lambda: _timed([*status, agent], full),
            "stdio: initialize answered": lambda: _stdio_initialize(empty),
            "stdio: initialize, first start": lambda: _stdio_initialize(_forget_answer(empty)),
        }
        results = {}
        for name, once in rows.items():
            once()  # the first run fills the page cache; it is not counted
            results[name] = _summary([once() for _ in range(runs)])
        return results


def main() -> int:
    """Run the benchmark and print the table (or JSON); exit 1 when a median misses its target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=15, help="measured runs per row (default 15)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    options = parser.parse_args()
    results = measure(max(1, options.runs))
    missed = [name for name, row in results.items() if (TARGETS_MS[name] or float("inf")) < row["median_ms"]]
    if options.json:
        print(json.dumps({"results": results, "targets_ms": TARGETS_MS, "missed": missed}, indent=2))
    else:
        print(f"{'row':32} {'median ms':>10} {'p90 ms':>10} {'CPU ms':>8} {'target':>8}")
        for name, row in results.items():
            mark = "  MISSED" if name in missed else ""
            print(
                f"{name:32} {row['median_ms']:>10.1f} {row['p90_ms']:>10.1f} {row['cpu_median_ms']:>8.1f}"
                f" {TARGETS_MS[name] or '-':>8}{mark}"
            )
        print(f"{options.runs} fresh processes per row, Python {sys.version.split()[0]}, {os.cpu_count()} CPUs.")
    return 1 if missed else 0


if __name__ == "__main__":
    raise SystemExit(main())
