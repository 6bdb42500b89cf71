"""``mcp-agent-mail import-legacy``: what a user types and reads."""

from __future__ import annotations

import json

from sqlalchemy import func, select
from typer.testing import CliRunner

from legacy_fixture import build_legacy_mailbox, tree_digest
from mcp_agent_mail.cli import app
from mcp_agent_mail.db import reset_database_state, schema, sync_read_connection


def _messages() -> int:
    with sync_read_connection() as conn:
        return int(conn.execute(select(func.count()).select_from(schema.messages)).scalar_one())


def _invoke(*args: str):
    result = CliRunner().invoke(app, list(args))
    reset_database_state()
    return result


def test_import_then_doctor_check_is_clean(isolated_env):
    mailbox = build_legacy_mailbox(isolated_env["tmp_path"] / "original")
    source = tree_digest(mailbox.database.parent)

    result = _invoke("import-legacy", "--database", str(mailbox.database), "--storage", str(mailbox.storage))

    assert result.exit_code == 0, result.output
    assert "Imported from" in result.output
    assert "      5  messages" in result.output and "      1  attachment files" in result.output
    assert "must re-register" in result.output and "work-legacy-backend: BlueLake, RedFox, GreenCastle" in result.output
    assert "Not carried: products (1 row)" in result.output
    doctor = _invoke("doctor", "check")
    assert doctor.exit_code == 0, doctor.output
    assert tree_digest(mailbox.database.parent) == source


def test_dry_run_says_what_it_would_do_and_does_nothing(isolated_env):
    mailbox = build_legacy_mailbox(isolated_env["tmp_path"] / "original", hostile=True)

    result = _invoke(
        "import-legacy", "--database", str(mailbox.database), "--storage", str(mailbox.storage), "--dry-run"
    )

    assert result.exit_code == 0, result.output
    assert "Dry run: would import" in result.output and "Dry run: nothing was changed." in result.output
    assert "messages: its sender was not imported (e.g. message 20; message 22)" in result.output
    assert not (isolated_env["storage"] / "projects").exists()
    assert _messages() == 0


def test_refusal_into_a_mailbox_with_mail_then_merge(isolated_env):
    mailbox = build_legacy_mailbox(isolated_env["tmp_path"] / "original")
    args = ("import-legacy", "--database", str(mailbox.database), "--storage", str(mailbox.storage))
    assert _invoke(*args).exit_code == 0

    refused = _invoke(*args)
    assert refused.exit_code == 1
    assert "INVALID_ARGUMENT: This mailbox already holds mail" in refused.output
    assert "Hint: Pass --merge" in refused.output
    assert _messages() == 5

    merged = _invoke(*args, "--merge", "--json")
    assert merged.exit_code == 0, merged.output
    data = json.loads(merged.output)
    assert data["merged_into_existing"] == {"projects": 2, "agents": 4}
    assert data["renumbered"]["messages"] == 5 and data["imported"]["messages"] == 5
    assert _messages() == 10
    assert _invoke("doctor", "check").exit_code == 0


def test_a_missing_source_is_a_coded_error(isolated_env):
    tmp = isolated_env["tmp_path"]
    (tmp / "old_storage").mkdir()
    result = _invoke("import-legacy", "--database", str(tmp / "nope.sqlite3"), "--storage", str(tmp / "old_storage"))
    assert result.exit_code == 1
    assert "NOT_FOUND: There is no database file at" in result.output
    assert "Hint: Pass --database the original's storage.sqlite3" in result.output
