"""Is a coding agent installed here? Its config folders and executables say so."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mcp_agent_mail.services.integrate.clients.base import Client
from mcp_agent_mail.services.integrate.machine import Machine


@dataclass(frozen=True, slots=True)
class Presence:
    """Whether a client was found, and the evidence (what was found, or everything that was looked for)."""

    installed: bool
    evidence: str


def detect(client: Client, machine: Machine, project_file: Path | None = None) -> Presence:
    """Look for ``client``'s config folders, its executables on PATH, and (with a project) its project file."""
    markers = client.markers(machine)
    for marker in markers:
        if marker.exists():
            return Presence(True, machine.display(marker))
    for executable in client.executables:
        if machine.which(executable):
            return Presence(True, f"`{executable}` on PATH")
    if project_file is not None and project_file.exists():
        return Presence(True, machine.display(project_file))
    looked = [f"no {machine.display(marker)}" for marker in markers]
    looked += [f"no `{executable}` on PATH" for executable in client.executables]
    return Presence(False, ", ".join(looked))
