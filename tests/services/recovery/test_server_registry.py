"""Which servers hold a mailbox (services.recovery.server_registry): records, their sweep, and exclusive use."""

from __future__ import annotations

import json
import os

import pytest

from mcp_agent_mail.config import clear_settings_cache, get_settings
from mcp_agent_mail.errors import ServerRunningError
from mcp_agent_mail.services.recovery.server_registry import (
    describe_servers,
    ensure_no_servers,
    exclusive_mailbox,
    hold_server_registration,
    registry_paths,
    running_servers,
)

NO_SUCH_PID = 2**31 - 2  # above any kernel's pid_max, so never a live process


@pytest.mark.sqlite_only  # a database file has a folder of its own to hold the registry
def test_the_registry_lives_next_to_the_database_file(isolated_env):
    paths = registry_paths(get_settings())
    assert paths.lock_file == isolated_env["db_path"].with_name("test.sqlite3.servers.lock")
    assert paths.sidecar_dir == isolated_env["db_path"].with_name("test.sqlite3.servers.d")


def test_the_registry_of_a_database_without_a_file_lives_in_the_data_directory(isolated_env, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://user:secret@127.0.0.1:5432/mail")
    clear_settings_cache()
    settings = get_settings()
    paths = registry_paths(settings)
    assert paths.lock_file == settings.data_dir / "servers.lock"
    assert paths.sidecar_dir == settings.data_dir / "servers.d"


def test_a_registration_is_listed_for_its_lifetime_and_leaves_no_record(isolated_env):
    settings = get_settings()
    assert running_servers(settings) == []
    ensure_no_servers(settings)
    with hold_server_registration(settings, "http"), hold_server_registration(settings, "mcp") as record:
        assert record["pid"] == os.getpid() and record["transport"] == "mcp"
        servers = running_servers(settings)
        assert sorted(s["transport"] for s in servers) == ["http", "mcp"]
        assert {s["pid"] for s in servers} == {os.getpid()}
        with pytest.raises(ServerRunningError) as caught:
            ensure_no_servers(settings)
        assert caught.value.code == "SERVER_RUNNING"
        assert f"pid {os.getpid()} (http, mcp)" in caught.value.message
        assert len(caught.value.data["servers"]) == 2
    assert running_servers(settings) == []
    assert list(registry_paths(settings).sidecar_dir.glob("*")) == []


def test_records_of_dead_processes_are_ignored_while_servers_run_and_swept_once_none_does(isolated_env):
    settings = get_settings()
    sidecars = registry_paths(settings).sidecar_dir
    sidecars.mkdir(parents=True)
    dead = sidecars / f"{NO_SUCH_PID}-1.json"
    dead.write_text(json.dumps({"pid": NO_SUCH_PID, "started_at": "2026-01-01T00:00:00+00:00", "transport": "stdio"}))
    garbled = sidecars / "garbled.json"
    garbled.write_text("{not json")
    with hold_server_registration(settings, "stdio"):
        assert [s["pid"] for s in running_servers(settings)] == [os.getpid()]
        assert dead.exists()  # nobody sweeps while the mailbox is in use
    registry_paths(settings).lock_file.touch()
    assert running_servers(settings) == []
    assert not dead.exists()
    assert garbled.exists()  # unreadable records are skipped, never guessed at


def test_exclusive_use_refuses_while_a_server_runs_and_is_granted_after(isolated_env):
    settings = get_settings()
    with hold_server_registration(settings, "http"), pytest.raises(ServerRunningError) as caught:  # noqa: SIM117
        with exclusive_mailbox(settings):
            pytest.fail("a restore must not run while a server holds the mailbox")
    assert "--ignore-running" in (caught.value.hint or "")
    with exclusive_mailbox(settings):
        assert running_servers(settings) == [{"pid": None, "started_at": None, "transport": "unknown"}]


def test_servers_are_described_per_process():
    servers = [
        {"pid": 7, "transport": "http"},
        {"pid": 7, "transport": "mcp"},
        {"pid": 7, "transport": "mcp"},
        {"pid": 9, "transport": None},
        {"pid": None, "transport": "unknown"},
    ]
    assert describe_servers(servers) == "pid 7 (http, mcp), pid 9 (unknown)"
    assert describe_servers([{"pid": None}]) == "a process that left no record"
