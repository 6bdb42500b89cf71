"""``mcp-agent-mail tools``: the tool list per profile and the measured token footprint."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import db_kit
from mcp_agent_mail.cli import app
from mcp_agent_mail.config import clear_settings_cache

runner = CliRunner()


@pytest.fixture
def env(isolated_env, monkeypatch):
    monkeypatch.setenv("TOOLS_PROFILE", "full")
    clear_settings_cache()
    return isolated_env


def test_footprint_stays_within_targets(env):
    """The CI gate: core <= 2,500 and full <= 8,000 approximate tokens of tool definitions."""
    result = runner.invoke(app, ["tools", "--stats", "--check", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = {row["profile"]: row for row in report["profiles"]}
    assert rows["core"]["tools"] == 12 and rows["full"]["tools"] == 41
    assert rows["core"]["bytes"] <= 4 * 2500 and rows["full"]["bytes"] <= 4 * 8000
    assert rows["core"]["tokens"] == round(rows["core"]["bytes"] / 4)
    assert "tools/list" in report["measured"]


@pytest.mark.bare_database
def test_stats_table_is_readable(env):
    result = runner.invoke(app, ["tools", "--stats"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["profile", "tools", "bytes", "~tokens", "target"]
    assert lines[1].split()[:2] == ["core", "12"] and lines[2].split()[:2] == ["full", "41"]
    assert "OVER" not in result.stdout
    assert not db_kit.database_exists()  # measuring touches no mailbox


def test_lists_the_tools_of_a_profile(env):
    result = runner.invoke(app, ["tools", "--profile", "core,whois"])
    assert result.exit_code == 0
    names = [line.split()[0] for line in result.stdout.splitlines()]
    assert len(names) == 13 and "whois" in names and "send_message" in names and "health_check" not in names
    as_json = json.loads(runner.invoke(app, ["tools", "--profile", "core", "--json"]).stdout)
    assert {d["name"] for d in as_json} == set(names) - {"whois"}
    assert all({"description", "inputSchema", "outputSchema", "annotations"} <= set(d) for d in as_json)


def test_unknown_profile_is_a_coded_error(env):
    result = runner.invoke(app, ["tools", "--profile", "tiny"])
    assert result.exit_code == 1
    assert "CONFIGURATION_ERROR" in result.stderr and "tiny" in result.stderr
