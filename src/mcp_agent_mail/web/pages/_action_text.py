"""Plain-language text for operator actions: staleness reasons and message-id lists read from forms."""

from __future__ import annotations

import re
from collections.abc import Iterable

from mcp_agent_mail.web.errors import WebError

_SECONDS = re.compile(r"^(?P<token>[a-z_]+)>(?P<seconds>\d+)s$")
MAX_ID_TOKENS = 1000

_PHRASES = {
    "agent_retired": "the holder is retired",
    "agent_inactive": "the holder has done nothing for over {span}",
    "agent_recently_active": "the holder was active within the inactivity limit",
    "mail_activity_recent": "the holder sent, read or acknowledged mail recently",
    "no_recent_mail_activity": "the holder has sent, read or acknowledged no mail for over {span}",
    "virtual_reservation": "it reserves a name, not files, so there is no workspace to inspect",
    "workspace_not_on_server": "the project's directory is not on this machine, so files could not be checked",
    "filesystem_activity_recent": "a matching file changed recently",
    "filesystem_scan_incomplete": "too many files to check them all, so recent work cannot be ruled out",
    "no_recent_filesystem_activity": "no matching file changed for over {span}",
    "path_pattern_unmatched": "no file matches the pattern",
    "no_git_repository": "the project is not a Git repository",
    "git_history_unreadable": "the Git history could not be read, so recent commits cannot be ruled out",
    "git_activity_recent": "a recent commit touched matching files",
    "no_recent_git_activity": "no commit touched matching files for over {span}",
    "expired": "it had already expired",
    "released_by_holder": "it was released by its holder",
}


def span(seconds: int) -> str:
    """Return a duration in the largest whole unit: ``45 s``, ``30 min``, ``2 h``, ``3 d``."""
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "min")):
        if seconds >= size and seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def describe_reason(token: str) -> str:
    """Return a staleness reason token (e.g. ``agent_inactive>1800s``) as a phrase a person reads."""
    match = _SECONDS.match(token)
    key, seconds = (match["token"], int(match["seconds"])) if match else (token, 0)
    phrase = _PHRASES.get(key)
    return phrase.format(span=span(seconds)) if phrase else token


def parse_message_ids(values: Iterable[str]) -> list[int]:
    """Return the ids given as form or query values (each may list several, separated by commas or spaces)."""
    ids: list[int] = []
    for value in values:
        for token in value.replace(",", " ").split():
            if len(ids) >= MAX_ID_TOKENS:
                raise WebError(400, f"Too many message ids; at most {MAX_ID_TOKENS} may be sent at once.")
            if not token.isdigit() or len(token) > 18:
                raise WebError(400, f"{token[:40]!r} is not a message id; nothing was deleted.")
            ids.append(int(token))
    return ids


__all__ = ["describe_reason", "parse_message_ids", "span"]
