"""HTTP error bodies carry the ``detail`` phrase clients of the original server read, beside our coded ``error``."""

from __future__ import annotations

import json

import httpx
from http_kit import REMOTE, ensure_project, row_counts, serving
from jwks_kit import SECRET, hs_token

from mcp_agent_mail.http.body_limit import MAX_BODY_BYTES


def assert_body(response: httpx.Response, status: int, detail: str, code: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["detail"] == detail
    assert body["error"]["code"] == code and body["error"]["message"] and body["error"]["hint"]


async def test_401_403_413_and_429_say_detail_beside_the_coded_error(make_app, isolated_env):
    app = make_app(
        HTTP_JWT_ENABLED="true",
        HTTP_JWT_SECRET=SECRET,
        HTTP_RATE_LIMIT_ENABLED="true",
        HTTP_RATE_LIMIT_TOOLS_PER_MINUTE="1",
    )
    writer = {"Authorization": f"Bearer {hs_token(role='writer', aud=None, iss=None)}"}
    reader = {"Authorization": f"Bearer {hs_token(sub='reader-1', role='reader', aud=None, iss=None)}"}
    async with serving(app) as client:
        remote = client(REMOTE)
        assert (await remote.post("/mcp/", json=ensure_project(), headers=writer)).status_code == 200
        before = row_counts()

        assert_body(await remote.post("/mcp/", json=ensure_project("/work/a")), 401, "Unauthorized", "UNAUTHORIZED")
        forbidden = await remote.post("/mcp/", json=ensure_project("/work/b"), headers=reader)
        assert_body(forbidden, 403, "Forbidden", "FORBIDDEN")
        limited = await remote.post("/mcp/", json=ensure_project("/work/c"), headers=writer)
        assert_body(limited, 429, "Rate limit exceeded", "RATE_LIMITED")
        prefix = json.dumps(ensure_project("/work/d")).encode()[:-1]
        huge = prefix + b" " * (MAX_BODY_BYTES - len(prefix)) + b"}"
        too_large = await remote.post("/mcp/", content=huge, headers=writer)
        assert too_large.status_code == 413
        assert too_large.json()["detail"] and too_large.json()["error"]["code"] == "PAYLOAD_TOO_LARGE"
        assert row_counts() == before
