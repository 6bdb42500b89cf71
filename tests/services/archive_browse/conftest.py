"""Fixtures for archive-browsing tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from browse_kit import make_project


@pytest.fixture
async def slug(isolated_env: dict[str, Path]) -> str:
    """A project with two agents, in a fresh database and archive; its slug."""
    return await make_project()
