"""The web UI's Starlette app: every page module's routes, static files, error pages and the access gate.

An unexpected failure is logged and answered with a 500 page by :class:`~mcp_agent_mail.web.security.WebGate`,
so that page carries the same security headers as every other.
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles

from mcp_agent_mail.access.auth import Authenticator
from mcp_agent_mail.config import Settings, get_settings
from mcp_agent_mail.errors import AgentMailError
from mcp_agent_mail.web import pages
from mcp_agent_mail.web.errors import WebError, error_page, from_agent_mail_error
from mcp_agent_mail.web.security import Signer, WebGate, load_secret

STATIC = Path(__file__).parent / "static"


def page_routes() -> list[BaseRoute]:
    """Return the ``routes`` of every module in :mod:`mcp_agent_mail.web.pages`, in module-name order."""
    routes: list[BaseRoute] = []
    for info in sorted(pkgutil.iter_modules(pages.__path__), key=lambda item: item.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{pages.__name__}.{info.name}")
        routes.extend(getattr(module, "routes", []))
    return routes


async def _web_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, WebError)
    return error_page(request, exc.status, exc.message, exc.hint)


async def _service_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AgentMailError)
    return from_agent_mail_error(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return error_page(request, 404, "There is no page at this address.", "Go back to the inbox or the projects.")
    if exc.status_code == 405:
        return error_page(request, 405, f"This address does not accept {request.method} requests.")
    return error_page(request, exc.status_code, str(exc.detail))


def build_web_app(settings: Settings | None = None, authenticator: Authenticator | None = None) -> Starlette:
    """Return the web UI app, to be mounted at ``/mail`` (pages, ``/static``, error pages, access gate)."""
    settings = settings or get_settings()
    authenticator = authenticator or Authenticator(settings.http)
    routes = [*page_routes(), Mount("/static", app=StaticFiles(directory=STATIC), name="static")]
    app = Starlette(
        routes=routes,
        exception_handlers={
            WebError: _web_error,
            AgentMailError: _service_error,
            HTTPException: _http_error,
        },
    )
    app.add_middleware(WebGate, settings=settings, authenticator=authenticator, signer=Signer(load_secret(settings)))
    return app


__all__ = ["build_web_app", "page_routes"]
