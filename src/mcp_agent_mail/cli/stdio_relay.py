"""Answer a stdio client's ``initialize`` while the server is still loading, from the server's own last answer.

Loading the MCP SDK and the server takes longer than some clients wait for the
first answer. So ``stdio`` puts two pipes between the client and the server
(POSIX only): the client's first line, when it is ``initialize``, is answered at
once with the result this same installation gave last time for the same request
(stored in the data directory under :data:`CACHE_FILE`, keyed by the versions,
the tools option and the protocol version asked for). Every line still reaches
the server unchanged, so its session is initialised as usual; its own answer to
that request is then dropped (and stored for next time). On a first start, or
after anything in the key changes, nothing is answered early and the relay only
records the answer. Everything else passes through byte for byte.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

CACHE_FILE = "stdio-initialize.json"
_MAX_ENTRIES = 8
_CHUNK = 65536
_DRAIN_SECONDS = 5.0


def _installed(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "-"


def stamp(tools: str | None) -> str:
    """Return what the server's ``initialize`` answer depends on: versions, the tools option and the code."""
    from mcp_agent_mail.services.unread.locate import setting

    code = Path(__file__).resolve().parent.parent / "app.py"
    try:
        info = code.stat()
        mark = f"{info.st_mtime_ns}:{info.st_size}"
    except OSError:
        mark = "-"
    profile = tools if tools is not None else (setting("TOOLS_PROFILE") or "")
    versions = ",".join(_installed(name) for name in ("mcp-agent-mail", "fastmcp", "mcp"))
    return f"{versions}|{profile.strip()}|{mark}"


def usable() -> bool:
    """Tell whether this process talks MCP on its real standard input and output (not a terminal, not a test)."""
    if os.name != "posix":
        return False
    try:
        return sys.stdin.fileno() == 0 and sys.stdout.fileno() == 1 and not os.isatty(0)
    except (AttributeError, OSError, ValueError):
        return False


class Relay:
    """The two pumps between the client and the server's standard input and output."""

    def __init__(self, client_in: int, client_out: int, server_in: int, server_out: int, cache: Path, key: str):
        self._client_in, self._client_out = client_in, client_out
        self._server_in, self._server_out = server_in, server_out
        self._cache, self._key = cache, key
        self._lock = threading.Lock()
        self._decided = threading.Event()
        self._stopping = threading.Event()
        self._request_id: Any = None
        self._request_key: str | None = None
        self._watching = True
        self.answered_early = False
        """Whether the client got the stored answer before the server had loaded."""
        self._threads = [
            threading.Thread(target=self._guard(self._pump_in), name="stdio-relay-in", daemon=True),
            threading.Thread(target=self._guard(self._pump_out), name="stdio-relay-out", daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _guard(self, pump: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                pump()
            except OSError:
                pass  # the client or the server went away: nothing left to carry
            finally:
                self._decided.set()

        return run

    def _to_client(self, data: bytes) -> None:
        with self._lock:
            view = memoryview(data)
            while view:
                view = view[os.write(self._client_out, view) :]

    def _to_server(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._server_in, view) :]

    def _pump_in(self) -> None:
        pending = b""
        while b"\n" not in pending:
            chunk = os.read(self._client_in, _CHUNK)
            if not chunk:
                break
            pending += chunk
        line, newline, rest = pending.partition(b"\n")
        self._answer_early(line)
        self._decided.set()
        self._to_server(line + newline + rest)
        while chunk := os.read(self._client_in, _CHUNK):
            self._to_server(chunk)
        os.close(self._server_in)

    def _answer_early(self, line: bytes) -> None:
        try:
            request = json.loads(line)
        except ValueError:
            request = None
        if not isinstance(request, dict) or request.get("method") != "initialize" or "id" not in request:
            self._watching = False
            return
        params = request.get("params")
        version = params.get("protocolVersion") if isinstance(params, dict) else None
        self._request_id = request["id"]
        self._request_key = f"{self._key}|{version}"
        result = _load(self._cache).get(self._request_key)
        if isinstance(result, dict):
            answer = {"jsonrpc": "2.0", "id": request["id"], "result": result}
            self._to_client(json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode() + b"\n")
            self.answered_early = True

    def _pump_out(self) -> None:
        self._decided.wait()
        pending = b""
        while True:
            readable, _, _ = select.select([self._server_out], [], [], 0.05)
            if not readable:
                if self._stopping.is_set():
                    break
                continue
            chunk = os.read(self._server_out, _CHUNK)
            if not chunk:
                break
            if not self._watching:
                self._to_client(chunk)
                continue
            pending += chunk
            while self._watching and b"\n" in pending:
                line, _, pending = pending.partition(b"\n")
                self._from_server(line + b"\n")
            if not self._watching and pending:
                self._to_client(pending)
                pending = b""

    def _from_server(self, line: bytes) -> None:
        try:
            message = json.loads(line)
        except ValueError:
            message = None
        if not isinstance(message, dict) or "id" not in message or message["id"] != self._request_id:
            self._to_client(line)
            return
        self._watching = False
        if isinstance(message.get("result"), dict) and self._request_key is not None:
            _store(self._cache, self._request_key, message["result"])
        if not self.answered_early:
            self._to_client(line)

    def finish(self) -> None:
        """Deliver what the server wrote last, once it has stopped, and stop the pumps."""
        with contextlib.suppress(Exception):
            sys.stdout.flush()
        self._decided.set()
        self._stopping.set()
        self._threads[1].join(_DRAIN_SECONDS)


def _load(cache: Path) -> dict[str, Any]:
    try:
        data = json.loads(cache.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _store(cache: Path, key: str, result: dict[str, Any]) -> None:
    """Keep ``result`` as the answer for ``key`` (a few recent keys only); a failure only costs the next start."""
    entries = _load(cache)
    if entries.get(key) == result:
        return
    entries.pop(key, None)
    entries[key] = result
    kept = dict(list(entries.items())[-_MAX_ENTRIES:])
    temporary = cache.with_name(f".{cache.name}.{os.getpid()}.tmp")
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        temporary.write_text(json.dumps(kept, ensure_ascii=False), encoding="utf-8")
        os.replace(temporary, cache)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()


def start(tools: str | None) -> Relay | None:
    """Put the relay between the client and this process's fd 0 and 1; None when stdio is not a client's pipe."""
    if not usable():
        return None
    from mcp_agent_mail.services.unread.locate import data_dir

    opened: list[int] = []
    try:
        key = stamp(tools)
        cache = data_dir() / CACHE_FILE
        client_in, client_out = os.dup(0), os.dup(1)
        opened += [client_in, client_out]
        to_server_r, to_server_w = os.pipe()
        opened += [to_server_r, to_server_w]
        from_server_r, from_server_w = os.pipe()
        opened += [from_server_r, from_server_w]
        try:
            os.dup2(to_server_r, 0)
            os.dup2(from_server_w, 1)
        except OSError:
            os.dup2(client_in, 0)
            os.dup2(client_out, 1)
            raise
    except OSError:
        for fd in opened:
            with contextlib.suppress(OSError):
                os.close(fd)
        return None
    for fd in (to_server_r, from_server_w):
        os.close(fd)
    return Relay(client_in, client_out, to_server_w, from_server_r, cache, key)


__all__ = ["CACHE_FILE", "Relay", "stamp", "start", "usable"]
