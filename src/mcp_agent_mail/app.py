"""Build the MCP server: tools, resources, and a lifespan running the archive writer and the new-mail feed."""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

from fastmcp import FastMCP

from mcp_agent_mail import __version__, resources
from mcp_agent_mail.tools import (
    contacts,
    guard,
    identity,
    lifecycle,
    messaging,
    reservations,
    summaries,
    waiting,
    windows,
)
from mcp_agent_mail.tools import macros as macro_tools
from mcp_agent_mail.tools._adapter import registered_tools
from mcp_agent_mail.tools.call_metrics import ToolCallMetrics
from mcp_agent_mail.tools.profiles import select_tools
from mcp_agent_mail.tools.unknown_names import UnknownNames

INSTRUCTIONS = (
    "Mail for coding agents sharing a codebase. Start with ensure_project (absolute repo path), then "
    "register_agent or create_agent_identity. Send and reply with send_message/reply_message, read with "
    "fetch_inbox, confirm with acknowledge_message, find old mail with search_messages. Before editing "
    "files, reserve them with file_reservation_paths; release when done. Errors start with a CODE and a hint."
)


def _quiet_telemetry() -> None:
    """Turn fastmcp's OpenTelemetry spans off unless the operator chose a mode (FASTMCP_TELEMETRY_MODE).

    With no OpenTelemetry SDK configured the spans are never exported, yet opening them costs a
    measurable share of every tool call.
    """
    import fastmcp

    if "FASTMCP_TELEMETRY_MODE" not in os.environ:
        fastmcp.settings.telemetry_mode = "off"


@contextlib.asynccontextmanager
async def _lifespan(_server: FastMCP) -> AsyncIterator[dict[str, Any]]:
    from mcp_agent_mail.archive.writer import writer_running
    from mcp_agent_mail.config import get_settings
    from mcp_agent_mail.services.mail.arrivals import arrivals
    from mcp_agent_mail.services.recovery.server_registry import hold_server_registration

    with hold_server_registration(get_settings(), "mcp"):
        async with writer_running(), arrivals().running():
            yield {}


def build_mcp_server(tools: str | None = None, *, mailbox: bool = True) -> FastMCP:
    """Return a FastMCP server exposing the tools of ``tools`` (default: the TOOLS_PROFILE setting).

    ``tools`` is ``core``, ``full`` or comma-separated tool names (see
    :func:`mcp_agent_mail.tools.profiles.select_tools`); an unknown name raises
    CONFIGURATION_ERROR. ``mailbox=False`` gives a server without the archive writer and
    server registration, for listing tool definitions only.
    """
    from mcp_agent_mail.config import get_settings

    spec = tools if tools is not None else get_settings().tools_profile
    _quiet_telemetry()
    mcp = FastMCP(
        "mcp-agent-mail", instructions=INSTRUCTIONS, version=__version__, lifespan=_lifespan if mailbox else None
    )
    identity.register(mcp)
    messaging.register(mcp)
    waiting.register(mcp)
    contacts.register(mcp)
    reservations.register(mcp)
    guard.register(mcp)
    summaries.register(mcp)
    lifecycle.register(mcp)
    windows.register(mcp)
    macro_tools.register(mcp)
    resources.register(mcp)
    mcp.add_middleware(ToolCallMetrics())
    mcp.add_middleware(UnknownNames(mcp))
    registered = registered_tools(mcp)
    keep = set(select_tools(spec, registered))
    for name in registered:
        if name not in keep:
            mcp.local_provider.remove_tool(name)
    return mcp
