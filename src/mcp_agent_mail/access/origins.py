"""Request provenance checks: loopback peers, forwarding headers, ``Origin`` allow-list and CORS.

A browser page on any site can make a user's browser POST to ``127.0.0.1``, and a
DNS-rebinding page can even read the answers. Browsers always send ``Origin`` on
such requests, so a request whose ``Origin`` is not on the allow-list is refused
before anything else looks at it. CORS headers are only ever added for origins
named explicitly in ``HTTP_CORS_ORIGINS``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from starlette.types import Scope

from mcp_agent_mail.config import HttpSettings
from mcp_agent_mail.errors import ConfigurationError

FORWARDING_HEADERS = (b"forwarded", b"x-forwarded-for", b"x-forwarded-host", b"x-forwarded-proto", b"x-real-ip")
CORS_ALLOW_HEADERS = (
    "Authorization",
    "Content-Type",
    "Accept",
    "Mcp-Session-Id",
    "Mcp-Protocol-Version",
    "Last-Event-ID",
)
CORS_EXPOSE_HEADERS = ("Mcp-Session-Id", "Retry-After", "WWW-Authenticate")


def header(scope: Scope, name: bytes) -> str | None:
    """Return the first value of header ``name`` (lower-case bytes) in ``scope``, or None."""
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return str(value.decode("latin-1"))
    return None


def has_forwarding_headers(scope: Scope) -> bool:
    """Return True when the request carries any proxy forwarding header."""
    return any(key.lower() in FORWARDING_HEADERS for key, _value in scope.get("headers") or ())


def peer_host(scope: Scope) -> str | None:
    """Return the socket peer's address, or None when the server does not know it."""
    client = scope.get("client")
    return str(client[0]) if client else None


def is_loopback_address(host: str | None) -> bool:
    """Return True for 127.0.0.0/8, ::1 and IPv4-mapped loopback addresses."""
    if not host:
        return False
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def is_direct_local_request(scope: Scope) -> bool:
    """Return True when the peer is loopback and no proxy says it forwarded the request for someone else."""
    return is_loopback_address(peer_host(scope)) and not has_forwarding_headers(scope)


def _format_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def default_allowed_origins(host: str, port: int) -> tuple[str, ...]:
    """Return the origins of pages served by this server itself: its localhost names and its bound host."""
    names = ["127.0.0.1", "localhost", "[::1]"]
    bound = _format_host(host)
    if host not in ("0.0.0.0", "::", "") and bound not in names:
        names.append(bound)
    origins: list[str] = []
    for name in names:
        origins.append(f"http://{name}:{port}")
        origins.append(f"https://{name}:{port}")
    return tuple(origins)


def _host_name(netloc: str) -> str:
    """Return the host of ``host[:port]`` / ``[v6][:port]`` in lower case, without brackets or port."""
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        return netloc[1:].split("]", 1)[0]
    return netloc.rsplit(":", 1)[0] if netloc.count(":") == 1 else netloc


def _normalise_origin(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


class OriginPolicy:
    """Decides whether a request's ``Origin`` header is acceptable."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self.allowed = frozenset(_normalise_origin(origin) for origin in allowed)

    @classmethod
    def from_settings(cls, http: HttpSettings) -> OriginPolicy:
        """Build the policy: ``HTTP_ALLOWED_ORIGINS`` (or this server's own localhost origins) plus CORS origins."""
        allowed = list(http.allowed_origins or default_allowed_origins(http.host, http.port))
        if http.cors_enabled:
            allowed.extend(http.cors_origins)
        return cls(allowed)

    def allows(self, origin: str | None) -> bool:
        """Return True when there is no ``Origin`` header or it is on the allow-list."""
        return origin is None or _normalise_origin(origin) in self.allowed

    def local_host_allowed(self, host_header: str | None) -> bool:
        """Return True when a ``Host`` header names this machine (loopback) or an allowed origin's host."""
        host = _host_name(host_header or "")
        if not host:
            return False
        return is_loopback_address(host) or host in {_host_name(urlsplit(origin).netloc) for origin in self.allowed}


def cors_origins(http: HttpSettings) -> tuple[str, ...]:
    """Return the CORS origins to answer for, or ``()`` when CORS is off; refuse a wildcard or an empty list."""
    if not http.cors_enabled:
        return ()
    if not http.cors_origins:
        raise ConfigurationError(
            "HTTP_CORS_ENABLED is true but HTTP_CORS_ORIGINS names no origin.",
            hint="Set HTTP_CORS_ORIGINS to a comma-separated list such as https://app.example.com, or turn CORS off.",
        )
    if any(origin.strip() == "*" for origin in http.cors_origins):
        raise ConfigurationError(
            "HTTP_CORS_ORIGINS must not contain '*'.",
            hint="List each origin that may call this server, e.g. https://app.example.com.",
        )
    return tuple(origin.rstrip("/") for origin in http.cors_origins)


def cors_options(origins: tuple[str, ...]) -> dict[str, Any]:
    """Return CORSMiddleware options answering the given origins only, preflights included."""
    return {
        "allow_origins": list(origins),
        "allow_methods": ["GET", "POST", "DELETE", "OPTIONS"],
        "allow_headers": list(CORS_ALLOW_HEADERS),
        "expose_headers": list(CORS_EXPOSE_HEADERS),
        "allow_credentials": False,
        "max_age": 600,
    }


__all__ = [
    "FORWARDING_HEADERS",
    "OriginPolicy",
    "cors_options",
    "cors_origins",
    "default_allowed_origins",
    "has_forwarding_headers",
    "header",
    "is_direct_local_request",
    "is_loopback_address",
    "peer_host",
]
