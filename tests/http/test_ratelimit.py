"""Rate limits in memory: per identity and per tool, 429 with Retry-After, 0 turns a bucket off."""

from __future__ import annotations

import asyncio

from http_kit import REMOTE, assert_refused, ensure_project, health, row_counts, rpc, serving
from jwks_kit import SECRET, hs_token

from mcp_agent_mail.http.ratelimit import Limit, MemoryRateLimiter

LIMITED = {"HTTP_RATE_LIMIT_ENABLED": "true", "HTTP_RATE_LIMIT_TOOLS_PER_MINUTE": "2"}


def as_user(sub: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {hs_token(sub=sub, role='writer', aud=None, iss=None)}"}


async def test_tool_bucket_refuses_with_retry_after_and_never_reaches_the_tool(make_app, isolated_env):
    app = make_app(**LIMITED)
    async with serving(app) as client:
        local = client()
        for _ in range(2):
            assert (await local.post("/mcp/", json=ensure_project())).status_code == 200
        before = row_counts()
        limited = await local.post("/mcp/", json=ensure_project("/work/one-too-many"))
        error = assert_refused(limited, 429, "RATE_LIMITED")
        assert "ensure_project" in error["message"] and "Retry-After" in error["hint"]
        retry_after = int(limited.headers["retry-after"])
        assert 1 <= retry_after <= 30
        assert row_counts() == before

        # Another tool and non-tool requests have their own buckets.
        assert (await local.post("/mcp/", json=health())).status_code == 200
        assert (await local.post("/mcp/", json=rpc("tools/list"))).status_code == 200


async def test_each_identity_has_its_own_buckets(make_app):
    app = make_app(**LIMITED, HTTP_JWT_ENABLED="true", HTTP_JWT_SECRET=SECRET)
    async with serving(app) as client:
        remote = client(REMOTE)
        for _ in range(2):
            assert (await remote.post("/mcp/", json=health(), headers=as_user("alice"))).status_code == 200
        assert_refused(await remote.post("/mcp/", json=health(), headers=as_user("alice")), 429, "RATE_LIMITED")
        # Same peer address, different subject: not affected.
        assert (await remote.post("/mcp/", json=health(), headers=as_user("bob"))).status_code == 200


async def test_batch_elements_each_take_a_token(make_app):
    app = make_app(**LIMITED)
    async with serving(app) as client:
        batch = [health(), {**health(), "id": 2}, {**health(), "id": 3}]
        assert_refused(await client().post("/mcp/", json=batch), 429, "RATE_LIMITED")


async def test_zero_per_minute_disables_the_bucket(make_app):
    app = make_app(HTTP_RATE_LIMIT_ENABLED="true", HTTP_RATE_LIMIT_TOOLS_PER_MINUTE="0", HTTP_RATE_LIMIT_PER_MINUTE="1")
    async with serving(app) as client:
        local = client()
        for _ in range(10):
            assert (await local.post("/mcp/", json=health())).status_code == 200
        assert (await local.post("/mcp/", json=rpc("tools/list"))).status_code == 200
        assert_refused(await local.post("/mcp/", json=rpc("tools/list")), 429, "RATE_LIMITED")


async def test_burst_then_steady_refill():
    limiter = MemoryRateLimiter()
    limit = Limit(per_minute=600, burst=3)  # 10 tokens per second after a burst of 3
    results = [(await limiter.take("k", limit)).allowed for _ in range(4)]
    assert results == [True, True, True, False]
    refused = await limiter.take("k", limit)
    assert not refused.allowed and refused.retry_after == 1 and 0 < refused.wait_seconds <= 0.1
    await asyncio.sleep(0.12)
    assert (await limiter.take("k", limit)).allowed
    assert (await limiter.take("other", limit)).allowed
