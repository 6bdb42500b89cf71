"""Building the server: fastmcp's tracing spans stay off unless the operator asks for them."""

from __future__ import annotations

import fastmcp
import pytest

from mcp_agent_mail.app import build_mcp_server


@pytest.fixture
def restore_telemetry_mode():
    before = fastmcp.settings.telemetry_mode
    yield
    fastmcp.settings.telemetry_mode = before


def test_telemetry_is_off_by_default(monkeypatch, restore_telemetry_mode):
    monkeypatch.delenv("FASTMCP_TELEMETRY_MODE", raising=False)
    fastmcp.settings.telemetry_mode = "native"
    build_mcp_server(mailbox=False)
    assert fastmcp.settings.telemetry_mode == "off"


def test_an_explicit_telemetry_mode_is_kept(monkeypatch, restore_telemetry_mode):
    monkeypatch.setenv("FASTMCP_TELEMETRY_MODE", "native")
    fastmcp.settings.telemetry_mode = "native"
    build_mcp_server(mailbox=False)
    assert fastmcp.settings.telemetry_mode == "native"
