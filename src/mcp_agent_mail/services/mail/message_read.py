"""One message as a person reads it: as the project's overseer, or as one of its agents. Reading changes nothing."""

from __future__ import annotations

from typing import Any

from mcp_agent_mail.db import run_read
from mcp_agent_mail.errors import InvalidArgumentError
from mcp_agent_mail.services.mail import browse, views


def check_message_id(value: Any) -> int:
    """Return ``value`` as a message id, or raise INVALID_ARGUMENT unless it is a positive whole number."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidArgumentError(f"{value!r} is not a message id.", hint="Message ids are positive numbers.")
    return value


async def read_message(project_key: str, message_id: int, reader: str | None = None) -> dict[str, Any]:
    """Return a message of the project; with ``reader``, one that agent sent or received, seen as that agent.

    Without a reader the overseer's view: to/cc with each recipient's receipts and how many were
    blind-copied. With one, the agent's view: its recipients (bcc only if it sent the message) and
    its own ``read_ts``/``ack_ts``. NOT_FOUND for an unknown project, agent or message.
    """
    wanted = check_message_id(message_id)
    if reader is None or not reader.strip():
        return await browse.message_detail(project_key, wanted)
    project, agent = await run_read(lambda session: views.owner(session, project_key, reader))
    return await views.message_view(project, agent, wanted)


__all__ = ["check_message_id", "read_message"]
