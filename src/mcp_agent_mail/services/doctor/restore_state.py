"""Doctor findings about restores and saves: an interrupted restore, and working folders left by killed runs.

Both findings appear only when there is something to say. ``doctor check``
finishes an interrupted restore before it looks at anything else (every other
command that opens the mailbox does the same), and reports that it did;
``doctor repair`` removes the ``.save-*`` and ``.restore-*`` folders whose
process is gone.
"""

from __future__ import annotations

from pathlib import Path

from mcp_agent_mail.config import Settings
from mcp_agent_mail.db.engine import sqlite_path_from_url
from mcp_agent_mail.db.restore_journal import finish_interrupted_restore, pending_stages
from mcp_agent_mail.errors import AgentMailError
from mcp_agent_mail.services.doctor.findings import ERROR, WARNING, Finding
from mcp_agent_mail.services.recovery.restore_points import STATES_DIR_NAME
from mcp_agent_mail.services.recovery.staging import RESTORE_PREFIX, SAVE_PREFIX, abandoned_dirs, sweep_abandoned
from mcp_agent_mail.wording import counted


def check_restore(settings: Settings) -> Finding | None:
    """Finish or undo an interrupted restore now and report it (None when no restore was interrupted)."""
    db_path = sqlite_path_from_url(settings.database.url)
    if db_path is None:
        return None
    try:
        outcome = finish_interrupted_restore(db_path)
    except AgentMailError as exc:
        return Finding("restore", ERROR, f"An interrupted restore is pending: {exc.message}", {"hint": exc.hint or ""})
    if outcome is None:
        return None
    return Finding("restore", WARNING, outcome)


def _places(settings: Settings) -> list[tuple[Path, str, list[Path] | None]]:
    """Return (folder, prefix, folders to keep) for every place a save or restore works in."""
    places: list[tuple[Path, str, list[Path] | None]] = [(settings.data_dir / STATES_DIR_NAME, SAVE_PREFIX, [])]
    db_path = sqlite_path_from_url(settings.database.url)
    if db_path is not None:
        keep = pending_stages(db_path)
        for parent in dict.fromkeys([db_path.parent, Path(settings.storage.root).parent]):
            places.append((parent, RESTORE_PREFIX, keep))
    else:
        # Restores and rebuilds of a database that is not a file stage next to the storage root, without a journal.
        places.append((Path(settings.storage.root).parent, RESTORE_PREFIX, []))
    return places


def _abandoned(settings: Settings, *, remove: bool) -> list[Path]:
    found: list[Path] = []
    for parent, prefix, keep in _places(settings):
        if keep is None:
            continue  # an unreadable restore journal may still need what is staged
        scan = sweep_abandoned if remove else abandoned_dirs
        found.extend(scan(parent, prefix, keep=keep))
    return found


def check_staging(settings: Settings) -> Finding | None:
    """Report the working folders that killed saves and restores left behind (None when there are none)."""
    found = _abandoned(settings, remove=False)
    if not found:
        return None
    return Finding(
        "staging",
        WARNING,
        f"{counted(len(found), 'working folder')} left behind by killed saves or restores.",
        {"folders": [str(p) for p in found]},
        True,
    )


def remove_staging(settings: Settings) -> str:
    """Remove the working folders of killed saves and restores; say how many went."""
    removed = _abandoned(settings, remove=True)
    return f"removed {counted(len(removed), 'folder')}" if removed else "no folder left to remove"


__all__ = ["STATES_DIR_NAME", "check_restore", "check_staging", "remove_staging"]
