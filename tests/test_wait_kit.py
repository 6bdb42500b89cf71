"""The bounded waits tests use instead of sleeping: they return the first truthy value or fail at the deadline."""

from __future__ import annotations

import itertools

import pytest

from wait_kit import async_wait_until, wait_until


def test_wait_until_returns_the_first_truthy_value():
    counter = itertools.count()
    assert wait_until(lambda: next(counter) >= 3 and "done", timeout=5) == "done"


def test_wait_until_fails_with_the_message_at_its_deadline():
    with pytest.raises(AssertionError, match=r"within 0\.05 s: the flag"):
        wait_until(lambda: False, timeout=0.05, message="the flag")


async def test_async_wait_until_accepts_coroutine_predicates():
    counter = itertools.count()

    async def ready() -> int:
        return next(counter) if next(counter) > 4 else 0

    assert await async_wait_until(ready, timeout=5) > 4
    assert await async_wait_until(lambda: "plain", timeout=1) == "plain"
    with pytest.raises(AssertionError, match=r"within 0\.05 s"):
        await async_wait_until(lambda: None, timeout=0.05)
