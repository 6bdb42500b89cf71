"""Tool profiles: which tools a server exposes (TOOLS_PROFILE / ``--tools``)."""

from __future__ import annotations

from collections.abc import Iterable

from mcp_agent_mail.errors import ConfigurationError

CORE = (
    "ensure_project",
    "register_agent",
    "create_agent_identity",
    "send_message",
    "reply_message",
    "fetch_inbox",
    "acknowledge_message",
    "search_messages",
    "file_reservation_paths",
    "release_file_reservations",
    "renew_file_reservations",
    "macro_start_session",
)
PROFILES = ("core", "full")
DEFAULT_PROFILE = "full"


def select_tools(spec: str | None, available: Iterable[str]) -> list[str]:
    """Return the names of the tools ``spec`` selects among ``available``, in ``available`` order.

    ``spec`` is ``core``, ``full`` (every tool, the default when empty) or a comma-separated
    list of tool names, in which profile names may be mixed (``core,whois``). Names are
    case-insensitive. Unknown names raise CONFIGURATION_ERROR listing the valid ones.
    """
    names = list(available)
    words = [word.strip().lower() for word in (spec or "").split(",") if word.strip()]
    if not words:
        words = [DEFAULT_PROFILE]
    wanted: set[str] = set()
    unknown: list[str] = []
    for word in words:
        if word == "full":
            wanted.update(names)
        elif word == "core":
            wanted.update(CORE)
        elif word in names:
            wanted.add(word)
        else:
            unknown.append(word)
    if unknown:
        raise ConfigurationError(
            f"Unknown tool or profile name(s) in TOOLS_PROFILE/--tools: {', '.join(unknown)}.",
            hint=f"Use a profile ({', '.join(PROFILES)}) or tool names, comma-separated: {', '.join(sorted(names))}.",
        )
    return [name for name in names if name in wanted]
