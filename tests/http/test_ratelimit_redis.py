"""Rate limits in a real Redis: one limit shared by separate processes and app instances, on Redis's clock."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest
import redis
from http_kit import assert_refused, free_port, health, serving

from mcp_agent_mail.http.ratelimit import REDIS_KEY_PREFIX, Limit, RedisRateLimiter

pytestmark = pytest.mark.slow

TAKER = textwrap.dedent(
    """
    import asyncio, sys
    from mcp_agent_mail.http.ratelimit import Limit, RedisRateLimiter

    async def main():
        limiter = RedisRateLimiter(sys.argv[1])
        allowed = 0
        for _ in range(int(sys.argv[2])):
            allowed += (await limiter.take("tool:send_message:sub:alice", Limit(per_minute=1, burst=7))).allowed
        await limiter.aclose()
        print(allowed)

    asyncio.run(main())
    """
)


def test_two_processes_share_one_bucket(redis_url):
    procs = [
        subprocess.Popen([sys.executable, "-c", TAKER, redis_url, "6"], stdout=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    allowed = [int(proc.communicate(timeout=60)[0].strip()) for proc in procs]
    assert all(proc.returncode == 0 for proc in procs)
    assert sum(allowed) == 7, allowed


async def test_two_app_instances_share_the_limit(make_app, redis_url):
    env = {
        "HTTP_RATE_LIMIT_ENABLED": "true",
        "HTTP_RATE_LIMIT_BACKEND": "redis",
        "REDIS_URL": redis_url,
        "HTTP_RATE_LIMIT_TOOLS_PER_MINUTE": "3",
    }
    first, second = make_app(**env), make_app(**env)
    assert first.state.rate_limiter is not second.state.rate_limiter
    async with serving(first) as client_one, serving(second) as client_two:
        one, two = client_one(), client_two()
        statuses = [(await (one if i % 2 else two).post("/mcp/", json=health())).status_code for i in range(3)]
        assert statuses == [200, 200, 200]
        refused = await one.post("/mcp/", json=health())
        assert_refused(refused, 429, "RATE_LIMITED")
        assert int(refused.headers["retry-after"]) >= 1
        assert_refused(await two.post("/mcp/", json=health()), 429, "RATE_LIMITED")


async def test_bucket_state_uses_the_redis_clock(redis_url):
    limiter = RedisRateLimiter(redis_url)
    try:
        decision = await limiter.take("other:ip:127.0.0.1", Limit(per_minute=60, burst=1))
        assert decision.allowed
        refused = await limiter.take("other:ip:127.0.0.1", Limit(per_minute=60, burst=1))
        assert not refused.allowed and 0 < refused.wait_seconds <= 1.0 and refused.retry_after == 1
    finally:
        await limiter.aclose()
    client = redis.Redis.from_url(redis_url)
    try:
        stored = float(client.hget(f"{REDIS_KEY_PREFIX}other:ip:127.0.0.1", "ts"))
        seconds, micros = client.time()
        assert abs(stored - (seconds + micros / 1e6)) < 5
        assert client.pttl(f"{REDIS_KEY_PREFIX}other:ip:127.0.0.1") > 0
    finally:
        client.close()


async def test_limits_continue_per_process_while_redis_is_down():
    limiter = RedisRateLimiter(f"redis://127.0.0.1:{free_port()}/0")
    try:
        started = time.monotonic()
        results = [(await limiter.take("k", Limit(per_minute=1, burst=2))).allowed for _ in range(3)]
        assert results == [True, True, False]
        assert time.monotonic() - started < 10
    finally:
        await limiter.aclose()
