"""Who is calling, and what may they do: static bearer token, JWT (secret or JWKS), roles.

Authentication modes, decided once from the settings:

* ``HTTP_BEARER_TOKEN`` set: ``Authorization: Bearer <token>`` (constant-time compare); holders are writers.
* ``HTTP_JWT_ENABLED``: a signed JWT — HS* with ``HTTP_JWT_SECRET``, asymmetric algorithms with keys from
  ``HTTP_JWT_JWKS_URL`` (cached; refetched, at most every few seconds, when a token names an unknown ``kid``).
  Roles come from the claim ``HTTP_JWT_ROLE_CLAIM`` (a string, a space/comma list, or a JSON list).
* Direct loopback requests (peer 127.0.0.1/::1, no forwarding header) need no credentials when
  ``HTTP_ALLOW_LOCALHOST_UNAUTHENTICATED`` is true — or when no authentication is configured at all,
  which is the single-user laptop default; every other caller is then refused.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
from starlette.types import Scope

from mcp_agent_mail.access.origins import header, is_direct_local_request, is_loopback_address, peer_host
from mcp_agent_mail.config import HttpSettings, JwtSettings, RbacSettings
from mcp_agent_mail.errors import ConfigurationError, ForbiddenError, UnauthorizedError, UnavailableError

logger = logging.getLogger("mcp_agent_mail.access.auth")

READER = "reader"
WRITER = "writer"
JWT_LEEWAY_SECONDS = 30
JWKS_TTL_SECONDS = 300.0
JWKS_MIN_REFETCH_SECONDS = 5.0
JWKS_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated caller: a stable identity (for rate limits and logs), its roles and how it got in."""

    identity: str
    roles: frozenset[str]
    method: str
    claims: dict[str, Any] = field(default_factory=dict)

    @property
    def is_writer(self) -> bool:
        """Return True when the caller may call tools that change state."""
        return WRITER in self.roles


def _unauthorized(message: str, hint: str) -> UnauthorizedError:
    return UnauthorizedError(message, hint=hint)


def roles_from_claims(claims: dict[str, Any], claim: str, rbac: RbacSettings) -> frozenset[str]:
    """Map the token's role claim (dotted path allowed) to the capabilities ``reader``/``writer``."""
    value: Any = claims
    for part in claim.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    names: list[str] = []
    if isinstance(value, str):
        names = value.replace(",", " ").split()
    elif isinstance(value, list | tuple):
        names = [item for item in value if isinstance(item, str)]
    if not names:
        names = [rbac.default_role]
    return capabilities(names, rbac)


def capabilities(names: Iterable[str], rbac: RbacSettings) -> frozenset[str]:
    """Return ``{reader, writer}`` for a writer role, ``{reader}`` for a reader role, else nothing."""
    lowered = {name.strip().lower() for name in names}
    if lowered & ({WRITER} | set(rbac.writer_roles)):
        return frozenset({READER, WRITER})
    if lowered & ({READER} | set(rbac.reader_roles)):
        return frozenset({READER})
    return frozenset()


