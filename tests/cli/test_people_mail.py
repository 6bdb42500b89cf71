"""``mail inbox | read | send | status`` on a real mailbox of either backend, with the Git archive written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from people_kit import Mailbox, as_json, invoke, require_registered, run_cli, seed
from typer.testing import Result

import db_kit
from mcp_agent_mail.cli import mail_cmds
from mcp_agent_mail.config import clear_settings_cache
from mcp_agent_mail.services.mail.overseer import HUMAN_TOPIC, OVERSEER_NAME


@pytest.fixture
def box(isolated_env: dict[str, Path], tmp_path: Path) -> Mailbox:
    return seed(tmp_path, isolated_env["storage"])


def mail(*args: str, input: str | None = None) -> Result:
    return invoke(mail_cmds, "mail", *args, input=input)


def _archive_files(storage: Path, pattern: str) -> list[Path]:
    return sorted(storage.glob(pattern))


# ---------------------------------------------------------------------------
# inbox


def test_inbox_lists_the_agents_mail_newest_first_and_marks_nothing_read(box: Mailbox) -> None:
    before = db_kit.digest()
    result = mail("inbox", "RedFox", "--project", box.project)
    assert result.exit_code == 0, result.output
    assert "Build broken" in result.stdout and "Plan for today" in result.stdout
    assert result.stdout.index("Build broken") < result.stdout.index("Plan for today")
    assert "BlueLake" in result.stdout and "unread" in result.stdout
    assert db_kit.digest() == before


def test_inbox_json_is_one_object_and_filters_unread_and_urgent(box: Mailbox) -> None:
    data = as_json(mail("inbox", "RedFox", "--project", box.slug, "--json"))
    assert [m["id"] for m in data["messages"]] == [box.urgent_id, box.plain_id]
    assert data["count"] == 2 and data["agent"] == "RedFox"
    urgent = as_json(mail("inbox", "RedFox", "--project", box.slug, "--urgent", "--json"))
    assert [m["id"] for m in urgent["messages"]] == [box.urgent_id]
    mail("read", str(box.plain_id), "--project", box.slug, "--as", "RedFox", "--mark-read")
    unread = as_json(mail("inbox", "RedFox", "--project", box.slug, "--unread", "--json"))
    assert [m["id"] for m in unread["messages"]] == [box.urgent_id]
    limited = as_json(mail("inbox", "RedFox", "--project", box.slug, "--limit", "1", "--json"))
    assert len(limited["messages"]) == 1


def test_inbox_of_an_unknown_agent_or_project_is_a_coded_error(box: Mailbox) -> None:
    result = mail("inbox", "NoSuchAgent", "--project", box.project)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("NOT_FOUND: ")
    missing = mail("inbox", "RedFox", "--project", "/no/such/project")
    assert missing.exit_code == 1 and missing.stderr.startswith("NOT_FOUND: ")


def test_inbox_rejects_a_bad_limit_as_a_usage_error(box: Mailbox) -> None:
    result = mail("inbox", "RedFox", "--project", box.project, "--limit", "0")
    assert result.exit_code == 2


def test_inbox_fits_a_narrow_terminal(box: Mailbox, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "20")
    result = mail("inbox", "RedFox", "--project", box.project)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.stdout.splitlines()) <= 40


# ---------------------------------------------------------------------------
# read


def test_read_shows_headers_and_rendered_markdown_and_marks_nothing(box: Mailbox) -> None:
    before = db_kit.digest()
    result = mail("read", str(box.plain_id), "--project", box.project)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Plan for today" in out and "BlueLake" in out and "RedFox" in out
    assert "ship" in out and "**ship**" not in out  # Markdown is rendered, not shown raw
    assert db_kit.digest() == before
    as_agent = mail("read", str(box.plain_id), "--project", box.project, "--as", "RedFox")
    assert as_agent.exit_code == 0 and "unread" in as_agent.stdout
    assert db_kit.digest() == before


def test_read_json_and_mark_read_records_the_receipt_once(box: Mailbox) -> None:
    data = as_json(mail("read", str(box.urgent_id), "--project", box.slug, "--json"))
    assert data["id"] == box.urgent_id and data["body_md"] == "Fix `main` now."
    assert [r["name"] for r in data["receipts"]] == ["RedFox"] and data["receipts"][0]["read_ts"] is None
    marked = as_json(
        mail(
            "read",
            str(box.urgent_id),
            "--project",
            box.slug,
            "--as",
            "RedFox",
            "--mark-read",
            "--json",
        )
    )
    assert marked["marked_read"] is True and marked["read_ts"]
    assert marked["archive"] == "written"
    again = as_json(mail("read", str(box.urgent_id), "--project", box.slug, "--json"))
    assert again["receipts"][0]["read_ts"] == marked["read_ts"]
    assert again["receipts"][0]["ack_ts"] is None


def test_mark_read_needs_an_agent_and_changes_nothing_without_one(box: Mailbox) -> None:
    before = db_kit.digest()
    result = mail("read", str(box.plain_id), "--project", box.project, "--mark-read")
    assert result.exit_code == 2
    assert "--as" in result.output
    assert db_kit.digest() == before


@pytest.mark.parametrize("message_id", ["999999", "0", "-3"])
def test_read_of_a_missing_message_is_a_coded_error(box: Mailbox, message_id: str) -> None:
    before = db_kit.digest()
    result = mail("read", "--project", box.project, "--", message_id)
    assert result.exit_code == 1, result.output
    assert result.stderr.split(":")[0] in {"NOT_FOUND", "INVALID_ARGUMENT"}
    assert "Hint:" in result.stderr
    assert db_kit.digest() == before


def test_read_of_a_non_number_is_a_usage_error(box: Mailbox) -> None:
    assert mail("read", "abc", "--project", box.project).exit_code == 2


def test_read_as_an_agent_who_never_saw_the_message_is_not_found(box: Mailbox) -> None:
    result = mail("read", str(box.plain_id), "--project", box.project, "--as", "Nobody")
    assert result.exit_code == 1 and result.stderr.startswith("NOT_FOUND: ")


def test_read_strips_terminal_escapes_from_the_body(box: Mailbox) -> None:
    import asyncio

    from mcp_agent_mail.services.mail.messages import send_message

    sent = asyncio.run(send_message(box.project, "BlueLake", ["RedFox"], "escape", "before\x1b]0;owned\x07after"))
    message_id = sent["deliveries"][0]["payload"]["id"]
    result = mail("read", str(message_id), "--project", box.project)
    assert result.exit_code == 0
    assert "\x1b]0" not in result.stdout and "\x07" not in result.stdout


# ---------------------------------------------------------------------------
# send


def test_send_as_the_overseer_stores_the_mail_and_writes_the_archive(box: Mailbox) -> None:
    result = mail(
        "send",
        "--project",
        box.project,
        "--to",
        "RedFox,BlueLake",
        "--subject",
        "Stand-up at 10",
        "--body",
        "Please **join**.",
        "--json",
    )
    sent = as_json(result)
    assert sorted(sent["recipients"]) == ["BlueLake", "RedFox"]
    assert sent["importance"] == "high" and sent["ack_required"] is False
    assert sent["archive"] == "written"
    inbox = as_json(mail("inbox", "RedFox", "--project", box.project, "--json"))
    newest = inbox["messages"][0]
    assert newest["id"] == sent["message_id"]
    assert newest["from"] == OVERSEER_NAME and newest["topic"] == HUMAN_TOPIC
    assert db_kit.pending_outbox() == 0
    files = [p for p in _archive_files(box.storage, "projects/*/messages/**/*.md") if "stand-up" in p.name.lower()]
    assert files, sorted(str(p) for p in box.storage.rglob("*.md"))


def test_send_with_importance_ack_and_body_from_stdin(box: Mailbox) -> None:
    result = mail(
        "send",
        "--project",
        box.project,
        "--to",
        "RedFox",
        "--subject",
        "Review",
        "--importance",
        "normal",
        "--ack",
        "--json",
        input="Body from *stdin*\n",
    )
    sent = as_json(result)
    assert sent["importance"] == "normal" and sent["ack_required"] is True
    message = as_json(mail("read", str(sent["message_id"]), "--project", box.project, "--json"))
    assert message["body_md"] == "Body from *stdin*\n"
    assert message["importance"] == "normal" and message["ack_required"] is True


def test_send_body_from_a_file_and_a_table_free_confirmation(box: Mailbox, tmp_path: Path) -> None:
    body = tmp_path / "body.md"
    body.write_text("From a file.", encoding="utf-8")
    result = mail("send", "-p", box.project, "--to", "RedFox", "-s", "File body", "--body-file", str(body))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("Sent message ")
    assert "The Git archive is up to date." in result.stdout


def test_reply_in_a_thread_goes_to_its_agents(box: Mailbox) -> None:
    sent = as_json(mail("send", "-p", box.project, "--reply-to", str(box.urgent_id), "--body", "On it?", "--json"))
    assert sorted(sent["recipients"]) == ["BlueLake", "RedFox"]
    assert sent["subject"] == "Re: Build broken"
    assert sent["thread_id"] == str(box.urgent_id)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--to", "RedFox", "--subject", "bad\x1b[31mred", "--body", "x"], "INVALID_ARGUMENT"),
        (["--to", "RedFox", "--subject", "two\nlines", "--body", "x"], "INVALID_ARGUMENT"),
        (["--to", "RedFox", "--subject", "   ", "--body", "x"], "INVALID_ARGUMENT"),
        (["--to", "RedFox", "--subject", "s", "--body", "   "], "INVALID_ARGUMENT"),
        (["--to", "NoSuchAgent", "--subject", "s", "--body", "x"], "INVALID_ARGUMENT"),
        (["--to", "RedFox", "--subject", "s", "--body", "x", "--importance", "extreme"], "INVALID_ARGUMENT"),
        (["--to", "RedFox", "--subject", "s", "--body", "x" * (1024 * 1024 + 1)], "INVALID_ARGUMENT"),
        (["--to", "RedFox", "--subject", "s", "--body-file", "/no/such/file"], "INVALID_ARGUMENT"),
        (["--reply-to", "no-such-thread", "--body", "x"], "NOT_FOUND"),
        (["--to", "HumanOverseer", "--subject", "s", "--body", "x"], "INVALID_ARGUMENT"),
    ],
)
def test_bad_sends_are_coded_errors_that_change_nothing(box: Mailbox, args: list[str], code: str) -> None:
    before = db_kit.digest(skip=())
    result = mail("send", "--project", box.project, *args)
    assert result.exit_code == 1, (result.output, result.stderr)
    assert result.stdout == ""
    assert result.stderr.startswith(f"{code}: "), result.stderr
    assert db_kit.digest(skip=()) == before


def test_send_to_an_unknown_project_changes_nothing(box: Mailbox) -> None:
    before = db_kit.digest(skip=())
    result = mail("send", "-p", "/no/such", "--to", "RedFox", "-s", "s", "--body", "x")
    assert result.exit_code == 1 and result.stderr.startswith("NOT_FOUND: ")
    assert db_kit.digest(skip=()) == before


@pytest.mark.parametrize("command", ["send", "read --mark-read"])
def test_a_write_whose_archive_could_never_be_written_is_refused_and_changes_nothing(
    box: Mailbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, command: str
) -> None:
    blocker = tmp_path / "archive-is-a-file"
    blocker.write_text("")
    monkeypatch.setenv("STORAGE_ROOT", str(blocker))
    clear_settings_cache()
    before = db_kit.digest(skip=())
    if command == "send":
        result = mail("send", "-p", box.project, "--to", "RedFox", "-s", "s", "--body", "x")
    else:
        result = mail("read", str(box.plain_id), "--project", box.slug, "--as", "RedFox", "--mark-read")
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert lines[0] == f"CONFIGURATION_ERROR: STORAGE_ROOT {blocker} is a file, not a directory."
    assert lines[1].startswith("Hint: Point STORAGE_ROOT at a directory")
    assert result.stdout == "" and "Traceback" not in result.stderr
    assert db_kit.digest(skip=()) == before


def test_an_oversize_body_file_is_refused_before_reading_it_all(box: Mailbox, tmp_path: Path) -> None:
    big = tmp_path / "big.md"
    big.write_bytes(b"x" * (2 * 1024 * 1024))
    before = db_kit.digest(skip=())
    result = mail("send", "-p", box.project, "--to", "RedFox", "-s", "s", "--body-file", str(big))
    assert result.exit_code == 1 and result.stderr.startswith("INVALID_ARGUMENT: ")
    assert db_kit.digest(skip=()) == before


def test_a_body_that_is_not_utf8_is_refused(box: Mailbox, tmp_path: Path) -> None:
    latin = tmp_path / "latin.md"
    latin.write_bytes("café".encode("latin-1"))
    result = mail("send", "-p", box.project, "--to", "RedFox", "-s", "s", "--body-file", str(latin))
    assert result.exit_code == 1 and result.stderr.startswith("INVALID_ARGUMENT: ")


@pytest.mark.parametrize(
    "args",
    [
        ["--subject", "s", "--body", "x"],  # no --to
        ["--to", "RedFox", "--body", "x"],  # no --subject
        ["--reply-to", "1", "--to", "RedFox", "--body", "x"],  # a reply takes no --to
        ["--to", "RedFox", "--subject", "s", "--body", "x", "--body-file", "f"],
    ],
)
def test_send_usage_errors_exit_2(box: Mailbox, args: list[str]) -> None:
    before = db_kit.digest(skip=())
    assert mail("send", "--project", box.project, *args).exit_code == 2
    assert db_kit.digest(skip=()) == before


# ---------------------------------------------------------------------------
# status (forwarded to the fast path)


def test_status_forwards_to_the_fast_path(box: Mailbox) -> None:
    pytest.importorskip("mcp_agent_mail.cli.mail_status", reason="the `mail status` fast path is not written yet")
    result = mail("status", "--project", box.project, "--agent", "RedFox")
    assert result.exit_code == 0, result.output
    assert "2 unread" in result.stdout


# ---------------------------------------------------------------------------
# the installed command, in its own process


def test_installed_command_sends_and_lists_in_a_process_of_its_own(box: Mailbox) -> None:
    require_registered("mail", "send")
    sent = run_cli("mail", "send", "-p", box.project, "--to", "RedFox", "-s", "From a shell", "--json", stdin="hi")
    assert sent.returncode == 0, sent.stderr
    message_id = json.loads(sent.stdout)["message_id"]
    listed = run_cli("mail", "inbox", "RedFox", "-p", box.project, "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["messages"][0]["id"] == message_id
    assert db_kit.pending_outbox() == 0
    bad = run_cli("mail", "read", "424242", "-p", box.project)
    assert bad.returncode == 1 and bad.stderr.startswith("NOT_FOUND: ") and bad.stdout == ""


def test_send_leaves_the_archive_to_the_process_holding_its_writer(box: Mailbox) -> None:
    import threading

    from mcp_agent_mail.archive import flush_pending
    from mcp_agent_mail.archive.repo import writer_lock

    held, done = threading.Event(), threading.Event()

    def server_writer() -> None:
        with writer_lock(box.storage, 5.0) as acquired:
            assert acquired
            held.set()
            done.wait(30)

    holder = threading.Thread(target=server_writer)
    holder.start()
    try:
        assert held.wait(10)
        result = mail("send", "-p", box.project, "--to", "RedFox", "-s", "Queued", "--body", "x")
        assert result.exit_code == 0, (result.output, result.stderr)
        assert "will be written by the server holding its writer" in result.stdout
        assert db_kit.pending_outbox() > 0
    finally:
        done.set()
        holder.join(10)
    flush_pending()  # what the holder does on its next pass
    assert db_kit.pending_outbox() == 0
