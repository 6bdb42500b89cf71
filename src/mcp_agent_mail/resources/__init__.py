"""Read-only MCP resources (``resource://...``): mail, projects, reservations, views, tooling and identity.

Every resource returns JSON (``application/json``) with null fields omitted,
changes no state, and follows the tools' identity rules: an agent's mail needs
that agent's ``agent_token`` (or a session bound to it) in strict mode.
Inbox and mailbox resources can be subscribed (:mod:`.subscriptions`).
Query parameters use RFC 6570 form, e.g. ``resource://inbox/{agent}{?project,limit}``.
"""

from __future__ import annotations

from fastmcp import FastMCP

from mcp_agent_mail.resources import identity, mail, projects, reservations, subscriptions, tooling, views


def register(mcp: FastMCP) -> None:
    """Register every resource on ``mcp``."""
    mail.register(mcp)
    views.register(mcp)
    projects.register(mcp)
    reservations.register(mcp)
    tooling.register(mcp)
    identity.register(mcp)
    subscriptions.register(mcp)
