"""Fixtures for mail service tests: a mailbox of two projects with registered agents."""

from __future__ import annotations

from pathlib import Path

import pytest
from mail_kit import Mailbox, make_mailbox


@pytest.fixture
async def mailbox(isolated_env: dict[str, Path]) -> Mailbox:
    """Two projects: BlueLake, RedFox and GreenCastle in one, PurpleHill in the other."""
    return await make_mailbox()
