"""Tool profiles: TOOLS_PROFILE, build_mcp_server(tools=...) and ``stdio --tools``."""

from __future__ import annotations

import os
import sys

import pytest
from fastmcp import Client
from fastmcp.client.transports import StdioTransport
from typer.testing import CliRunner

import db_kit
from mcp_agent_mail.app import build_mcp_server
from mcp_agent_mail.cli import app as cli_app
from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.errors import ConfigurationError

CORE = {
    "ensure_project",
    "register_agent",
    "create_agent_identity",
    "send_message",
    "reply_message",
    "fetch_inbox",
    "acknowledge_message",
    "search_messages",
    "file_reservation_paths",
    "release_file_reservations",
    "renew_file_reservations",
    "macro_start_session",
}
FULL = CORE | {
    "health_check",
    "wait_for_mail",
    "whois",
    "set_contact_policy",
    "mark_message_read",
    "request_contact",
    "respond_contact",
    "list_contacts",
    "macro_contact_handshake",
    "force_release_file_reservation",
    "summarize_thread",
    "summarize_recent",
    "fetch_summary",
    "fetch_topic",
    "retire_agent",
    "unretire_agent",
    "deregister_agent",
    "archive_project",
    "unarchive_project",
    "hard_delete_agent",
    "hard_delete_project",
    "purge_old_messages",
    "macro_prepare_thread",
    "macro_file_reservation_cycle",
    "install_precommit_guard",
    "uninstall_precommit_guard",
    "list_window_identities",
    "rename_window",
    "expire_window",
}


async def listed(server) -> set[str]:
    async with Client(server) as client:
        return {tool.name for tool in await client.list_tools()}


@pytest.fixture
def no_profile_env(isolated_env, monkeypatch):
    monkeypatch.setenv("TOOLS_PROFILE", "")
    clear_settings_cache()
    return isolated_env


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("core", CORE),
        ("full", FULL),
        ("whois, fetch_inbox", {"whois", "fetch_inbox"}),
        ("core,whois", CORE | {"whois"}),
        (" CORE , Health_Check ", CORE | {"health_check"}),
        ("core,full", FULL),
    ],
)
async def test_profile_lists_exactly_its_tools(no_profile_env, spec, expected):
    assert await listed(build_mcp_server(tools=spec)) == expected


async def test_default_is_full_and_setting_chooses_profile(no_profile_env, monkeypatch):
    assert await listed(build_mcp_server()) == FULL
    monkeypatch.setenv("TOOLS_PROFILE", "core")
    clear_settings_cache()
    assert await listed(build_mcp_server()) == CORE
    assert await listed(build_mcp_server(tools="full")) == FULL  # an explicit choice wins over the setting


async def test_hidden_tools_cannot_be_called(no_profile_env):
    async with Client(build_mcp_server(tools="core")) as client:
        with pytest.raises(Exception, match="whois"):
            await client.call_tool("whois", {"project_key": "/x", "agent_name": "BlueLake"})


def test_unknown_name_is_a_configuration_error(no_profile_env):
    with pytest.raises(ConfigurationError) as info:
        build_mcp_server(tools="core,send_mesage")
    rendered = info.value.render()
    assert rendered.startswith("CONFIGURATION_ERROR")
    assert "send_mesage" in rendered and "send_message" in rendered and "core" in rendered


def test_unknown_setting_fails_server_start(no_profile_env, monkeypatch):
    monkeypatch.setenv("TOOLS_PROFILE", "minimal")
    clear_settings_cache()
    with pytest.raises(ConfigurationError, match="minimal"):
        build_mcp_server()


@pytest.mark.bare_database
@pytest.mark.parametrize("command", ["stdio", "serve"])
def test_cli_refuses_unknown_tools_before_starting(no_profile_env, monkeypatch, command):
    result = CliRunner().invoke(cli_app, [command, "--tools", "core,bogus_tool"])
    assert result.exit_code == 1
    assert "CONFIGURATION_ERROR" in result.stderr and "bogus_tool" in result.stderr
    assert "fetch_inbox" in result.stderr  # the valid names are listed
    assert not db_kit.database_exists()  # nothing was started or created


async def test_stdio_process_with_core_tools(isolated_env, new_database_url):
    tmp = isolated_env["tmp_path"]
    env = {key: value for key, value in os.environ.items() if key != "TOOLS_PROFILE"}
    env.update(
        DATABASE_URL=new_database_url(tmp / "stdio.sqlite3"),
        STORAGE_ROOT=str(tmp / "stdio-archive"),
        MCP_AGENT_MAIL_HOME=str(tmp / "stdio-home"),
    )
    transport = StdioTransport(
        command=sys.executable,
        args=["-m", "mcp_agent_mail", "stdio", "--tools", "core"],
        env=env,
        keep_alive=False,
        log_file=tmp / "stdio.log",
    )
    async with Client(transport, timeout=30) as client:
        names = {tool.name for tool in await client.list_tools()}
        project = await client.call_tool("ensure_project", {"human_key": str(tmp / "repo")})
    assert names == CORE
    assert project.data["slug"]
