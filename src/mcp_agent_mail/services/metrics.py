"""In-process counters of tool calls and a bounded log of recent calls.

:func:`record_call` is called once per tool call, success or failure, by
whichever transport ran it; ``resource://tooling/metrics`` and
``resource://tooling/recent`` read them.
Counters live in memory for the life of the server process.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

RECENT_CAPACITY = 4096


@dataclass(slots=True)
class ToolStats:
    """Totals for one tool."""

    calls: int = 0
    errors: int = 0
    total_ms: float = 0.0
    max_ms: float = 0.0
    last_called: float = 0.0


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One tool call as remembered by the recent-calls log."""

    timestamp: float
    tool: str
    ok: bool
    duration_ms: float
    project_key: str | None
    agent: str | None


@dataclass
class _Registry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    tools: dict[str, ToolStats] = field(default_factory=dict)
    recent: deque[CallRecord] = field(default_factory=lambda: deque(maxlen=RECENT_CAPACITY))
    started: float = field(default_factory=time.time)


_REGISTRY = _Registry()


def record_call(
    tool_name: str, ok: bool, duration_ms: float, project_key: str | None, agent: str | None = None
) -> None:
    """Count one tool call and remember it in the recent-calls log."""
    now = time.time()
    duration = max(0.0, float(duration_ms))
    project = project_key.strip() if isinstance(project_key, str) and project_key.strip() else None
    who = agent.strip() if isinstance(agent, str) and agent.strip() else None
    with _REGISTRY.lock:
        stats = _REGISTRY.tools.setdefault(tool_name, ToolStats())
        stats.calls += 1
        if not ok:
            stats.errors += 1
        stats.total_ms += duration
        stats.max_ms = max(stats.max_ms, duration)
        stats.last_called = now
        _REGISTRY.recent.append(CallRecord(now, tool_name, bool(ok), duration, project, who))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat()


def snapshot() -> dict[str, Any]:
    """Return per-tool totals (tools called at least once, by name) and when counting started."""
    with _REGISTRY.lock:
        items = sorted((name, replace(stats)) for name, stats in _REGISTRY.tools.items())
        started = _REGISTRY.started
    tools = [
        {
            "name": name,
            "calls": s.calls,
            "errors": s.errors,
            "avg_ms": round(s.total_ms / s.calls, 2) if s.calls else 0.0,
            "max_ms": round(s.max_ms, 2),
            "last_called_ts": _iso(s.last_called),
        }
        for name, s in items
    ]
    return {"counting_since": _iso(started), "tools": tools}


def recent_calls(window_seconds: float) -> list[CallRecord]:
    """Return the calls of the last ``window_seconds`` seconds, oldest first."""
    cutoff = time.time() - max(1.0, window_seconds)
    with _REGISTRY.lock:
        return [record for record in _REGISTRY.recent if record.timestamp >= cutoff]


def record_dict(record: CallRecord) -> dict[str, Any]:
    """Shape a recent call for clients (absent project/agent omitted)."""
    entry: dict[str, Any] = {
        "timestamp": _iso(record.timestamp),
        "tool": record.tool,
        "ok": record.ok,
        "duration_ms": round(record.duration_ms, 2),
    }
    if record.project_key is not None:
        entry["project"] = record.project_key
    if record.agent is not None:
        entry["agent"] = record.agent
    return entry


def reset() -> None:
    """Forget every counter and recent call."""
    with _REGISTRY.lock:
        _REGISTRY.tools.clear()
        _REGISTRY.recent.clear()
        _REGISTRY.started = time.time()
