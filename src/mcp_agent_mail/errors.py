"""The one exception tree of mcp-agent-mail.

Every failure a client can cause is an :class:`AgentMailError` carrying a stable
``code`` (for programs), a ``message`` (for people and models) and a ``hint``
(what to do next). Transports render it: MCP as a tool error whose text starts
with the code, HTTP as a status and JSON body, the CLI as a red line and exit 1.
"""

from __future__ import annotations

from typing import Any


class AgentMailError(Exception):
    """Base class: a failure with a stable code, a message and a hint."""

    code: str = "INTERNAL_ERROR"
    http_status: int = 500
    default_hint: str = ""

    def __init__(self, message: str, *, hint: str | None = None, data: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.data: dict[str, Any] = data or {}

    def render(self) -> str:
        """Return the one-paragraph text shown to clients: ``CODE: message Hint: ...``."""
        text = f"{self.code}: {self.message}"
        if self.hint:
            text += f" Hint: {self.hint}"
        return text

    def to_dict(self) -> dict[str, Any]:
        """Return a JSON-ready description of the error."""
        payload: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.hint:
            payload["hint"] = self.hint
        if self.data:
            payload["data"] = self.data
        return payload


class InvalidArgumentError(AgentMailError):
    """An argument has the wrong shape or value."""

    code = "INVALID_ARGUMENT"
    http_status = 400
    default_hint = "Fix the argument named in the message and call again."


class PayloadTooLargeError(InvalidArgumentError):
    """A request body is larger than the server accepts."""

    code = "PAYLOAD_TOO_LARGE"
    http_status = 413
    default_hint = "Send less per request: split the work into several calls."


class NotFoundError(AgentMailError):
    """A project, agent, message or reservation does not exist (or is not visible)."""

    code = "NOT_FOUND"
    http_status = 404


class ConfigurationError(AgentMailError):
    """A placeholder or misconfigured value was passed (e.g. ``YOUR_PROJECT``)."""

    code = "CONFIGURATION_ERROR"
    http_status = 400
    default_hint = "Replace the placeholder with a real value from your environment."


class FileReservationConflictError(AgentMailError):
    """A requested lease overlaps another agent's exclusive lease."""

    code = "FILE_RESERVATION_CONFLICT"
    http_status = 409


class ReservationActiveError(AgentMailError):
    """A reservation cannot be force-released because its holder may still be working."""

    code = "RESERVATION_ACTIVE"
    http_status = 409
    default_hint = "Ask the holder (send_message) or wait for expiry."


class ContactRequiredError(AgentMailError):
    """The recipient's contact policy requires an approved contact first."""

    code = "CONTACT_REQUIRED"
    http_status = 403
    default_hint = "Call request_contact and wait for the recipient to approve, or reply in an existing thread."


class ContactBlockedError(AgentMailError):
    """The recipient does not accept messages from the sender."""

    code = "CONTACT_BLOCKED"
    http_status = 403
    default_hint = "The recipient is not accepting messages; coordinate through another agent."


class AgentRetiredError(AgentMailError):
    """The agent is retired and can neither send nor receive."""

    code = "AGENT_RETIRED"
    http_status = 409
    default_hint = "Call unretire_agent first, or address an active agent."


class ProjectArchivedError(AgentMailError):
    """The project is archived and accepts no new writes."""

    code = "PROJECT_ARCHIVED"
    http_status = 409
    default_hint = "Call unarchive_project first."


class UnauthorizedError(AgentMailError):
    """The caller may not act as the named agent or call this operation."""

    code = "UNAUTHORIZED"
    http_status = 401
    default_hint = "Pass the registration_token returned when the agent was registered."


class ForbiddenError(AgentMailError):
    """The caller is authenticated but lacks the role for this operation."""

    code = "FORBIDDEN"
    http_status = 403


class RateLimitedError(AgentMailError):
    """Too many calls in a short time."""

    code = "RATE_LIMITED"
    http_status = 429
    default_hint = "Wait for the number of seconds in Retry-After and call again."


class UnavailableError(AgentMailError):
    """A dependency (database, archive) is temporarily unavailable."""

    code = "UNAVAILABLE"
    http_status = 503
    default_hint = "Retry in a few seconds."


class ArchiveError(AgentMailError):
    """A saved archive (restore point) is missing, corrupt or unsafe."""

    code = "ARCHIVE_INVALID"
    http_status = 400


class ServerRunningError(AgentMailError):
    """An operation needs exclusive access but a server holds the data."""

    code = "SERVER_RUNNING"
    http_status = 409
    default_hint = "Stop the running servers first (or pass --ignore-running if you know it is safe)."


class InvalidWindowUuidError(InvalidArgumentError):
    """A window id is not a UUID."""

    code = "INVALID_WINDOW_UUID"
    default_hint = "Pass the window's UUID (the MCP_AGENT_MAIL_WINDOW_ID it was registered with)."


class InvalidDisplayNameError(InvalidArgumentError):
    """A window display name is not a valid Adjective+Noun name, or is taken."""

    code = "INVALID_DISPLAY_NAME"
    default_hint = "Use an Adjective+Noun name such as GreenCastle."


class WindowNotFoundError(NotFoundError):
    """No live window identity has this UUID in the project."""

    code = "WINDOW_NOT_FOUND"
    default_hint = "Call list_window_identities to see the live windows of the project."


__all__ = [
    "AgentMailError",
    "AgentRetiredError",
    "ArchiveError",
    "ConfigurationError",
    "ContactBlockedError",
    "ContactRequiredError",
    "FileReservationConflictError",
    "ForbiddenError",
    "InvalidArgumentError",
    "InvalidDisplayNameError",
    "InvalidWindowUuidError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ProjectArchivedError",
    "RateLimitedError",
    "ReservationActiveError",
    "ServerRunningError",
    "UnauthorizedError",
    "UnavailableError",
    "WindowNotFoundError",
]
