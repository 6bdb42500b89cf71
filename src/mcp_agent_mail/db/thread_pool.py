"""A small pool of daemon threads answering the event loop with a plain asyncio future.

``loop.run_in_executor`` wraps every job in a ``concurrent.futures.Future`` (with
its condition variable) and chains it to an asyncio future; for sub-millisecond
database reads made on every tool call that bookkeeping is a noticeable share of
the CPU. Here a job is a tuple on a ``SimpleQueue`` and its outcome goes straight
back with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.cancelled():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class LoopThreadPool:
    """``size`` daemon threads (started on first use, again after a fork) running blocking calls."""

    def __init__(self, size: int, name: str) -> None:
        self.size = size
        self.name = name
        self._queue: queue.SimpleQueue[_Job] = queue.SimpleQueue()
        self._pid: int | None = None
        self._guard = threading.Lock()

    def _start(self) -> None:
        with self._guard:
            if self._pid == os.getpid():
                return
            self._queue = queue.SimpleQueue()
            for index in range(self.size):
                threading.Thread(
                    target=self._serve, args=(self._queue,), name=f"{self.name}-{index}", daemon=True
                ).start()
            self._pid = os.getpid()

    @staticmethod
    def _serve(jobs: queue.SimpleQueue[_Job]) -> None:
        while True:
            loop, future, call = jobs.get()
            try:
                result, error = call(), None
            except BaseException as exc:  # handed to the caller
                result, error = None, exc
            with contextlib.suppress(RuntimeError):  # the caller's loop may have closed meanwhile
                loop.call_soon_threadsafe(_settle, future, result, error)

    async def run(self, call: Callable[[], T]) -> T:
        """Run ``call()`` on a pool thread and return (or raise) its outcome."""
        if self._pid != os.getpid():
            self._start()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put((loop, future, call))
        return await future


__all__ = ["LoopThreadPool"]
