"""VS Code (GitHub Copilot agent mode): ``servers`` in the user profile's ``mcp.json``.

A project's servers go in ``<project>/.vscode/mcp.json``.
"""

from __future__ import annotations

from mcp_agent_mail.services.integrate.clients.base import Client, http_typed, stdio_typed

CLIENT = Client(
    name="vscode",
    label="VS Code (Copilot)",
    aliases=("vs-code", "code", "copilot"),
    markers=lambda m: (m.app_config_dir("Code") / "User",),
    executables=("code",),
    user_file=lambda m: m.app_config_dir("Code") / "User" / "mcp.json",
    project_file=lambda project: project / ".vscode" / "mcp.json",
    syntax="jsonc",
    stdio_entry=stdio_typed,
    http_entry=http_typed,
    container=lambda _document: ("servers",),
)
