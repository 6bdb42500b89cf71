"""A brake on guessing tokens: after a few failed sign-ins from one address, refuse more for a while.

Counts live in this process's memory, bounded in size; a success clears the address's count.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque

MAX_FAILURES = 5
WINDOW_SECONDS = 60.0
MAX_ADDRESSES = 10_000


class SignInThrottle:
    """Remember recent failed sign-ins per client address and say when one must wait."""

    def __init__(self, max_failures: int = MAX_FAILURES, window: float = WINDOW_SECONDS) -> None:
        self.max_failures = max_failures
        self.window = window
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.get(address, deque())
        while times and now - times[0] >= self.window:
            times.popleft()
        return times

    def wait_seconds(self, address: str, now: float | None = None) -> int:
        """Return how many seconds ``address`` must wait before trying again (0: it may try now)."""
        now = time.monotonic() if now is None else now
        times = self._recent(address, now)
        if len(times) < self.max_failures:
            return 0
        return max(1, int(self.window - (now - times[0]) + 0.999))

    def failed(self, address: str, now: float | None = None) -> None:
        """Record a failed sign-in from ``address``."""
        now = time.monotonic() if now is None else now
        times = self._recent(address, now)
        times.append(now)
        self._failures[address] = times
        self._failures.move_to_end(address)
        while len(self._failures) > MAX_ADDRESSES:
            self._failures.popitem(last=False)

    def succeeded(self, address: str) -> None:
        """Forget the failures of ``address`` after a good sign-in."""
        self._failures.pop(address, None)
