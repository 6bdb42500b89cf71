"""The storage root as servers and commands see it: a directory the archive writer can use, or a coded error."""

from __future__ import annotations

import os
from pathlib import Path

from mcp_agent_mail.config import Settings
from mcp_agent_mail.errors import ConfigurationError

HINT = "Point STORAGE_ROOT at a directory this user can write (it is created when missing)."


def storage_root_problem(root: Path) -> str | None:
    """Return why the archive writer could never write under ``root``, or None when it can.

    Creates nothing: a missing root is fine as long as its nearest existing ancestor is a writable
    directory, because the archive writer creates it.
    """
    try:
        existing = root
        while not existing.exists() and existing.parent != existing:
            existing = existing.parent
        is_dir = existing.is_dir()
        writable = os.access(existing, os.W_OK | os.X_OK)
    except OSError as exc:
        return f"STORAGE_ROOT {root} cannot be checked: {exc.strerror or exc}."
    if not is_dir:
        where = "is a file" if existing == root else f"lies under {existing}, which is a file"
        return f"STORAGE_ROOT {root} {where}, not a directory."
    if not writable:
        return f"STORAGE_ROOT {root} cannot be written: {existing} is not writable."
    return None


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
