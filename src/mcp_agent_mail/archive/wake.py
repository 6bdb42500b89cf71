"""Wake-up registry linking services (which queue work) to the writers running in this process."""

from __future__ import annotations

from collections.abc import Callable

_callbacks: list[Callable[[], None]] = []


def wake_writer() -> None:
    """Tell every archive writer of this process that new work is queued (safe from any thread)."""
    for callback in list(_callbacks):
        callback()


def add_wake_callback(callback: Callable[[], None]) -> None:
    """Register a writer's wake-up callback."""
    _callbacks.append(callback)


def remove_wake_callback(callback: Callable[[], None]) -> None:
    """Unregister a writer's wake-up callback (missing ones are ignored)."""
    if callback in _callbacks:
        _callbacks.remove(callback)
