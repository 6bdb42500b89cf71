"""JSON error bodies of the HTTP app: our coded ``error`` object beside the ``detail`` string older clients read."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

from mcp_agent_mail.errors import AgentMailError

# The fixed ``detail`` strings clients of the original server match on, by status.
_DETAIL = {401: "Unauthorized", 403: "Forbidden", 429: "Rate limit exceeded"}


def detail_for(status: int, message: str) -> str:
    """Return the ``detail`` string for a status: the original's fixed phrase, else the status phrase."""
    if status in _DETAIL:
        return _DETAIL[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return message


def error_body(error: AgentMailError) -> dict[str, Any]:
    """Return ``{"detail": str, "error": {code, message, hint?}}`` for a refusal."""
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.hint:
        body["hint"] = error.hint
    return {"detail": detail_for(error.http_status, error.message), "error": body}


def error_response(error: AgentMailError, headers: dict[str, str] | None = None) -> JSONResponse:
    """Render a refusal as its HTTP status and :func:`error_body`."""
    return JSONResponse(error_body(error), status_code=error.http_status, headers=headers)
