"""Registering read-only JSON resources: coded errors, query parameter parsing and identity checks."""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastmcp import FastMCP
from fastmcp.exceptions import ResourceError
from fastmcp.resources import ResourceSecurity
from mcp.types import Annotations

from mcp_agent_mail.errors import AgentMailError, InvalidArgumentError
from mcp_agent_mail.services.identity import auth
from mcp_agent_mail.services.identity.reader import ProjectAndViewer, find_reader
from mcp_agent_mail.tools._adapter import current_session_key

logger = logging.getLogger("mcp_agent_mail.resources")

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
JSON = "application/json"
_TRUE = ("1", "true", "t", "yes", "y", "on")
_FALSE = ("0", "false", "f", "no", "n", "off")
# Project keys are absolute paths looked up in the database, never opened as files.
_SECURITY = ResourceSecurity(exempt_params={"project", "project_key", "slug"})


def session_key() -> str | None:
    """Return the calling MCP session's key (the same one the tools bind identities to)."""
    return current_session_key()


def prune(value: Any) -> Any:
    """Drop null values from dicts, recursively."""
    if isinstance(value, dict):
        return {k: prune(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [prune(v) for v in value]
    return value


def json_resource(mcp: FastMCP, uri: str, *, name: str, description: str) -> Callable[[F], F]:
    """Register an async function returning JSON-ready data as a read-only ``application/json`` resource.

    Errors reach clients as ``CODE: message Hint: ...``, like tool errors.
    """

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        async def wrapper(*args: Any, **kwargs: Any) -> str:
            try:
                result = await fn(*args, **kwargs)
            except AgentMailError as exc:
                # One line per failed read; the traceback only at DEBUG (fastmcp logs it at the error's level).
                logger.info("resource %s refused: %s", uri, exc.render())
                raise ResourceError(exc.render(), log_level=logging.DEBUG) from exc
            except Exception as exc:
                logger.error("resource %s failed: %s: %s", uri, type(exc).__name__, exc)
                logger.debug("resource %s failed", uri, exc_info=True)
                raise ResourceError(
                    f"INTERNAL_ERROR: {type(exc).__name__}: {exc}. Hint: reading changes nothing; retry, and if it "
                    "persists run `mcp-agent-mail doctor check`.",
                    log_level=logging.DEBUG,
                ) from exc
            return json.dumps(prune(result), separators=(",", ":"), ensure_ascii=False)

        options: dict[str, Any] = {
            "name": name,
            "description": description,
            "mime_type": JSON,
            "annotations": Annotations(audience=["assistant", "user"]),
        }
        if "{" in uri:
            options["security"] = _SECURITY
        mcp.resource(uri, **options)(wrapper)
        return fn

    return decorate


def int_param(value: str | None, field: str, default: int, *, minimum: int = 1, maximum: int = 1000) -> int:
    """Parse an integer query parameter, or raise INVALID_ARGUMENT."""
    if value is None or not value.strip():
        return default
    try:
        number = int(value.strip())
    except ValueError:
        number = None
    if number is None or number < minimum or number > maximum:
        raise InvalidArgumentError(
            f"{field} must be an integer from {minimum} to {maximum}; got {value!r}.",
            hint=f"Pass e.g. ?{field}={default}.",
        )
    return number


def bool_param(value: str | None, field: str, default: bool) -> bool:
    """Parse a boolean query parameter (1/true/yes or 0/false/no), or raise INVALID_ARGUMENT."""
    if value is None or not value.strip():
        return default
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise InvalidArgumentError(f"{field} must be true or false; got {value!r}.", hint=f"Pass ?{field}=true.")


def require_project(project: str | None, resource: str) -> str:
    """Return the ``project`` query parameter or raise INVALID_ARGUMENT naming the resource."""
    if project is None or not project.strip():
        raise InvalidArgumentError(
            f"{resource} needs the project query parameter.",
            hint=f"Read resource://{resource}?project=<absolute repository path or project slug>.",
        )
    return project.strip()


async def authorize_owner(project: str, agent: str, agent_token: str | None, resource: str) -> None:
    """Check the caller may read ``agent``'s mail (token or bound session; required in strict mode)."""
    await auth.authorize_agent(
        project, agent, agent_token, session_key(), action=f"Reading {resource}", token_param="agent_token"
    )


async def viewer(project_key: str, agent: str | None, agent_token: str | None, resource: str) -> ProjectAndViewer:
    """Return the project and the agent reading a message or thread (named, proved by token, or bound).

    Nobody named is allowed in trusted identity mode (the reader then sees the project's mail without
    bcc lists); strict mode insists on knowing who reads.
    """
    project, reader = await find_reader(project_key, agent, agent_token, session_key(), action=f"Reading {resource}")
    if reader is None and auth.identity_mode() == auth.STRICT:
        raise InvalidArgumentError(
            f"{resource} shows only mail you sent or received, and does not know who you are.",
            hint="Add ?agent=<your agent name> (and agent_token=<your registration_token> in strict mode).",
        )
    return project, reader
