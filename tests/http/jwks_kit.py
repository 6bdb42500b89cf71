"""A real JWKS endpoint on 127.0.0.1 (stdlib HTTP server in a thread) and RSA keys to sign test tokens."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

SECRET = "hs256-shared-secret-for-tests-" + "0123456789abcdef" * 3
AUDIENCE = "mcp-agent-mail"
ISSUER = "https://id.example.test"


class SigningKey:
    """An RSA key pair with a ``kid``."""

    def __init__(self, kid: str) -> None:
        self.kid = kid
        self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    def jwk(self) -> dict[str, Any]:
        """Return the public key as a JWK."""
        data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        data.update({"kid": self.kid, "use": "sig", "alg": "RS256"})
        return dict(data)

    def sign(self, claims: dict[str, Any], *, with_kid: bool = True, kid: str | None = None) -> str:
        """Return an RS256 token for ``claims``."""
        headers = {"kid": kid or self.kid} if with_kid else {}
        return jwt.encode(claims, self.private, algorithm="RS256", headers=headers)


def claims(**extra: Any) -> dict[str, Any]:
    """Return valid claims (one hour of life, our audience and issuer) updated with ``extra``."""
    now = int(time.time())
    base: dict[str, Any] = {"sub": "alice", "aud": AUDIENCE, "iss": ISSUER, "iat": now, "exp": now + 3600}
    base.update(extra)
    return {key: value for key, value in base.items() if value is not None}


def hs_token(secret: str = SECRET, algorithm: str = "HS256", **extra: Any) -> str:
    """Return a token signed with the shared secret."""
    return jwt.encode(claims(**extra), secret, algorithm=algorithm)


class JwksServer:
    """Serves ``{"keys": [...]}`` at ``/jwks.json`` and counts the fetches."""

    def __init__(self, keys: list[SigningKey]) -> None:
        self.keys = list(keys)
        self.fetches = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer.fetches += 1
                body = json.dumps({"keys": [key.jwk() for key in outer.keys]}).encode()
                self.send_response(200 if self.path == "/jwks.json" else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                return

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/jwks.json"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> JwksServer:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)
