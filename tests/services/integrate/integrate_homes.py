"""Real-world-looking configuration files of every client ``integrate`` knows, and a fake machine to hold them."""

from __future__ import annotations

import stat
from dataclasses import dataclass
from pathlib import Path

from mcp_agent_mail.services.integrate.machine import Machine
from mcp_agent_mail.services.integrate.registry import find_client

CLAUDE_JSON = """{
  "numStartups": 42,
  "installMethod": "native",
  "oauthAccount": {
    "emailAddress": "dev@example.com"
  },
  "projects": {
    "/home/dev/code/app": {
      "allowedTools": [],
      "mcpServers": {
        "local-only": {
          "type": "stdio",
          "command": "node",
          "args": ["server.js"]
        }
      }
    }
  },
  "mcpServers": {
    "github": {
      "type": "http",
      "url": "https://api.githubcopilot.com/mcp/",
      "headers": {
        "Authorization": "Bearer ghp_example"
      }
    }
  }
}
"""

CODEX_TOML = """# Codex settings
model = "gpt-5-codex"
approval_policy = "on-request"

[mcp_servers.context7]
command = "npx"
args = ["-y", "@upstash/context7-mcp"]  # docs lookups

[mcp_servers.context7.env]
CONTEXT7_API_KEY = "ctx-example"

[profiles.fast]
model = "o4-mini"
"""

# Cursor reads JSON with comments: a comment, a trailing comma and four-space indentation.
CURSOR_JSON = """{
    // Servers for every project
    "mcpServers": {
        "playwright": {
            "command": "npx",
            "args": ["-y", "@playwright/mcp@latest"],
        }, // browser automation
    },
}
"""

# Gemini: tab indentation, no mcpServers yet, a comment.
GEMINI_JSON = '{\n\t"theme": "Dracula",\n\t// picked at first start\n\t"selectedAuthType": "gemini-api-key"\n}\n'

# Cline's file, written on Windows: CRLF line endings and an empty mcpServers.
CLINE_JSON = '{\r\n  "mcpServers": {}\r\n}\r\n'

WINDSURF_JSON = """{
  "mcpServers": {
    "git": {
      "command": "uvx",
      "args": ["mcp-server-git"],
      "disabled": true,
      "env": {}
    }
  }
}
"""

OPENCODE_JSONC = """{
  "$schema": "https://opencode.ai/config.json",
  // local tools
  "mcp": {
    "filesystem": {
      "type": "local",
      "command": ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/tmp"],
      "enabled": true,
    },
  },
  "theme": "opencode",
}
"""

# VS Code: "inputs" and "servers", comments, CRLF.
VSCODE_JSON = (
    "{\r\n"
    '   "inputs": [\r\n'
    '      { "type": "promptString", "id": "api-key", "description": "API key", "password": true }\r\n'
    "   ],\r\n"
    '   "servers": {\r\n'
    "      /* the docs server */\r\n"
    '      "docs": { "type": "http", "url": "https://docs.example.com/mcp" }\r\n'
    "   }\r\n"
    "}\r\n"
)

FACTORY_JSON = '{"mcpServers": {"linear": {"type": "http", "url": "https://mcp.linear.app/mcp"}}}'


@dataclass
class FakeMachine:
    """The fake HOME, its data directory and helpers to lay out clients."""

    root: Path
    home: Path
    config_home: Path
    bin: Path
    data_dir: Path
    command: str

    def machine(self) -> Machine:
        """The Machine the code under test sees (read from the patched environment)."""
        return Machine.current()

    def config(self, client: str, project: Path | None = None) -> Path:
        """The configuration file ``integrate`` edits for ``client``."""
        return find_client(client).config_file(self.machine(), project)

    def write(self, client: str, text: str, mode: int | None = None) -> Path:
        """Write ``text`` (as bytes, line endings kept) as ``client``'s user-level configuration."""
        path = self.config(client)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(text.encode())
        if mode is not None:
            path.chmod(mode)
        return path

    def executable(self, name: str) -> Path:
        """Put an executable called ``name`` on PATH."""
        path = self.bin / name
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)
        return path

    def seed_all(self) -> dict[str, Path]:
        """Give every known client a realistic configuration file; return them by client name."""
        files = {
            "claude-code": self.write("claude-code", CLAUDE_JSON, 0o600),
            "codex": self.write("codex", CODEX_TOML),
            "cursor": self.write("cursor", CURSOR_JSON),
            "gemini": self.write("gemini", GEMINI_JSON),
            "cline": self.write("cline", CLINE_JSON),
            "windsurf": self.write("windsurf", WINDSURF_JSON),
            "opencode": self.write("opencode", "{}"),
            "vscode": self.write("vscode", VSCODE_JSON),
            "factory-droid": self.write("factory-droid", FACTORY_JSON),
        }
        opencode = files["opencode"]
        opencode.unlink()
        files["opencode"] = opencode.with_name("opencode.jsonc")
        files["opencode"].write_text(OPENCODE_JSONC)
        return files


def snapshot(paths: dict[str, Path]) -> dict[str, bytes | None]:
    """The bytes of each file (None when it does not exist)."""
    return {name: path.read_bytes() if path.exists() else None for name, path in paths.items()}


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return stat.S_IMODE(path.stat().st_mode)
