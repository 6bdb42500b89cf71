"""The storage root as servers and commands see it: a directory the archive writer can use, or a coded error."""

from __future__ import annotations

from pathlib import Path

from mcp_agent_mail.config import Settings
from mcp_agent_mail.errors import ConfigurationError
from mcp_agent_mail.fsutil import directory_problem

HINT = "Point STORAGE_ROOT at a directory this user can write (it is created when missing)."


def storage_root_problem(root: Path) -> str | None:
    """Return why the archive writer could never write under ``root`` (creating nothing), or None when it can."""
    problem = directory_problem(root)
    return None if problem is None else f"STORAGE_ROOT {root} {problem}."


def check_storage_root(settings: Settings) -> Path:
    """Return the storage root, refusing (CONFIGURATION_ERROR) one the archive writer could never write.

    Without this check a server would start, take mail, and log a failed archive flush for every
    write; a command would store its change and then fail to write the archive.
    """
    root = Path(settings.storage.root).expanduser()
    problem = storage_root_problem(root)
    if problem is not None:
        raise ConfigurationError(problem, hint=HINT)
    return root


__all__ = ["HINT", "check_storage_root", "storage_root_problem"]
