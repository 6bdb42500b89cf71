"""The one exception tree of mcp-agent-mail.

Every failure a client can cause is an :class:`AgentMailError` carrying a stable
``code`` (for programs), a ``message`` (for people and models) and a ``hint``
(what to do next). Transports render it: MCP as a tool error whose text starts
with the code, HTTP as a status and JSON body, the CLI as a red line and exit 1.

Five groups sort the errors by what the caller can do about them. A group is
only ever caught, never raised, and has no code of its own; every other class
below is raised and shown with its code and HTTP status::

    * AgentMailError                         INTERNAL_ERROR 500
      + InputError
        - InvalidArgumentError               INVALID_ARGUMENT 400
          · PayloadTooLargeError             PAYLOAD_TOO_LARGE 413
          · InvalidWindowUuidError           INVALID_WINDOW_UUID 400
          · InvalidDisplayNameError          INVALID_DISPLAY_NAME 400
        - NotFoundError                      NOT_FOUND 404
          · WindowNotFoundError              WINDOW_NOT_FOUND 404
        - ConfigurationError                 CONFIGURATION_ERROR 400
      + RefusedError
        - UnauthorizedError                  UNAUTHORIZED 401
        - ForbiddenError                     FORBIDDEN 403
        - ContactRequiredError               CONTACT_REQUIRED 403
        - ContactBlockedError                CONTACT_BLOCKED 403
        - AgentRetiredError                  AGENT_RETIRED 409
        - ProjectArchivedError               PROJECT_ARCHIVED 409
        - RateLimitedError                   RATE_LIMITED 429
      + ConflictError
        - FileReservationConflictError       FILE_RESERVATION_CONFLICT 409
        - ReservationActiveError             RESERVATION_ACTIVE 409
        - ServerRunningError                 SERVER_RUNNING 409
      + BackendError
        - UnavailableError                   UNAVAILABLE 503
      + DataIntegrityError
        - ArchiveError                       ARCHIVE_INVALID 400

- :class:`InputError`: what was given cannot work. Change it; the same call fails
  the same way every time.
- :class:`RefusedError`: the call is well formed, but a rule says no (who is
  asking, the recipient's contact policy, a retired agent, a read-only archived
  project, the call rate). It succeeds once someone changes that rule, or for
  ``RATE_LIMITED`` once the window has passed.
- :class:`ConflictError`: someone else holds what the call needs right now.
  Coordinate or wait, then call again.
- :class:`BackendError`: something the server relies on failed or is busy; the
  call itself was fine and may succeed later.
- :class:`DataIntegrityError`: stored data the server must trust is damaged,
  unsafe or inconsistent; nothing was changed, and a person has to look.

Other modules may narrow a raised class further (``LlmError`` in
``services.summaries.llm`` is an :class:`UnavailableError`); such a subclass
keeps its parent's code and group.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AgentMailError(Exception):
    """Base class: a failure with a stable code, a message and a hint."""

    code: str = "INTERNAL_ERROR"
    http_status: int = 500
    default_hint: str = ""
    is_group: ClassVar[bool] = False

    def __init__(self, message: str, *, hint: str | None = None, data: dict[str, Any] | None = None) -> None:
        if type(self).__dict__.get("is_group"):
            raise TypeError(f"{type(self).__name__} only groups errors; raise one of its subclasses.")
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


# -- groups ------------------------------------------------------------------


class InputError(AgentMailError):
    """Group: what was given (an argument, a request body, a name, a setting) cannot work; change it."""

    is_group = True


class RefusedError(AgentMailError):
    """Group: a well-formed call that a rule refuses (identity, role, contact policy, agent or project state, rate)."""

    is_group = True


class ConflictError(AgentMailError):
    """Group: someone else holds what the call needs right now; coordinate or wait, then call again."""

    is_group = True


class BackendError(AgentMailError):
    """Group: something the server relies on (database, disk, Git, a language model) failed or is busy."""

    is_group = True


class DataIntegrityError(AgentMailError):
    """Group: stored data the server must trust (a restore point, a restore journal) is damaged or unsafe."""

    is_group = True


# -- input -------------------------------------------------------------------


class InvalidArgumentError(InputError):
    """An argument has the wrong shape or value."""

    code = "INVALID_ARGUMENT"
    http_status = 400
    default_hint = "Fix the argument named in the message and call again."


class PayloadTooLargeError(InvalidArgumentError):
    """A request body is larger than the server accepts."""

    code = "PAYLOAD_TOO_LARGE"
    http_status = 413
    default_hint = "Send less per request: split the work into several calls."


class InvalidWindowUuidError(InvalidArgumentError):
    """A window id is not a UUID."""

    code = "INVALID_WINDOW_UUID"
    default_hint = "Pass the window's UUID (the MCP_AGENT_MAIL_WINDOW_ID it was registered with)."


class InvalidDisplayNameError(InvalidArgumentError):
    """A window display name is not a valid Adjective+Noun name, or is taken."""

    code = "INVALID_DISPLAY_NAME"
    default_hint = "Use an Adjective+Noun name such as GreenCastle."


class NotFoundError(InputError):
    """A project, agent, message or reservation does not exist (or is not visible)."""

    code = "NOT_FOUND"
    http_status = 404


class WindowNotFoundError(NotFoundError):
    """No live window identity has this UUID in the project."""

    code = "WINDOW_NOT_FOUND"
    default_hint = "Call list_window_identities to see the live windows of the project."


class ConfigurationError(InputError):
    """A placeholder (e.g. ``YOUR_PROJECT``) was passed, or a setting cannot work as configured."""

    code = "CONFIGURATION_ERROR"
    http_status = 400
    default_hint = "Replace the placeholder with a real value from your environment."


# -- refused -----------------------------------------------------------------


class UnauthorizedError(RefusedError):
    """The caller may not act as the named agent or call this operation."""

    code = "UNAUTHORIZED"
    http_status = 401
    default_hint = "Pass the registration_token returned when the agent was registered."


class ForbiddenError(RefusedError):
    """The caller is authenticated but lacks the role for this operation."""

    code = "FORBIDDEN"
    http_status = 403


class ContactRequiredError(RefusedError):
    """The recipient's contact policy requires an approved contact first."""

    code = "CONTACT_REQUIRED"
    http_status = 403
    default_hint = "Call request_contact and wait for the recipient to approve, or reply in an existing thread."


