"""The ``fake`` fixture: a HOME, XDG_CONFIG_HOME and PATH inside the test's temporary folder.

No real configuration or executable of the machine running the tests is touched.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from integrate_homes import FakeMachine

from mcp_agent_mail.config import clear_settings_cache


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMachine]:
    """A fake machine with no client installed yet and an installed ``mcp-agent-mail`` command."""
    home = tmp_path / "home"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    data_dir = tmp_path / "data"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.setenv("MCP_AGENT_MAIL_HOME", str(data_dir))
    for name in ("CODEX_HOME", "APPDATA"):
        monkeypatch.delenv(name, raising=False)
    clear_settings_cache()
    fake = FakeMachine(tmp_path, home, home / ".config", bin_dir, data_dir, "")
    fake.command = str(fake.executable("mcp-agent-mail"))
    old_umask = os.umask(0o022)
    yield fake
    os.umask(old_umask)
    clear_settings_cache()
