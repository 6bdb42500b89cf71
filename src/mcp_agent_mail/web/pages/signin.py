"""Signing in with the server's bearer token or a JWT (a session cookie for the browser) and signing out."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mcp_agent_mail.access.auth import Authenticator
from mcp_agent_mail.errors import AgentMailError
from mcp_agent_mail.web.security import (
    clear_session,
    principal_of,
    require_csrf,
    safe_next,
    session_cookie,
)
from mcp_agent_mail.web.signin_throttle import SignInThrottle
from mcp_agent_mail.web.templating import render

MAX_TOKEN_CHARS = 16_384


def _form(request: Request, next_path: str, error: str = "", status: int = 200) -> Response:
    authenticator: Authenticator | None = request.scope.get("state", {}).get("authenticator")
    configured = bool(authenticator and authenticator.auth_configured)
    context = {"next_path": next_path, "error": error, "configured": configured}
    return render(request, "signin.html", context, status=status)


async def signin_form(request: Request) -> Response:
    """Show the sign-in form (or say that this server needs none)."""
    return _form(request, safe_next(request.query_params.get("next")))


async def signin(request: Request) -> Response:
    """Check the token with the MCP endpoint's authenticator and start a session; 401 with the form if wrong."""
    await require_csrf(request)
    form = await request.form()
    next_path = safe_next(str(form.get("next") or ""))
    token = str(form.get("token") or "").strip()
    state = request.scope.get("state", {})
    authenticator: Authenticator = state["authenticator"]
    if not authenticator.auth_configured:
        return RedirectResponse(next_path, status_code=303)
    if not token or len(token) > MAX_TOKEN_CHARS:
        return _form(request, next_path, "Enter the token.", status=400)
    address = request.client.host if request.client else "unknown"
    throttle: SignInThrottle = state["signin_throttle"]
    wait = throttle.wait_seconds(address)
    if wait:
        return _form(request, next_path, f"Too many failed sign-ins from your address; try again in {wait} s.", 429)
    scope = dict(request.scope)
    scope["headers"] = [(b"authorization", f"Bearer {token}".encode("latin-1", "replace"))]
    try:
        principal = await authenticator.authenticate(scope)
    except AgentMailError as exc:
        throttle.failed(address)
        return _form(request, next_path, f"That token was not accepted: {exc.message}", status=401)
    throttle.succeeded(address)
    response = RedirectResponse(next_path, status_code=303)
    session_cookie(request, response, state["signer"], principal, state["session_hours"])
    return response


async def signout(request: Request) -> Response:
    """End the browser's session (POST with the CSRF token) and go back to the sign-in page."""
    await require_csrf(request)
    response = RedirectResponse("/mail/signin", status_code=303)
    clear_session(request, response)
    return response


async def signout_form(request: Request) -> Response:
    """Explain that signing out is a button (a link cannot sign anyone out)."""
    principal = principal_of(request)
    return render(request, "signout.html", {"signed_in": bool(principal and principal.signed_in)})


routes: list[BaseRoute] = [
    Route("/signin", signin_form, methods=["GET"], name="signin_form"),
    Route("/signin", signin, methods=["POST"], name="signin"),
    Route("/signout", signout, methods=["POST"], name="signout"),
    Route("/signout", signout_form, methods=["GET"], name="signout_form"),
]