class JwksCache:
    """Signing keys from a JWKS URL: cached, refreshed when stale, refetched on an unknown ``kid`` (rate-limited)."""

    def __init__(
        self,
        url: str,
        *,
        ttl_seconds: float = JWKS_TTL_SECONDS,
        min_refetch_seconds: float = JWKS_MIN_REFETCH_SECONDS,
        timeout_seconds: float = JWKS_TIMEOUT_SECONDS,
    ) -> None:
        self.url = url
        self.ttl_seconds = ttl_seconds
        self.min_refetch_seconds = min_refetch_seconds
        self.timeout_seconds = timeout_seconds
        self.keys: dict[str | None, tuple[jwt.PyJWK, str | None]] = {}
        self.fetched_at: float | None = None
        self.attempted_at: float | None = None
        self.fetch_count = 0
        self._lock: asyncio.Lock | None = None

    def _lookup(self, kid: str | None) -> tuple[jwt.PyJWK, str | None] | None:
        if kid is not None:
            return self.keys.get(kid)
        return next(iter(self.keys.values())) if len(self.keys) == 1 else None

    async def key_for(self, kid: str | None) -> tuple[jwt.PyJWK, str | None]:
        """Return the key (and its declared ``alg``) for a token's ``kid``, or raise UNAUTHORIZED."""
        now = time.monotonic()
        if self.fetched_at is None or now - self.fetched_at > self.ttl_seconds:
            await self.refresh(reason="stale")
        key = self._lookup(kid)
        if key is None and kid is not None and kid not in self.keys:
            await self.refresh(reason=f"unknown kid {kid!r}")
            key = self._lookup(kid)
        if key is not None:
            return key
        if kid is None:
            raise _unauthorized(
                f"The token has no 'kid' header and the JWKS holds {len(self.keys)} keys.",
                "Issue tokens with a 'kid' header naming the signing key.",
            )
        raise _unauthorized(
            f"The token's signing key {kid!r} is not in the JWKS.",
            "Use a token signed by a key the identity provider currently publishes.",
        )

    async def refresh(self, *, reason: str) -> None:
        """Fetch the JWKS unless another fetch was attempted within the minimum interval."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            now = time.monotonic()
            if self.attempted_at is not None and now - self.attempted_at < self.min_refetch_seconds:
                if not self.keys:
                    raise self._unavailable("it failed moments ago")
                return
            self.attempted_at = now
            try:
                async with httpx.AsyncClient(timeout=self.timeout_seconds) as client:
                    response = await client.get(self.url, headers={"Accept": "application/json"})
                    response.raise_for_status()
                    document = response.json()
                keys = _signing_keys(document)
            except (httpx.HTTPError, ValueError) as exc:
                logger.warning("JWKS fetch from %s failed (%s): %s", self.url, reason, exc)
                if not self.keys:
                    raise self._unavailable(type(exc).__name__) from exc
                return
            self.keys = keys
            self.fetched_at = now
            self.fetch_count += 1
            logger.info("JWKS fetched from %s (%s): %d signing keys", self.url, reason, len(keys))

    def _unavailable(self, why: str) -> UnavailableError:
        return UnavailableError(
            f"The JWKS at {self.url} could not be fetched ({why}).",
            hint="Check HTTP_JWT_JWKS_URL and that the identity provider is reachable; retry shortly.",
        )


def _signing_keys(document: Any) -> dict[str | None, tuple[jwt.PyJWK, str | None]]:
    """Return the usable asymmetric signing keys of a JWKS document by ``kid``."""
    raw_keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(raw_keys, list):
        raise ValueError("the JWKS document has no 'keys' list")
    keys: dict[str | None, tuple[jwt.PyJWK, str | None]] = {}
    for raw in raw_keys:
        if not isinstance(raw, dict) or raw.get("use", "sig") != "sig" or raw.get("kty") == "oct":
            continue
        try:
            key = jwt.PyJWK(raw)
        except jwt.PyJWTError as exc:
            logger.warning("JWKS key %r skipped: %s", raw.get("kid"), exc)
            continue
        declared = raw.get("alg")
        keys[key.key_id] = (key, declared if isinstance(declared, str) else None)
    return keys


class JwtVerifier:
    """Verifies a JWT's signature, algorithm, expiry, audience and issuer."""

    def __init__(self, settings: JwtSettings) -> None:
        self.settings = settings
        self.algorithms = tuple(settings.algorithms)
        self.jwks = JwksCache(settings.jwks_url) if settings.jwks_url else None
        if not settings.secret and self.jwks is None:
            raise ConfigurationError(
                "HTTP_JWT_ENABLED is true but neither HTTP_JWT_SECRET nor HTTP_JWT_JWKS_URL is set.",
                hint="Set HTTP_JWT_SECRET for HS256 tokens or HTTP_JWT_JWKS_URL for RS256/ES256 tokens.",
            )

    async def _key(self, header_fields: dict[str, Any], alg: str) -> Any:
        if alg.upper().startswith("HS"):
            if not self.settings.secret:
                raise _unauthorized(
                    f"This server does not accept {alg} tokens (no shared secret is configured).",
                    "Use a token signed with a key from the identity provider's JWKS.",
                )
            return self.settings.secret
        if self.jwks is None:
            raise _unauthorized(
                f"This server does not accept {alg} tokens (no JWKS URL is configured).",
                "Use an HS256 token signed with the shared secret.",
            )
        kid = header_fields.get("kid")
        jwk, declared = await self.jwks.key_for(kid if isinstance(kid, str) else None)
        if declared and declared != alg:
            raise _unauthorized(
                f"The token's algorithm {alg} does not match its key's algorithm {declared}.",
                "Sign the token with the algorithm the key is published for.",
            )
        return jwk.key

    async def verify(self, token: str) -> dict[str, Any]:
        """Return the token's claims, or raise UNAUTHORIZED saying what is wrong with it."""
        try:
            header_fields = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise _unauthorized(
                f"The bearer token is neither the static token nor a well-formed JWT ({exc}).",
                "Send 'Authorization: Bearer <token>' with a valid token.",
            ) from exc
        alg = str(header_fields.get("alg", ""))
        if alg not in self.algorithms:
            raise _unauthorized(
                f"The token is signed with {alg or 'no algorithm'}; this server accepts {', '.join(self.algorithms)}.",
                "Sign tokens with one of the algorithms in HTTP_JWT_ALGORITHMS.",
            )
        key = await self._key(header_fields, alg)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                audience=self.settings.audience or None,
                issuer=self.settings.issuer or None,
                leeway=JWT_LEEWAY_SECONDS,
                options={"require": ["exp"], "verify_aud": bool(self.settings.audience)},
            )
        except jwt.PyJWTError as exc:
            raise _unauthorized(f"The JWT was rejected: {exc}.", _jwt_hint(exc, self.settings)) from exc
        return claims


