"""What the command line shows says "archive" for the Git archive only and "restore point" for the zip."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

import db_kit
from mcp_agent_mail.cli import app
from vocabulary import flatten, zip_called_archive

runner = CliRunner()
ARCHIVE_METAVAR = re.compile(r"\{archive\}|\bARCHIVE(?:_FILE)?\b")


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    if not hasattr(command, "list_commands"):
        return
    context = typer.Context(command)
    for name in command.list_commands(context):
        sub = command.get_command(context, name)  # the top level imports each module here, on demand
        if sub is not None:
            yield from _command_paths(sub, (*path, name))


COMMANDS = sorted(_command_paths(typer.main.get_command(app)))


@pytest.fixture
def states(isolated_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "states"
    directory.mkdir()
    monkeypatch.setattr("mcp_agent_mail.cli._archive_states_dir", lambda create=True: directory)
    return directory


def test_no_help_screen_calls_a_restore_point_an_archive():
    assert ("archive", "restore") in COMMANDS and ("doctor", "rebuild-db") in COMMANDS
    found = {}
    for path in COMMANDS:
        result = runner.invoke(app, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        phrases = zip_called_archive(result.output) + ARCHIVE_METAVAR.findall(result.output)
        if phrases:
            found[" ".join(path)] = phrases
    assert found == {}


def test_archive_restore_asks_for_a_restore_point():
    text = flatten(runner.invoke(app, ["archive", "restore", "--help"]).output)
    assert re.search(r"Usage: .*archive restore \[OPTIONS\] \S*restore_point", text, re.IGNORECASE), text
    assert "The restore point: a path, or a file name from `archive list`." in text


def test_the_archive_group_speaks_of_restore_points():
    text = flatten(runner.invoke(app, ["archive", "--help"]).output)
    assert "restore points of the whole mailbox (database + Git archive)" in text
    for command in ("save", "list", "restore"):
        assert re.search(rf"\b{command}\b.*restore point", text), (command, text)


def test_a_damaged_restore_point_is_refused_as_one_and_nothing_changes(states: Path, isolated_env):
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    folder = isolated_env["tmp_path"]  # where the SQLite file, the archive and the data directory live
    before = db_kit.digest(skip=()), sorted(p.name for p in folder.iterdir())
    (states / "broken.zip").write_bytes(b"this is not a zip file")

    result = runner.invoke(app, ["archive", "restore", "broken.zip", "--force"])

    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("ARCHIVE_INVALID: broken.zip cannot be restored: "), result.output
    assert lines[1].startswith("Hint: ") and lines[1].endswith("pick another restore point."), result.output
    assert zip_called_archive(result.output) == []
    after = db_kit.digest(skip=()), sorted(p.name for p in folder.iterdir())
    assert after == before
