"""After a write from the command line: get the Git archive written even when no server is running.

The services queue archive work in the outbox inside their transaction and wake the writers of their
process; a command-line process runs none. So after its write the command tries to take the archive's
writer lock itself (the same lock every server's writer takes, on PostgreSQL shared across machines) and
flushes what is due. When another process holds the lock it is flushing right now and picks up the new
rows in its next pass, so the command leaves them to it instead of waiting or racing it.
"""

from __future__ import annotations

import logging

from mcp_agent_mail.config import get_settings

LOCK_WAIT_SECONDS = 2.0
WRITTEN = "written"
QUEUED = "queued"

logger = logging.getLogger(__name__)


def refuse_unusable_storage() -> None:
    """Refuse (CONFIGURATION_ERROR) a write whose Git archive could never be written, before anything is stored."""
    from mcp_agent_mail.services.storage_root import check_storage_root

    check_storage_root(get_settings())


def write_archive() -> str:
    """Flush the archive's outbox unless another process holds the writer; return ``written`` or ``queued``."""
    from mcp_agent_mail.archive.flush import try_flush

    try:
        done = try_flush(get_settings(), timeout=LOCK_WAIT_SECONDS)
    except Exception:  # the database write is durable; the archive catches up on the next flush
        logger.warning(
            "the Git archive was not written now; a server or `doctor repair` writes it later", exc_info=True
        )
        return QUEUED
    return QUEUED if done is None else WRITTEN


def archive_note(state: str) -> str:
    """Return the line telling a person where the archive stands after a write."""
    if state == WRITTEN:
        return "The Git archive is up to date."
    return "The Git archive will be written by the server holding its writer (or the next `doctor repair`)."


__all__ = ["QUEUED", "WRITTEN", "archive_note", "refuse_unusable_storage", "write_archive"]
