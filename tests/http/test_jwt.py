"""JWT authentication: HS256 with a shared secret, RS256 with keys from a real JWKS endpoint, kid rotation."""

from __future__ import annotations

import asyncio

import jwt
import pytest
from http_kit import REMOTE, assert_refused, ensure_project, health, row_counts, serving
from jwks_kit import AUDIENCE, ISSUER, SECRET, JwksServer, SigningKey, claims, hs_token

HS_ENV = {
    "HTTP_JWT_ENABLED": "true",
    "HTTP_JWT_SECRET": SECRET,
    "HTTP_JWT_AUDIENCE": AUDIENCE,
    "HTTP_JWT_ISSUER": ISSUER,
}


@pytest.fixture(scope="module")
def rsa_keys() -> dict[str, SigningKey]:
    """Three RSA keys generated once for the module."""
    return {kid: SigningKey(kid) for kid in ("k1", "k2", "k3")}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_hs256_token_with_writer_role_may_write(make_app, isolated_env):
    app = make_app(**HS_ENV)
    async with serving(app) as client:
        remote = client(REMOTE)
        ok = await remote.post("/mcp/", json=ensure_project(), headers=bearer(hs_token(role="writer")))
        assert ok.status_code == 200, ok.text
        assert row_counts()["projects"] == 1


@pytest.mark.parametrize(
    ("token", "needle"),
    [
        (hs_token(exp=1_000_000), "expired"),
        (hs_token(aud="someone-else"), "audience"),
        (hs_token(iss="https://evil.example"), "issuer"),
        (hs_token(exp=None), "exp"),
        (hs_token(secret="another-secret-" + "f" * 64), "signature"),
        (hs_token(algorithm="HS512"), "HS512"),
        (jwt.encode(claims(role="writer"), None, algorithm="none"), "none"),
        ("not-a-jwt", "well-formed"),
    ],
)
async def test_bad_tokens_are_refused_with_the_reason(make_app, isolated_env, token, needle):
    app = make_app(**HS_ENV)
    async with serving(app) as client:
        response = await client(REMOTE).post("/mcp/", json=ensure_project(), headers=bearer(token))
    error = assert_refused(response, 401, "UNAUTHORIZED")
    assert needle.lower() in error["message"].lower()
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert row_counts().get("projects", 0) == 0


async def test_jwt_is_required_even_from_localhost(make_app):
    app = make_app(**HS_ENV)
    async with serving(app) as client:
        assert_refused(await client().post("/mcp/", json=health()), 401, "UNAUTHORIZED")
        ok = await client().post("/mcp/", json=health(), headers=bearer(hs_token(role="reader")))
        assert ok.status_code == 200


async def test_rs256_tokens_verified_with_cached_jwks(make_app, rsa_keys):
    key = rsa_keys["k1"]
    with JwksServer([key]) as jwks:
        app = make_app(
            HTTP_JWT_ENABLED="true", HTTP_JWT_ALGORITHMS="RS256", HTTP_JWT_JWKS_URL=jwks.url, HTTP_JWT_AUDIENCE=AUDIENCE
        )
        async with serving(app) as client:
            remote = client(REMOTE)
            for _ in range(3):
                response = await remote.post("/mcp/", json=health(), headers=bearer(key.sign(claims())))
                assert response.status_code == 200, response.text
            # A token without kid is accepted while the JWKS holds exactly one key.
            no_kid = await remote.post("/mcp/", json=health(), headers=bearer(key.sign(claims(), with_kid=False)))
            assert no_kid.status_code == 200, no_kid.text
            # An HS256 token is not accepted when only a JWKS is configured.
            hs = await remote.post("/mcp/", json=health(), headers=bearer(hs_token()))
            assert_refused(hs, 401, "UNAUTHORIZED")
        assert jwks.fetches == 1


async def test_kid_rotation_refetches_and_unknown_kids_are_refused(make_app, rsa_keys):
    old, new, stranger = rsa_keys["k1"], rsa_keys["k2"], rsa_keys["k3"]
    with JwksServer([old]) as jwks:
        app = make_app(HTTP_JWT_ENABLED="true", HTTP_JWT_ALGORITHMS="RS256", HTTP_JWT_JWKS_URL=jwks.url)
        cache = app.state.authenticator.jwt.jwks
        cache.min_refetch_seconds = 0.3
        async with serving(app) as client:
            remote = client(REMOTE)
            assert (await remote.post("/mcp/", json=health(), headers=bearer(old.sign(claims())))).status_code == 200
            assert jwks.fetches == 1

            jwks.keys = [old, new]
            await asyncio.sleep(0.35)
            rotated = await remote.post("/mcp/", json=health(), headers=bearer(new.sign(claims())))
            assert rotated.status_code == 200, rotated.text
            assert jwks.fetches == 2

            # Several unknown kids in a row cause at most one more fetch (refetches are rate-limited).
            await asyncio.sleep(0.35)
            for _ in range(5):
                unknown = await remote.post("/mcp/", json=health(), headers=bearer(stranger.sign(claims())))
                error = assert_refused(unknown, 401, "UNAUTHORIZED")
                assert "'k3'" in error["message"]
            assert jwks.fetches == 3

            # Now the JWKS holds two keys, so a token without kid is ambiguous.
            ambiguous = await remote.post("/mcp/", json=health(), headers=bearer(old.sign(claims(), with_kid=False)))
            assert "no 'kid'" in assert_refused(ambiguous, 401, "UNAUTHORIZED")["message"]
            # A token claiming one key's kid but signed by another fails its signature check.
            forged = await remote.post("/mcp/", json=health(), headers=bearer(stranger.sign(claims(), kid="k1")))
            assert_refused(forged, 401, "UNAUTHORIZED")


async def test_unreachable_jwks_is_reported_as_unavailable(make_app, rsa_keys):
    with JwksServer([]) as jwks:
        url = jwks.url
    app = make_app(HTTP_JWT_ENABLED="true", HTTP_JWT_ALGORITHMS="RS256", HTTP_JWT_JWKS_URL=url)
    async with serving(app) as client:
        response = await client(REMOTE).post("/mcp/", json=health(), headers=bearer(rsa_keys["k1"].sign(claims())))
    assert_refused(response, 503, "UNAVAILABLE")