class ContactBlockedError(RefusedError):
    """The recipient does not accept messages from the sender."""

    code = "CONTACT_BLOCKED"
    http_status = 403
    default_hint = "The recipient is not accepting messages; coordinate through another agent."


class AgentRetiredError(RefusedError):
    """The agent is retired and can neither send nor receive."""

    code = "AGENT_RETIRED"
    http_status = 409
    default_hint = "Call unretire_agent first, or address an active agent."


class ProjectArchivedError(RefusedError):
    """The project is archived (read-only) and accepts no new writes."""

    code = "PROJECT_ARCHIVED"
    http_status = 409
    default_hint = "Call unarchive_project first."


class RateLimitedError(RefusedError):
    """Too many calls in a short time."""

    code = "RATE_LIMITED"
    http_status = 429
    default_hint = "Wait for the number of seconds in Retry-After and call again."


# -- conflict ----------------------------------------------------------------


class FileReservationConflictError(ConflictError):
    """A requested lease overlaps another agent's exclusive lease."""

    code = "FILE_RESERVATION_CONFLICT"
    http_status = 409


class ReservationActiveError(ConflictError):
    """A reservation cannot be force-released because its holder may still be working."""

    code = "RESERVATION_ACTIVE"
    http_status = 409
    default_hint = "Ask the holder (send_message) or wait for expiry."


class ServerRunningError(ConflictError):
    """An operation needs exclusive access but a server holds the data."""

    code = "SERVER_RUNNING"
    http_status = 409
    default_hint = "Stop the running servers first (or pass --ignore-running if you know it is safe)."


# -- backend -----------------------------------------------------------------


class UnavailableError(BackendError):
    """A dependency (the database, the disk, the Git archive, a language model) failed or is busy."""

    code = "UNAVAILABLE"
    http_status = 503
    default_hint = "Retry in a few seconds."


# -- data integrity ----------------------------------------------------------


class ArchiveError(DataIntegrityError):
    """A restore point (or the journal of an interrupted restore) is missing, corrupt, unsafe or inconsistent.

    The name and the code ``ARCHIVE_INVALID`` are kept for compatibility; the Git
    archive itself never raises it.
    """

    code = "ARCHIVE_INVALID"
    http_status = 400


__all__ = [
    "AgentMailError",
    "AgentRetiredError",
    "ArchiveError",
    "BackendError",
    "ConfigurationError",
    "ConflictError",
    "ContactBlockedError",
    "ContactRequiredError",
    "DataIntegrityError",
    "FileReservationConflictError",
    "ForbiddenError",
    "InputError",
    "InvalidArgumentError",
    "InvalidDisplayNameError",
    "InvalidWindowUuidError",
    "NotFoundError",
    "PayloadTooLargeError",
    "ProjectArchivedError",
    "RateLimitedError",
    "RefusedError",
    "ReservationActiveError",
    "ServerRunningError",
    "UnauthorizedError",
    "UnavailableError",
    "WindowNotFoundError",
]
