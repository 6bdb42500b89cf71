"""The command line loads only what a command needs: ``--help``, typos and ``mail status`` stay light.

Each check runs the real entry point in a fresh interpreter and reads what it imported; timings
live in ``benchmarks/bench_startup.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from mcp_agent_mail.cli import APP_HELP, COMMANDS, CommandEntry, app, module_available
from mcp_agent_mail.cli.lazy_group import build_app

HEAVY = ("fastmcp", "mcp", "sqlalchemy", "pydantic", "pydantic_settings", "starlette", "uvicorn", "dulwich", "httpx")
# Typer checks option values with pydantic once it parses any option, so a command run through Typer loads it.
SERVER = tuple(name for name in HEAVY if name != "pydantic")
PROBE = """
import json, sys
sys.argv = ["mcp-agent-mail", *json.loads(sys.argv[1])]
code = 0
try:
    from mcp_agent_mail.cli import main
    main()
except SystemExit as exc:
    code = exc.code if isinstance(exc.code, int) else 1
with open(OUT, "w") as out:
    json.dump({"code": code, "modules": sorted(sys.modules)}, out)
"""


def launch(tmp_path: Path, *argv: str) -> tuple[dict[str, Any], str]:
    """Run the entry point with ``argv`` in a new interpreter; return what it loaded, its exit code and output."""
    report = tmp_path / "modules.json"
    code = PROBE.replace("OUT", repr(str(report)))
    env = {**os.environ, "MCP_AGENT_MAIL_HOME": str(tmp_path / "home"), "COLUMNS": "120"}
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(list(argv))], capture_output=True, text=True, env=env, timeout=120
    )
    return json.loads(report.read_text()), done.stdout + done.stderr


def loaded(modules: object, prefixes: tuple[str, ...]) -> list[str]:
    assert isinstance(modules, list)
    return sorted({m.split(".")[0] for m in modules if m.split(".")[0] in prefixes})


def command_modules(modules: object) -> list[str]:
    assert isinstance(modules, list)
    own = {"mcp_agent_mail.cli", "mcp_agent_mail.cli.lazy_group", "mcp_agent_mail.cli.mail_status"}
    return [m for m in modules if m.startswith("mcp_agent_mail.cli.") and m not in own]


def test_help_lists_every_command_without_importing_any(tmp_path: Path) -> None:
    result, output = launch(tmp_path, "--help")
    assert result["code"] == 0
    for name, entry in COMMANDS.items():
        if module_available(entry.module) and not entry.hidden:
            assert f" {name} " in output, name
    assert "serve-http" not in output
    assert loaded(result["modules"], HEAVY) == []
    assert command_modules(result["modules"]) == []


def test_an_unknown_command_is_refused_without_importing_any(tmp_path: Path) -> None:
    result, output = launch(tmp_path, "versoin")
    assert result["code"] == 2
    assert "Error: No such command 'versoin'. Did you mean 'version'?" in output
    assert loaded(result["modules"], (*HEAVY, "typer", "rich")) == []
    assert command_modules(result["modules"]) == []


def test_mail_status_loads_no_framework_orm_or_settings(tmp_path: Path) -> None:
    result, _ = launch(tmp_path, "mail", "status", "--project", "/somewhere", "--json")
    assert result["code"] == 0
    assert loaded(result["modules"], (*HEAVY, "typer", "rich", "click")) == []
    assert "mcp_agent_mail.config" not in result["modules"]


def test_version_loads_no_server(tmp_path: Path) -> None:
    result, output = launch(tmp_path, "version")
    assert result["code"] == 0 and output.startswith("mcp-agent-mail ")
    assert loaded(result["modules"], SERVER) == []


def test_a_command_imports_only_its_own_module(tmp_path: Path) -> None:
    result, _ = launch(tmp_path, "docs", "insert-blurbs", "--help")
    assert result["code"] == 0
    assert command_modules(result["modules"]) == ["mcp_agent_mail.cli.docs_cmds"]


def test_the_table_says_what_each_command_says_of_itself() -> None:
    group = typer.main.get_command(app)
    context = typer.Context(group)
    for name, entry in COMMANDS.items():
        if entry.hidden or not module_available(entry.module):
            continue
        command = group.get_command(context, name)  # type: ignore[attr-defined]
        own = " ".join((command.help or "").split("\n\n")[0].split())
        assert entry.help == own, f"COMMANDS[{name!r}].help should be {own!r}"


@pytest.fixture
def ghost_app() -> typer.Typer:
    table = {
        "version": CommandEntry("serve", "Print the installed version."),
        "ghost": CommandEntry("no_such_cmds", "A command whose module is not installed."),
    }
    return build_app(table, help_text=APP_HELP)


def test_a_missing_module_is_left_out_of_help_and_explained_when_run(ghost_app: typer.Typer) -> None:
    runner = CliRunner()
    listing = runner.invoke(ghost_app, ["--help"])
    assert listing.exit_code == 0 and "version" in listing.output and "ghost" not in listing.output
    result = runner.invoke(ghost_app, ["ghost", "anything", "--flag"])
    assert result.exit_code == 1
    assert result.output.startswith("UNAVAILABLE: The 'ghost' command is not part of this installation")
    assert "mcp_agent_mail.cli.no_such_cmds is missing" in result.output
    typo = runner.invoke(ghost_app, ["versoin"])
    assert typo.exit_code == 2 and "Did you mean 'version'?" in typo.output
