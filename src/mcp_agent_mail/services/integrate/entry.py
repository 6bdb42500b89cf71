"""What a client is told to run or reach: the stdio command or the HTTP endpoint of this server."""

from __future__ import annotations

import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from mcp_agent_mail.errors import ConfigurationError, InvalidArgumentError

SERVER_NAME = "mcp-agent-mail"
"""The entry name this tool owns in every client's configuration."""

CONSOLE_SCRIPT = "mcp-agent-mail"


@dataclass(frozen=True, slots=True)
class StdioServer:
    """A client starts ``command args`` itself and talks MCP over its standard input and output."""

    command: str
    args: tuple[str, ...] = ("stdio",)
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HttpServer:
    """A client reaches a running server at ``url`` with a bearer token."""

    url: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """The HTTP headers every request carries."""
        return {"Authorization": f"Bearer {self.token}"}


Server = StdioServer | HttpServer


def console_script(argv0: str | None = None, search_path: str | None = None) -> str:
    """Return the absolute path of the installed ``mcp-agent-mail`` command.

    Prefers the script this process was started as, then the one on PATH, then the one next to
    the running interpreter. Raises ConfigurationError when none exists.
    """
    candidates: list[Path] = []
    first = argv0 if argv0 is not None else (sys.argv[0] if sys.argv else "")
    if first and Path(first).name in (CONSOLE_SCRIPT, f"{CONSOLE_SCRIPT}.exe"):
        candidates.append(Path(first))
    found = shutil.which(CONSOLE_SCRIPT, path=search_path)
    if found:
        candidates.append(Path(found))
    candidates.append(Path(sys.executable).parent / CONSOLE_SCRIPT)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate.absolute())
    raise ConfigurationError(
        "Could not find the installed mcp-agent-mail command.",
        hint="Install the package so that `mcp-agent-mail` is on PATH, or pass --command /path/to/mcp-agent-mail.",
    )


def check_command(command: str) -> str:
    """Return ``command`` as an absolute path after checking that it is an executable file."""
    path = Path(command).expanduser()
    if not path.is_absolute() or not path.is_file() or not os.access(path, os.X_OK):
        raise InvalidArgumentError(
            f"--command {command!r} is not an absolute path to an executable file.",
            hint="Pass the absolute path of the mcp-agent-mail command (see `which mcp-agent-mail`).",
        )
    return str(path)


def check_url(url: str) -> str:
    """Return ``url`` when it is an http(s) URL with a host; raise InvalidArgumentError otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidArgumentError(
            f"--http {url!r} is not an http:// or https:// URL.",
            hint="Pass the server's MCP endpoint, for example http://127.0.0.1:8765/mcp/.",
        )
    return url.strip()
