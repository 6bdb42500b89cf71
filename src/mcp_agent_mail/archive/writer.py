"""The archive writer (placeholder until the writer lands)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator


@contextlib.asynccontextmanager
async def writer_running() -> AsyncIterator[None]:
    """Run the archive writer for the lifetime of the block."""
    yield
