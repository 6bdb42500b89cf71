"""Who may use the web UI and how: access rules, the sign-in session cookie, CSRF tokens and response headers.

The rules follow the HTTP server's (:mod:`mcp_agent_mail.access.auth`, :mod:`mcp_agent_mail.access.origins`):

* No authentication configured: only direct loopback requests naming this machine in ``Host``; anything
  else gets a 403 page.
* A bearer token or JWT configured: ``Authorization: Bearer`` works as for the MCP endpoint (scripts),
  and browsers sign in once at ``/mail/signin``; the token is checked by the same authenticator and the
  answer is a signed, expiring session cookie carrying the caller's roles. Without either, a GET is
  redirected to the sign-in page and any other method is refused with 401.
* Readers may read; every write needs the writer role (:func:`require_writer`).
* Every POST carries a ``csrf_token`` form field bound to the session, or, without a session, to a
  per-browser cookie (:func:`require_csrf`); POSTs from another site (``Origin``, ``Sec-Fetch-Site``)
  are refused before that.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mcp_agent_mail.access.auth import READER, WRITER, Authenticator, Principal
from mcp_agent_mail.access.origins import OriginPolicy, header, is_direct_local_request
from mcp_agent_mail.config import Settings
from mcp_agent_mail.errors import AgentMailError, ConfigurationError
from mcp_agent_mail.web.errors import WebError, error_page
from mcp_agent_mail.web.signin_throttle import SignInThrottle

logger = logging.getLogger("mcp_agent_mail.web")

SESSION_COOKIE = "mail_session"
BROWSER_COOKIE = "mail_browser"
COOKIE_PATH = "/mail"
SECRET_FILE = "web-session.secret"
MIN_SECRET_CHARS = 32
BROWSER_COOKIE_SECONDS = 30 * 86400
OPEN_PREFIXES = ("/static/", "/signin")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
)


@dataclass(frozen=True, slots=True)
class WebPrincipal:
    """Who is using the UI: identity, roles, how they got in, and whether they may change anything."""

    identity: str
    roles: frozenset[str]
    method: str
    can_write: bool
    session_id: str | None = None

    @property
    def signed_in(self) -> bool:
        """Return True when the caller holds a sign-in session cookie (so sign-out makes sense)."""
        return self.session_id is not None


# ---------------------------------------------------------------------------
# The server secret and signed values


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_secret(settings: Settings) -> bytes:
    """Return the signing secret: ``HTTP_WEB_SESSION_SECRET``, else one kept (mode 0600) in the data directory."""
    if settings.http.web_session_secret:
        if len(settings.http.web_session_secret) < MIN_SECRET_CHARS:
            raise ConfigurationError(
                f"HTTP_WEB_SESSION_SECRET is shorter than {MIN_SECRET_CHARS} characters.",
                hint="Use a long random value, e.g. the output of `openssl rand -hex 32`, or unset it.",
            )
        return settings.http.web_session_secret.encode()
    path = Path(settings.data_dir) / SECRET_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(32).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    for _attempt in range(50):  # another worker may have created it a moment ago and be writing it
        text = path.read_text(encoding="ascii").strip()
        if len(text) >= 32:
            return text.encode()
        time.sleep(0.01)
    raise RuntimeError(f"The web session secret {path} is empty; delete it so that a new one is made.")


class Signer:
    """Signs and checks small JSON values with HMAC-SHA256 (the session cookie, CSRF tokens)."""

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    def mac(self, purpose: str, value: str) -> str:
        """Return the MAC of ``value`` for one ``purpose`` (so one signature never serves another)."""
        return _b64(hmac.new(self.secret, f"{purpose}\x00{value}".encode(), hashlib.sha256).digest())

    def dumps(self, payload: Mapping[str, Any]) -> str:
        """Return ``payload`` as signed cookie text."""
        body = _b64(json.dumps(dict(payload), separators=(",", ":"), sort_keys=True).encode())
        return f"{body}.{self.mac('session', body)}"

    def loads(self, text: str | None, *, now: float | None = None) -> dict[str, Any] | None:
        """Return the payload of signed cookie text, or None when it is malformed, tampered with or expired."""
        if not text or text.count(".") != 1:
            return None
        body, mac = text.split(".")
        if not hmac.compare_digest(mac, self.mac("session", body)):
            return None
        try:
            payload = json.loads(_unb64(body))
        except ValueError:
            return None
        if not isinstance(payload, dict) or not isinstance(payload.get("exp"), int | float):
            return None
        if payload["exp"] <= (time.time() if now is None else now):
            return None
        return payload

    def csrf(self, binding: str) -> str:
        """Return the CSRF token for a session id or browser cookie value."""
        return self.mac("csrf", binding)


# ---------------------------------------------------------------------------
# Helpers for page handlers


def principal_of(request: Request) -> WebPrincipal | None:
    """Return who is using the UI for this request (None on pages open to everyone, before sign-in)."""
    principal: WebPrincipal | None = request.scope.get("state", {}).get("principal")
    return principal


def csrf_token(request: Request) -> str:
    """Return the CSRF token forms on this page must send back as ``csrf_token``."""
    return str(request.scope.get("state", {}).get("csrf_token", ""))


async def require_csrf(request: Request) -> None:
    """Refuse (403 page) a POST whose ``csrf_token`` is missing or wrong or which comes from another site."""
    _check_same_site(request)
    principal = principal_of(request)
    if principal is not None and principal.method in ("bearer", "jwt"):
        return  # a script sending Authorization itself: no browser can forge that header
    form = await request.form()
    given = form.get("csrf_token")
    expected = csrf_token(request)
    if not isinstance(given, str) or not expected or not hmac.compare_digest(given, expected):
        raise WebError(
            403,
            "The form's security token is missing or out of date, so nothing was changed.",
            "Reload the page and submit the form again.",
        )


def require_writer(request: Request) -> WebPrincipal:
    """Return the caller when it may change things; otherwise refuse with a 403 page."""
    principal = principal_of(request)
    if principal is None or not principal.can_write:
        held = ", ".join(sorted(principal.roles)) if principal and principal.roles else "no role"
        raise WebError(
            403,
            f"This change needs the writer role; you are signed in with {held}.",
            "Sign in with a token that carries a writer role (HTTP_RBAC_WRITER_ROLES).",
        )
    return principal


def _check_same_site(request: Request) -> None:
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in ("same-origin", "none"):
        raise WebError(403, f"Refused a form sent from another site (Sec-Fetch-Site: {fetch_site}).")
    origin = request.headers.get("origin")
    if origin is None:
        return
    same_host = urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()
    policy: OriginPolicy | None = request.scope.get("state", {}).get("origins")
    listed = policy is not None and origin.strip().rstrip("/").lower() in policy.allowed  # e.g. behind a proxy
    if not (same_host or listed):
        raise WebError(403, f"Refused a form sent from another origin ({origin}).")


def safe_next(value: str | None, default: str = "/mail/") -> str:
    """Return ``value`` when it is a local ``/mail`` path (no scheme, host or ``//``), else ``default``."""
    if not value or not isinstance(value, str):
        return default
    if any(ch in value for ch in "\\\r\n\t") or value.startswith("//"):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return default
    if not (parts.path == COOKIE_PATH or parts.path.startswith(COOKIE_PATH + "/")):
        return default
    segments = parts.path.lower().replace("%2e", ".").split("/")
    if any(segment in (".", "..") for segment in segments):
        return default
    return value


def session_cookie(request: Request, response: Response, signer: Signer, principal: Principal, hours: float) -> None:
    """Set the sign-in session cookie for ``principal`` on ``response`` (expiring with a JWT's own expiry)."""
    expires = time.time() + hours * 3600
    token_exp = principal.claims.get("exp") if principal.claims else None
    if isinstance(token_exp, int | float):
        expires = min(expires, float(token_exp))
    payload = {
        "sid": secrets.token_urlsafe(18),
        "sub": principal.identity,
        "roles": sorted(principal.roles),
        "method": principal.method,
        "exp": int(expires),
    }
    response.set_cookie(
        SESSION_COOKIE,
        signer.dumps(payload),
        max_age=max(1, int(expires - time.time())),
        path=COOKIE_PATH,
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )


def clear_session(request: Request, response: Response) -> None:
    """Expire the session cookie on ``response``."""
    response.delete_cookie(
        SESSION_COOKIE, path=COOKIE_PATH, secure=request.url.scheme == "https", httponly=True, samesite="strict"
    )


# ---------------------------------------------------------------------------
# The gate in front of every page


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def _cookies(scope: Scope) -> dict[str, str]:
    return Request(scope).cookies


class WebGate:
    """ASGI middleware: admits or refuses each request, records the principal and CSRF token, adds headers."""

    def __init__(self, app: ASGIApp, *, settings: Settings, authenticator: Authenticator, signer: Signer) -> None:
        self.app = app
        self.settings = settings
        self.authenticator = authenticator
        self.signer = signer
        self.signin_throttle = SignInThrottle()
        self.origins = OriginPolicy.from_settings(settings.http)
        self.rbac = settings.http.rbac.enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request through the app, or with a refusal page; add the security headers either way."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        new_cookie: str | None = None
        cookies = _cookies(scope)
        browser = cookies.get(BROWSER_COOKIE, "")
        if len(browser) < 16 or len(browser) > 64:
            browser = new_cookie = secrets.token_urlsafe(24)
        https = scope.get("scheme") == "https"
        path = _route_path(scope)
        static = path.startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    headers.raw.append((name, value))
                if "cache-control" not in headers and not static:
                    headers["Cache-Control"] = "no-store"
                if new_cookie is not None:
                    flags = f"Max-Age={BROWSER_COOKIE_SECONDS}; Path={COOKIE_PATH}; HttpOnly; SameSite=Strict"
                    headers.append(
                        "Set-Cookie", f"{BROWSER_COOKIE}={new_cookie}; {flags}" + ("; Secure" if https else "")
                    )
            await send(message)

        request = Request(scope, receive)
        outcome = await self._admit(request, path, cookies)
        if isinstance(outcome, Response):
            await outcome(scope, receive, send_with_headers)
            return
        state = scope.setdefault("state", {})
        state["principal"] = outcome
        binding = outcome.session_id if outcome is not None and outcome.session_id else f"browser:{browser}"
        state["csrf_token"] = self.signer.csrf(binding)
        state["signer"] = self.signer
        state["origins"] = self.origins
        state["authenticator"] = self.authenticator
        state["session_hours"] = self.settings.http.web_session_hours
        state["signin_throttle"] = self.signin_throttle
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_headers(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception:
            logger.exception("web UI failure on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            page = error_page(request, 500, "Something went wrong on the server; the error is in its log.")
            await page(scope, receive, send_with_headers)

    def _from_principal(self, principal: Principal, session_id: str | None = None) -> WebPrincipal:
        return WebPrincipal(
            identity=principal.identity,
            roles=principal.roles,
            method=principal.method,
            can_write=not self.rbac or WRITER in principal.roles,
            session_id=session_id,
        )

    def _local_host(self, request: Request) -> bool:
        return self.origins.local_host_allowed(header(request.scope, b"host"))

    async def _admit(self, request: Request, path: str, cookies: dict[str, str]) -> WebPrincipal | Response | None:
        """Return the principal (None on open pages before sign-in) or the refusal to send."""
        scope = request.scope
        origin = header(scope, b"origin")
        if not self.origins.allows(origin):
            return error_page(request, 403, f"Pages of {origin} may not use this server.")
        auth = self.authenticator
        local = is_direct_local_request(scope) and self._local_host(request)
        if not auth.auth_configured:
            if not local:
                return error_page(
                    request,
                    403,
                    "This server has no authentication configured, so its web UI only answers this machine "
                    "(http://127.0.0.1 or http://localhost, not through a proxy).",
                    "Open the UI on the server's own machine, or set HTTP_BEARER_TOKEN and sign in.",
                )
            return self._from_principal(Principal("local", frozenset({READER, WRITER}), "local"))
        if header(scope, b"authorization") is not None:
            try:
                return self._checked(self._from_principal(await auth.authenticate(scope)), request)
            except AgentMailError as exc:
                return error_page(request, exc.http_status, exc.message, exc.hint or "")
        session = self.signer.loads(cookies.get(SESSION_COOKIE))
        if session is not None:
            roles = frozenset(str(role) for role in session.get("roles", []) if role in (READER, WRITER))
            principal = Principal(str(session.get("sub", "?")), roles, "session")
            return self._checked(self._from_principal(principal, str(session.get("sid", ""))), request)
        if auth.local_bypass and local:
            return self._from_principal(Principal("local", frozenset({READER, WRITER}), "local"))
        if path == "/signin" or path.startswith("/static/"):
            return None
        if request.method in SAFE_METHODS:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"{COOKIE_PATH}/signin?next={quote(safe_next(target))}", status_code=303)
        return error_page(request, 401, "Sign in first: this request carried no valid session.", "Open /mail/signin.")

    def _checked(self, principal: WebPrincipal, request: Request) -> WebPrincipal | Response:
        if self.rbac and not principal.roles:
            return error_page(
                request,
                403,
                "Your token's roles grant neither reader nor writer access.",
                "Use a token whose role claim names a role in HTTP_RBAC_READER_ROLES or HTTP_RBAC_WRITER_ROLES.",
            )
        return principal


__all__ = [
    "BROWSER_COOKIE",
    "CONTENT_SECURITY_POLICY",
    "SESSION_COOKIE",
    "Signer",
    "WebGate",
    "WebPrincipal",
    "clear_session",
    "csrf_token",
    "load_secret",
    "principal_of",
    "require_csrf",
    "require_writer",
    "safe_next",
    "session_cookie",
]
