"""Fixtures for transport tests: an isolated mailbox environment for server subprocesses."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from mail_scenario import make_mailbox_env


@pytest.fixture
def mailbox_env(tmp_path: Path, new_database_url: Callable[[Path], str]) -> dict[str, str]:
    """A process environment with its own mailbox (a fresh database on the run's backend, files under ``tmp_path``)."""
    return make_mailbox_env(tmp_path, new_database_url(tmp_path / "mailbox.sqlite3"))
