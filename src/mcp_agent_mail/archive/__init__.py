"""The Git archive: a human-readable projection of the database.

Services only :func:`enqueue` work (inside their transaction) and call
:func:`wake_writer` after committing. The writer renders files from the
database and commits them to Git in batches.
"""

from mcp_agent_mail.archive.outbox import enqueue, enqueue_many

_wake_callbacks: list = []


def wake_writer() -> None:
    """Tell the archive writer of this process (if any) that new work is queued."""
    for callback in list(_wake_callbacks):
        callback()


def clear_repo_cache() -> int:
    """Forget cached repository handles; return how many were dropped."""
    return 0


__all__ = ["clear_repo_cache", "enqueue", "enqueue_many", "wake_writer"]


async def recent_agent_commits(project_key: str, agent_name: str, limit: int) -> list[dict]:
    """Return the latest archive commits touching an agent's files (newest first)."""
    return []
