"""Error pages of the web UI: every refusal and failure is an HTML page with the right status."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse

from mcp_agent_mail.errors import AgentMailError
from mcp_agent_mail.web.templating import render

TITLES = {
    400: "Bad request",
    401: "Sign-in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    429: "Too many requests",
    500: "Server error",
    503: "Unavailable",
}


class WebError(Exception):
    """Raised by a page handler to answer with an error page (status, what went wrong, what to do)."""

    def __init__(self, status: int, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.hint = hint


def error_page(request: Request, status: int, message: str, hint: str = "") -> HTMLResponse:
    """Return the error page for ``status`` saying ``message`` (and ``hint`` when given)."""
    context = {"status": status, "heading": TITLES.get(status, "Error"), "message": message, "hint": hint}
    return render(request, "error.html", context, status=status)


def bad_request(request: Request, message: str) -> HTMLResponse:
    """Return a 400 page saying what was wrong with the request."""
    return error_page(request, 400, message, "Correct the address or the form and try again.")


def not_found(request: Request, what: str) -> HTMLResponse:
    """Return a 404 page naming what does not exist (e.g. ``project 'x'``)."""
    return error_page(request, 404, f"There is no {what}.", "Check the address, or go back to the projects list.")


def forbidden(request: Request, message: str, hint: str = "") -> HTMLResponse:
    """Return a 403 page saying why the request is refused."""
    return error_page(request, 403, message, hint)


def from_agent_mail_error(request: Request, error: AgentMailError) -> HTMLResponse:
    """Render a service error as a page with its HTTP status, message and hint."""
    status = error.http_status if 400 <= error.http_status < 600 else 500
    return error_page(request, status, error.message, error.hint or "")


__all__ = [
    "WebError",
    "bad_request",
    "error_page",
    "forbidden",
    "from_agent_mail_error",
    "not_found",
]
