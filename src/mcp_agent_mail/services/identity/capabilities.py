"""Capabilities granted to agents by the operator: ``AGENT_CAPABILITIES_FILE`` (JSON), read on each lookup.

The file has the original server's shape, ``{"agents": [{"name", "project"?, "capabilities": [...]}]}``.
An agent without an entry has no configured capabilities (an empty list), never all of them.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from mcp_agent_mail.config import get_settings

logger = logging.getLogger("mcp_agent_mail.capabilities")


def _entries(path: Path) -> list[dict[str, Any]]:
    """Return the well-formed entries of the capabilities file (none when it is missing or unreadable)."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        logger.warning("AGENT_CAPABILITIES_FILE %s is unreadable (%s); no agent has configured capabilities", path, exc)
        return []
    agents = document.get("agents") if isinstance(document, dict) else None
    return [entry for entry in agents or [] if isinstance(entry, dict) and isinstance(entry.get("name"), str)]


def configured_capabilities(agent: str, project_keys: tuple[str, ...] = ()) -> list[str]:
    """Return the sorted capabilities configured for ``agent`` (in one of ``project_keys`` when given); [] if none."""
    path = Path(get_settings().agent_capabilities_file)
    found: set[str] = set()
    for entry in _entries(path):
        if entry["name"].lower() != agent.lower():
            continue
        project = entry.get("project")
        if project_keys and isinstance(project, str) and project not in project_keys:
            continue
        capabilities = entry.get("capabilities")
        if isinstance(capabilities, list):
            found.update(item for item in capabilities if isinstance(item, str) and item.strip())
    return sorted(found)
