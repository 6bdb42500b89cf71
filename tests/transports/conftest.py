"""Fixtures for transport tests: an isolated mailbox environment for server subprocesses."""

from __future__ import annotations

from pathlib import Path

import pytest
from mail_scenario import make_mailbox_env


@pytest.fixture
def mailbox_env(tmp_path: Path) -> dict[str, str]:
    """A process environment with its own mailbox under ``tmp_path``."""
    return make_mailbox_env(tmp_path)
