"""Token-bucket rate limits, kept in process memory or in Redis (shared by every worker process).

A bucket holds at most ``burst`` tokens, refills at ``per_minute / 60`` tokens per
second and starts full; each request takes one token. A ``per_minute`` of 0 turns
the bucket off. The Redis backend updates a bucket atomically in one Lua script
that reads the clock of the Redis server (``TIME``), so several processes — or
hosts whose clocks disagree — share one limit exactly.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any, Protocol

from mcp_agent_mail.config import RateLimitSettings
from mcp_agent_mail.errors import ConfigurationError

logger = logging.getLogger("mcp_agent_mail.http.ratelimit")

IDLE_EVICT_SECONDS = 3600.0
SWEEP_EVERY_SECONDS = 60.0
REDIS_KEY_PREFIX = "mcp-agent-mail:rl:"

# KEYS[1] bucket hash; ARGV: refill tokens/second, capacity, cost. Returns {allowed, seconds_to_wait}.
TOKEN_BUCKET_LUA = """
local rate = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = capacity
  ts = now
end
if now > ts then
  tokens = math.min(capacity, tokens + (now - ts) * rate)
end
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = (cost - tokens) / rate
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(math.max(now, ts)))
redis.call('PEXPIRE', KEYS[1], math.ceil(capacity / rate * 1000) + 1000)
return {allowed, tostring(wait)}
"""


@dataclass(frozen=True, slots=True)
class Limit:
    """A bucket's size: ``per_minute`` refill (0 = unlimited) and ``burst`` capacity (0 = same as per_minute)."""

    per_minute: int
    burst: int = 0

    @property
    def disabled(self) -> bool:
        """Return True when this bucket never refuses."""
        return self.per_minute <= 0

    @property
    def capacity(self) -> int:
        """Return the number of tokens a full bucket holds."""
        return self.burst if self.burst > 0 else self.per_minute

    @property
    def rate(self) -> float:
        """Return the refill rate in tokens per second."""
        return self.per_minute / 60.0


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of taking a token: allowed, or refused with the seconds until a token is back."""

    allowed: bool
    wait_seconds: float = 0.0

    @property
    def retry_after(self) -> int:
        """Return the ``Retry-After`` value: whole seconds, at least 1."""
        return max(1, math.ceil(self.wait_seconds))


class RateLimiter(Protocol):
    """Something that hands out tokens from named buckets."""

    async def take(self, key: str, limit: Limit) -> Decision:
        """Take one token from bucket ``key``."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


class MemoryRateLimiter:
    """Buckets in this process only (one server process)."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}
        self._last_sweep = time.monotonic()

    def _sweep(self, now: float) -> None:
        if now - self._last_sweep < SWEEP_EVERY_SECONDS:
            return
        self._last_sweep = now
        stale = [key for key, (_tokens, ts) in self._buckets.items() if now - ts > IDLE_EVICT_SECONDS]
        for key in stale:
            del self._buckets[key]

    async def take(self, key: str, limit: Limit) -> Decision:
        """Take one token from bucket ``key`` (never refuses when the limit is disabled)."""
        if limit.disabled:
            return Decision(True)
        now = time.monotonic()
        self._sweep(now)
        capacity = float(limit.capacity)
        tokens, ts = self._buckets.get(key, (capacity, now))
        tokens = min(capacity, tokens + max(0.0, now - ts) * limit.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return Decision(True)
        self._buckets[key] = (tokens, now)
        return Decision(False, (1.0 - tokens) / limit.rate)

    async def aclose(self) -> None:
        """Nothing to release."""


class RedisRateLimiter:
    """Buckets in Redis, shared by every process using the same Redis; falls back to memory if Redis fails."""

    def __init__(self, url: str, *, prefix: str = REDIS_KEY_PREFIX) -> None:
        try:
            import redis.asyncio as redis_asyncio
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise ConfigurationError(
                "HTTP_RATE_LIMIT_BACKEND=redis needs the redis client library.",
                hint="pip install 'mcp-agent-mail[redis]', or set HTTP_RATE_LIMIT_BACKEND=memory.",
            ) from exc
        self.url = url
        self.prefix = prefix
        self._client: Any = redis_asyncio.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._script = self._client.register_script(TOKEN_BUCKET_LUA)
        self._fallback = MemoryRateLimiter()
        self._last_warning = 0.0

    async def take(self, key: str, limit: Limit) -> Decision:
        """Take one token from the shared bucket ``key``; on a Redis failure use this process's bucket."""
        if limit.disabled:
            return Decision(True)
        try:
            allowed, wait = await self._script(keys=[self.prefix + key], args=[limit.rate, limit.capacity, 1])
        except Exception as exc:
            now = time.monotonic()
            if now - self._last_warning > 60.0:
                self._last_warning = now
                logger.warning("Redis rate limiter unavailable (%s); limiting per process meanwhile", exc)
            return await self._fallback.take(key, limit)
        if int(allowed) == 1:
            return Decision(True)
        return Decision(False, float(wait))

    async def aclose(self) -> None:
        """Close the Redis connection pool."""
        await self._client.aclose()


def build_rate_limiter(settings: RateLimitSettings) -> RateLimiter | None:
    """Return the configured limiter, or None when rate limiting is off."""
    if not settings.enabled:
        return None
    if settings.backend == "memory":
        return MemoryRateLimiter()
    if settings.backend == "redis":
        if not settings.redis_url:
            raise ConfigurationError(
                "HTTP_RATE_LIMIT_BACKEND=redis but no Redis URL is set.",
                hint="Set REDIS_URL (or HTTP_RATE_LIMIT_REDIS_URL), e.g. redis://127.0.0.1:6379/0.",
            )
        return RedisRateLimiter(settings.redis_url)
    raise ConfigurationError(f"Unknown HTTP_RATE_LIMIT_BACKEND {settings.backend!r}.", hint="Use 'memory' or 'redis'.")


__all__ = [
    "TOKEN_BUCKET_LUA",
    "Decision",
    "Limit",
    "MemoryRateLimiter",
    "RateLimiter",
    "RedisRateLimiter",
    "build_rate_limiter",
]