def _jwt_hint(exc: jwt.PyJWTError, settings: JwtSettings) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "Get a fresh token from the identity provider."
    if isinstance(exc, jwt.InvalidAudienceError):
        return f"Request a token whose 'aud' includes {settings.audience!r}."
    if isinstance(exc, jwt.InvalidIssuerError):
        return f"Use a token issued by {settings.issuer!r}."
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return "Tokens must carry an 'exp' claim."
    return "Send a token signed by a key this server trusts."


class Authenticator:
    """Turns a request's credentials (or its direct loopback origin) into a :class:`Principal`."""

    def __init__(self, http: HttpSettings) -> None:
        self.http = http
        self.bearer_token = http.bearer_token.encode() if http.bearer_token else b""
        self.jwt = JwtVerifier(http.jwt) if http.jwt.enabled else None
        self.auth_configured = bool(self.bearer_token) or self.jwt is not None
        self.local_bypass = http.allow_localhost_unauthenticated or not self.auth_configured

    def check_exposure(self) -> None:
        """Refuse to serve a non-loopback interface when no caller could authenticate there."""
        if is_loopback_address(self.http.host) or self.auth_configured or self.http.allow_localhost_unauthenticated:
            return
        raise ConfigurationError(
            f"Refusing to listen on {self.http.host} without authentication.",
            hint="Set HTTP_BEARER_TOKEN (or HTTP_JWT_ENABLED with a secret or JWKS URL), or bind 127.0.0.1.",
        )

    def _local(self, scope: Scope) -> Principal:
        return Principal(identity=f"ip:{peer_host(scope)}", roles=frozenset({READER, WRITER}), method="local")

    def _missing(self) -> UnauthorizedError:
        if not self.auth_configured:
            return _unauthorized(
                "This server has no authentication configured, so it only serves direct requests from "
                "127.0.0.1 or ::1 (not ones relayed by a proxy).",
                "Set HTTP_BEARER_TOKEN or HTTP_JWT_ENABLED on the server, then send 'Authorization: Bearer <token>'.",
            )
        wanted = " or ".join(
            name for name, on in (("the static bearer token", bool(self.bearer_token)), ("a JWT", bool(self.jwt))) if on
        )
        return _unauthorized(
            "Authorization header missing.",
            f"Send 'Authorization: Bearer <token>' with {wanted}.",
        )

    async def authenticate(self, scope: Scope) -> Principal:
        """Return who is calling, or raise UNAUTHORIZED (401) saying which credentials are missing or wrong."""
        local = is_direct_local_request(scope)
        raw = header(scope, b"authorization")
        if raw is None or not self.auth_configured:
            if local and self.local_bypass:
                return self._local(scope)
            raise self._missing()
        scheme, _, credentials = raw.partition(" ")
        token = credentials.strip()
        if scheme.lower() != "bearer" or not token:
            raise _unauthorized(
                f"Unsupported Authorization scheme {scheme!r}.", "Send 'Authorization: Bearer <token>'."
            )
        if self.bearer_token and hmac.compare_digest(token.encode(), self.bearer_token):
            return Principal(identity="bearer", roles=frozenset({READER, WRITER}), method="bearer")
        if self.jwt is None:
            raise _unauthorized("The bearer token is not valid.", "Use the token set in HTTP_BEARER_TOKEN.")
        claims = await self.jwt.verify(token)
        roles = roles_from_claims(claims, self.http.jwt.role_claim, self.http.rbac)
        subject = claims.get("sub")
        identity = f"sub:{subject}" if isinstance(subject, str) and subject else f"ip:{peer_host(scope)}"
        return Principal(identity=identity, roles=roles, method="jwt", claims=claims)


def forbid_writer_call(principal: Principal, what: str) -> ForbiddenError:
    """Return the 403 for a caller without the writer role attempting ``what``."""
    held = ", ".join(sorted(principal.roles)) or "no recognised role"
    return ForbiddenError(
        f"{what} needs the writer role; this caller has {held}.",
        hint="Use a token whose role claim names a writer role (HTTP_RBAC_WRITER_ROLES), or call read-only tools only.",
    )


def forbid_no_role(principal: Principal) -> ForbiddenError:
    """Return the 403 for a caller whose token grants neither reader nor writer."""
    return ForbiddenError(
        "The token's roles grant neither reader nor writer access.",
        hint="Use a token whose role claim names a role in HTTP_RBAC_READER_ROLES or HTTP_RBAC_WRITER_ROLES.",
    )


__all__ = [
    "READER",
    "WRITER",
    "Authenticator",
    "JwksCache",
    "JwtVerifier",
    "Principal",
    "capabilities",
    "forbid_no_role",
    "forbid_writer_call",
    "roles_from_claims",
]
