"""Taking over a stale lease: release another agent's reservation, then tell its holder by mail.

The release and the mail are two steps: the release commits first and stands
even when the mail cannot be sent, in which case the result says why.
"""

from __future__ import annotations

import logging
from typing import Any

from mcp_agent_mail.errors import AgentMailError
from mcp_agent_mail.services.mail.messages import send_message
from mcp_agent_mail.services.reservations.leases import HolderNotice, release_stale

logger = logging.getLogger("mcp_agent_mail.reservations")


async def force_release(
    project_key: str,
    agent_name: str,
    file_reservation_id: int,
    notify_previous: bool = True,
    note: str = "",
) -> dict[str, Any]:
    """Release another agent's reservation when its holder is provably stale, and tell the holder by mail."""
    released = await release_stale(project_key, agent_name, file_reservation_id, note)
    if not released.released_now:
        return released.result
    view = released.result["reservation"]
    view["notified"] = False
    if notify_previous and released.notice is not None:
        try:
            await _send(released.notice)
            view["notified"] = True
        except AgentMailError as exc:
            view["notification_error"] = exc.to_dict()
        except Exception as exc:  # the lease is already released; report, do not fail
            logger.exception("could not notify %s about force release of %s", released.notice.recipient, view["id"])
            view["notification_error"] = {"code": "INTERNAL_ERROR", "message": f"{type(exc).__name__}: {exc}"}
    return released.result


async def _send(notice: HolderNotice) -> None:
    await send_message(
        notice.project_key,
        notice.sender,
        [notice.recipient],
        notice.subject,
        notice.body_md,
        thread_id=notice.thread_id,
    )


__all__ = ["force_release"]
