"""Bounded waits on a condition, for tests that must wait for something to happen (never a bare sleep)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

T = TypeVar("T")

DEFAULT_INTERVAL_S = 0.02


def wait_until(
    predicate: Callable[[], T], timeout: float, *, interval: float = DEFAULT_INTERVAL_S, message: str = ""
) -> T:
    """Poll ``predicate`` until it returns something truthy and return that; fail the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s{': ' + message if message else ''}")
        time.sleep(interval)


async def async_wait_until(
    predicate: Callable[[], T | Awaitable[T]],
    timeout: float,
    *,
    interval: float = DEFAULT_INTERVAL_S,
    message: str = "",
) -> T:
    """Like :func:`wait_until` without blocking the event loop; ``predicate`` may be a coroutine function."""
    deadline = time.monotonic() + timeout
    while True:
        outcome = predicate()
        value = cast(T, await outcome) if isinstance(outcome, Awaitable) else outcome
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout} s{': ' + message if message else ''}")
        await asyncio.sleep(interval)
