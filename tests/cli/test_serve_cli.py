"""The server commands as a user runs them: help, version, migrate and error rendering."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

import db_kit
from mcp_agent_mail import __version__
from mcp_agent_mail.cli import app, run_cli
from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.errors import NotFoundError

runner = CliRunner()


def test_help_lists_the_server_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "stdio", "migrate", "version"):
        assert command in result.stdout


def test_version_prints_the_installed_version():
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"mcp-agent-mail {__version__}"


@pytest.mark.bare_database
def test_migrate_creates_the_schema_and_reports_its_version(isolated_env):
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Schema version ")
    tables = db_kit.table_names()
    assert {"projects", "agents", "messages", "message_recipients", "file_reservations"} <= tables
    assert "fts_messages" in tables or not db_kit.on_sqlite()  # SQLite's full-text index is a table of its own
    again = runner.invoke(app, ["migrate"])
    assert again.exit_code == 0 and again.stdout == result.stdout


def test_bad_port_is_one_coded_line_on_stderr_and_exit_1(isolated_env):
    result = runner.invoke(app, ["serve", "--port", "70000"])
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "INVALID_ARGUMENT: --port 70000 is outside 0..65535."
    assert lines[1].startswith("Hint: ")


def test_unusable_database_is_reported_with_a_code(isolated_env, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", db_kit.unusable_url(isolated_env["tmp_path"]))
    clear_settings_cache()
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 1
    assert result.stderr.startswith("CONFIGURATION_ERROR: ")
    assert "Traceback" not in result.output


def test_run_cli_renders_agent_mail_errors(capsys):
    def failing() -> None:
        raise NotFoundError("Project '/x' not found.", hint="Call ensure_project first.")

    with pytest.raises(typer.Exit) as caught:
        run_cli(failing)
    assert caught.value.exit_code == 1
    captured = capsys.readouterr()
    assert captured.err == "NOT_FOUND: Project '/x' not found.\nHint: Call ensure_project first.\n"
    assert captured.out == ""


def _serve_process(*options: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``mcp-agent-mail serve`` as users do, with a bounded wait."""
    return subprocess.run(
        [sys.executable, "-m", "mcp_agent_mail", "serve", *options],
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A port on 127.0.0.1 that another socket is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


@pytest.mark.bare_database
@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-worker", "two-workers"])
def test_a_port_in_use_is_one_coded_line_and_exit_1(isolated_env, busy_port, workers):
    result = _serve_process("--port", str(busy_port), *workers)
    assert result.returncode == 1, result.stderr.decode()
    assert result.stdout == b""
    lines = result.stderr.decode().splitlines()
    assert lines[0] == f"UNAVAILABLE: port {busy_port} on 127.0.0.1 is in use."
    assert lines[1].startswith("Hint: ") and f"--port {busy_port + 1}" in lines[1]
    assert "Errno" not in result.stderr.decode() and "Traceback" not in result.stderr.decode()
    assert not db_kit.database_exists(), "the server prepared the database before finding the port busy"


@pytest.mark.bare_database
@pytest.mark.parametrize("workers", [[], ["--workers", "2"]], ids=["one-worker", "two-workers"])
@pytest.mark.parametrize("under", ["", "storage"], ids=["the-file-itself", "under-a-file"])
def test_a_storage_root_that_is_a_file_is_refused_before_anything_starts(isolated_env, monkeypatch, workers, under):
    blocker = isolated_env["tmp_path"] / "not-a-directory"
    blocker.write_text("someone's notes\n")
    root = blocker / under if under else blocker
    monkeypatch.setenv("STORAGE_ROOT", str(root))
    result = _serve_process("--port", "0", *workers)
    assert result.returncode == 1, result.stderr.decode()
    stderr = result.stderr.decode()
    lines = stderr.splitlines()
    assert lines[0].startswith(f"CONFIGURATION_ERROR: STORAGE_ROOT {root} ")
    assert "not a directory" in lines[0]
    assert lines[1].startswith("Hint: Point STORAGE_ROOT at a directory")
    assert "Traceback" not in stderr and "MCP over HTTP" not in stderr
    assert blocker.read_text() == "someone's notes\n"
    assert not db_kit.database_exists(), "the server prepared the database before checking the storage root"


def test_stdio_refuses_a_storage_root_that_is_a_file(isolated_env, monkeypatch):
    blocker = isolated_env["tmp_path"] / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("STORAGE_ROOT", str(blocker))
    result = subprocess.run(
        [sys.executable, "-m", "mcp_agent_mail", "stdio"],
        input=b"",
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1, result.stderr.decode()
    assert result.stderr.decode().startswith(f"CONFIGURATION_ERROR: STORAGE_ROOT {blocker} is a file")


def test_a_host_that_is_not_this_machine_is_a_configuration_error(isolated_env):
    result = _serve_process("--host", "nonexistent.invalid", "--port", "0")
    assert result.returncode == 1
    assert result.stderr.decode().startswith("CONFIGURATION_ERROR: Cannot listen on 'nonexistent.invalid'")


@pytest.mark.parametrize("option", ["--path", "--host", "--tools"])
def test_command_line_text_that_is_not_utf8_is_invalid_argument(isolated_env, option):
    value = b"/mc\xffp/" if option == "--path" else b"core,\xff"
    command = [sys.executable.encode(), b"-m", b"mcp_agent_mail", b"serve", b"--port", b"0", option.encode(), value]
    result = subprocess.run(command, capture_output=True, timeout=120, check=False)
    assert result.returncode == 1
    stderr = result.stderr.decode()
    assert stderr.startswith(f"INVALID_ARGUMENT: {option} is not valid Unicode: it holds a lone surrogate (U+DCFF)")
    assert "Traceback" not in stderr


def test_each_worker_of_serve_workers_builds_the_http_app(isolated_env):
    from uvicorn.importer import import_from_string

    from mcp_agent_mail.cli.serve import WORKER_APP_FACTORY

    factory = import_from_string(WORKER_APP_FACTORY)
    app = factory()
    assert "/health/readiness" in {getattr(route, "path", None) for route in app.router.routes}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="balanced workers need Linux's SO_REUSEPORT")
def test_the_workers_port_is_held_for_them_and_refused_to_other_programs():
    from mcp_agent_mail.cli.serve_workers import reuse_port_sockets

    held = reuse_port_sockets("127.0.0.1", 0, listen=False)
    try:
        port = held[0].getsockname()[1]
        assert port != 0
        worker = reuse_port_sockets("127.0.0.1", port)  # a worker binds the held port beside the parent
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as other, pytest.raises(OSError) as refused:
                other.bind(("127.0.0.1", port))
            assert refused.value.errno == errno.EADDRINUSE
        finally:
            for sock in worker:
                sock.close()
    finally:
        for sock in held:
            sock.close()


@pytest.mark.sqlite_only
def test_a_data_directory_that_is_a_file_is_a_coded_error_for_every_command(isolated_env, monkeypatch):
    home = isolated_env["tmp_path"] / "home-is-a-file"
    home.write_text("")
    monkeypatch.setenv("MCP_AGENT_MAIL_HOME", str(home))
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{home}/mailbox.sqlite3")
    clear_settings_cache()
    listed = runner.invoke(app, ["projects", "list"])
    assert listed.exit_code == 1
    assert listed.stderr.splitlines() == [
        f"CONFIGURATION_ERROR: The database's directory {home} is a file, not a directory.",
        "Hint: Point DATABASE_URL (or MCP_AGENT_MAIL_HOME) at a directory this user can write.",
    ]
    points = runner.invoke(app, ["archive", "list"])
    assert points.exit_code == 1
    assert points.stderr.startswith(
        f"CONFIGURATION_ERROR: The restore points' folder {home / 'archived_mailbox_states'} lies under {home}, "
        "which is a file, not a directory."
    )
    checked = runner.invoke(app, ["doctor", "check"])
    assert checked.exit_code == 1
    assert f"[ERROR] database: The database's directory {home} is a file, not a directory." in checked.stdout
    assert "interrupted restore" not in checked.stdout and "Traceback" not in checked.output
    assert home.read_text() == ""


@pytest.mark.parametrize("command", [["serve"], ["stdio"], ["projects", "list"], ["config", "show"]])
def test_a_setting_of_the_wrong_kind_is_one_coded_line_for_every_command(isolated_env, command):
    result = subprocess.run(
        [sys.executable, "-m", "mcp_agent_mail", *command],
        env={**os.environ, "ARCHIVE_FLUSH_INTERVAL_MS": "soon"},
        input=b"",
        capture_output=True,
        timeout=120,
        check=False,
    )
    stderr = result.stderr.decode()
    assert result.returncode == 1, stderr
    lines = stderr.splitlines()
    assert lines[0].startswith("CONFIGURATION_ERROR: A setting cannot be read: ARCHIVE_FLUSH_INTERVAL_MS='soon'")
    assert lines[1].startswith("Hint: Fix it in the environment or in ")
    assert len(lines) == 2 and result.stdout == b""
    if db_kit.on_sqlite():  # (a PostgreSQL test database exists before the test)
        assert not db_kit.database_exists()
