"""Mail for people at a terminal: ``mail status | inbox | read | send``.

Every command works whether a server is running or not: reads go to the database, and ``send`` (and
``read --mark-read``) write through the same services as the tools and the web UI, then write the Git
archive themselves unless a running server holds its writer (:mod:`mcp_agent_mail.cli.archive_sync`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from mcp_agent_mail.cli import handle_errors
from mcp_agent_mail.cli.tables import check_line, clean_block, console, emit_json, plain, print_table, run, table, when
from mcp_agent_mail.errors import InvalidArgumentError

mail_app = typer.Typer(
    name="mail",
    help="Read and send mail from the terminal: inbox, one message, send as the human overseer, unread status.",
    no_args_is_help=True,
)

ProjectOption = Annotated[str, typer.Option("--project", "-p", help="The project: its absolute path or its slug.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object on stdout instead of a table.")]
MAX_INBOX = 1000


@mail_app.command(
    "status",
    add_help_option=False,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def status(ctx: typer.Context) -> None:
    """One line when an agent has unread mail, nothing otherwise (for hooks). --project P [--agent A] [--json]."""
    try:
        from mcp_agent_mail.cli.mail_status import run as run_status
    except ModuleNotFoundError as exc:  # pragma: no cover - only while the fast path is missing
        typer.echo(f"mail status is not available in this installation ({exc.name}).", err=True)
        raise typer.Exit(0) from exc
    raise typer.Exit(run_status(list(ctx.args)))


def _fetch(project: str, agent: str, limit: int, urgent: bool, unread: bool) -> list[dict[str, Any]]:
    """Return the agent's newest received messages, only unread ones when asked."""
    from mcp_agent_mail.services.mail.inbox import fetch_inbox

    return run(fetch_inbox(project, agent, limit=limit, urgent_only=urgent, unread_only=unread))


def _state(entry: dict[str, Any]) -> str:
    if entry.get("ack_ts"):
        return "acked"
    if entry.get("ack_required"):
        return "[yellow]ack wanted[/yellow]" if entry.get("read_ts") else "[bold]unread[/bold], ack wanted"
    return "read" if entry.get("read_ts") else "[bold]unread[/bold]"


@mail_app.command("inbox")
@handle_errors
def inbox(
    agent: Annotated[str, typer.Argument(help="The agent whose inbox to show.")],
    project: ProjectOption,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=MAX_INBOX, help="Show at most N messages.")] = 20,
    unread: Annotated[bool, typer.Option("--unread", help="Only messages the agent has not read.")] = False,
    urgent: Annotated[bool, typer.Option("--urgent", help="Only high and urgent messages.")] = False,
    as_json: JsonOption = False,
) -> None:
    """List an agent's received mail, newest first, without marking anything read."""
    messages = _fetch(project, agent, limit, urgent, unread)
    if as_json:
        emit_json({"project": project, "agent": agent, "count": len(messages), "messages": messages})
        return
    grid = table(f"Inbox of {plain(agent)}", "ID", "From", "Subject", "Importance", "Received", "State")
    for entry in messages:
        grid.add_row(
            str(entry["id"]),
            plain(entry["from"]),
            plain(entry["subject"]),
            plain(entry["importance"]),
            when(entry["created_ts"]),
            _state(entry),
        )
    print_table(grid, f"No {'unread ' if unread else ''}{'urgent ' if urgent else ''}mail for {agent}.")


def _header_rows(message: dict[str, Any]) -> list[tuple[str, str]]:
    sender = message.get("sender") or message.get("from")
    rows = [("From", plain(sender)), ("To", plain(", ".join(message.get("to", [])) or "-"))]
    if message.get("cc"):
        rows.append(("Cc", plain(", ".join(message["cc"]))))
    if message.get("bcc"):
        rows.append(("Bcc", plain(", ".join(message["bcc"]))))
    elif message.get("bcc_count"):
        rows.append(("Bcc", f"{message['bcc_count']} hidden"))
    rows += [
        ("Subject", plain(message.get("subject"))),
        ("Date", when(message.get("created_ts"))),
        ("Importance", plain(message.get("importance"))),
    ]
    if message.get("thread_id"):
        rows.append(("Thread", plain(message["thread_id"])))
    if message.get("ack_required"):
        rows.append(("Ack", "required"))
    if message.get("kind"):
        read = f"read {when(message['read_ts'])}" if message.get("read_ts") else "unread"
        acked = f", acknowledged {when(message['ack_ts'])}" if message.get("ack_ts") else ""
        rows.append(("You", f"{message['kind']}, {read}{acked}"))
    return rows


def _show_message(message: dict[str, Any]) -> None:
    from rich.markdown import Markdown
    from rich.table import Table

    out = console()
    headers = Table.grid(padding=(0, 2))
    headers.add_column(style="bold")
    headers.add_column(overflow="fold")
    for name, value in _header_rows(message):
        headers.add_row(name, value)
    out.print(headers)
    receipts = message.get("receipts") or []
    if receipts:
        grid = table(None, "Recipient", "Kind", "Read", "Acknowledged")
        for receipt in receipts:
            grid.add_row(plain(receipt["name"]), receipt["kind"], when(receipt["read_ts"]), when(receipt["ack_ts"]))
        out.print(grid)
    out.rule()
    out.print(Markdown(clean_block(message.get("body_md") or "")))


@mail_app.command("read")
@handle_errors
def read(
    message_id: Annotated[int, typer.Argument(help="The message id (from `mail inbox`).")],
    project: ProjectOption,
    reader: Annotated[
        str | None, typer.Option("--as", help="Read as this agent: only its mail, with its own read state.")
    ] = None,
    mark_read: Annotated[
        bool, typer.Option("--mark-read", help="Record that the --as agent read it (nothing is marked otherwise).")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the message as one JSON object.")] = False,
) -> None:
    """Show one message: headers, recipients' receipts and the Markdown body. Marks nothing read unless asked."""
    from mcp_agent_mail.services.mail.message_read import read_message

    if mark_read and not (reader and reader.strip()):
        raise typer.BadParameter("--mark-read needs --as AGENT: the agent whose read receipt to record.")
    message = run(read_message(project, message_id, reader))
    if mark_read and reader:
        message.update(_mark(project, reader, message_id))
    if as_json:
        emit_json(message)
        return
    _show_message(message)


def _mark(project: str, reader: str, message_id: int) -> dict[str, Any]:
    from mcp_agent_mail.cli.archive_sync import refuse_unusable_storage, write_archive
    from mcp_agent_mail.services.mail.inbox import mark_message_read

    refuse_unusable_storage()
    marked = run(mark_message_read(project, reader, message_id))
    return {"read_ts": marked["read_at"], "marked_read": True, "archive": write_archive()}


def _body(body: str | None, body_file: Path | None) -> str:
    """Return the body from --body, --body-file or stdin (in that order); INVALID_ARGUMENT when none or too big."""
    from mcp_agent_mail.services.mail.drafts import BODY_MAX_BYTES

    if body is not None and body_file is not None:
        raise typer.BadParameter("Give the body once: --body or --body-file, not both.")
    if body is not None:
        return body
    if body_file is not None:
        try:
            with body_file.open("rb") as handle:
                data = handle.read(BODY_MAX_BYTES + 1)
        except OSError as exc:
            raise InvalidArgumentError(
                f"Cannot read the body file {str(body_file)!r}: {exc.strerror or exc}.",
                hint="Pass a readable text file, or the body with --body.",
            ) from exc
    elif sys.stdin is None or sys.stdin.isatty():
        raise InvalidArgumentError(
            "No message body.", hint="Give it with --body TEXT or --body-file FILE, or pipe it on stdin."
        )
    else:
        data = sys.stdin.buffer.read(BODY_MAX_BYTES + 1)
    if len(data) > BODY_MAX_BYTES:
        raise InvalidArgumentError(
            f"The message body is over {BODY_MAX_BYTES} bytes.", hint="Shorten it or split it into several messages."
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidArgumentError(
            f"The message body is not UTF-8 text (byte {exc.start}).", hint="Save the body as UTF-8."
        ) from exc


def _names(values: list[str]) -> list[str]:
    names = [name.strip() for value in values for name in value.split(",") if name.strip()]
    for name in names:
        check_line(name, "--to")
    return names


@mail_app.command("send")
@handle_errors
def send(
    project: ProjectOption,
    to: Annotated[
        list[str] | None, typer.Option("--to", help="Recipients: agent names, comma-separated or repeated.")
    ] = None,
    subject: Annotated[str | None, typer.Option("--subject", "-s", help="The subject line.")] = None,
    body: Annotated[str | None, typer.Option("--body", help="The Markdown body.")] = None,
    body_file: Annotated[
        Path | None, typer.Option("--body-file", help="Read the Markdown body from this file (else stdin).")
    ] = None,
    reply_to: Annotated[
        str | None,
        typer.Option("--reply-to", help="Reply in this thread (id or first message id) to its agents, instead."),
    ] = None,
    importance: Annotated[
        str, typer.Option("--importance", help="low, normal, high or urgent (the overseer's default: high).")
    ] = "high",
    ack: Annotated[bool, typer.Option("--ack", help="Ask the recipients to acknowledge it.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was sent as one JSON object.")] = False,
) -> None:
    """Send mail as the project's human overseer (the web UI's identity); the Git archive is written too."""
    from mcp_agent_mail.cli.archive_sync import archive_note, refuse_unusable_storage, write_archive
    from mcp_agent_mail.services.mail.overseer import OverseerDraft, reply_as_overseer, send_as_overseer

    if reply_to is not None and (to or subject is not None):
        raise typer.BadParameter("A reply goes to the thread's agents under its subject: drop --to and --subject.")
    if reply_to is None and (not to or subject is None):
        raise typer.BadParameter("A new message needs --to and --subject (or --reply-to THREAD for a reply).")
    if subject is not None:
        check_line(subject, "--subject")
    text = _body(body, body_file)
    refuse_unusable_storage()
    if reply_to is not None:
        check_line(reply_to, "--reply-to")
        sent = run(reply_as_overseer(project, reply_to, text, importance=importance, ack_required=ack))
    else:
        draft = OverseerDraft(
            to=tuple(_names(to or [])), subject=subject or "", body_md=text, importance=importance, ack_required=ack
        )
        sent = run(send_as_overseer(project, draft))
    sent["archive"] = write_archive()
    if as_json:
        emit_json(sent)
        return
    typer.secho(
        f"Sent message {sent['message_id']} to {', '.join(sent['recipients'])}: {sent['subject']}",
        fg=typer.colors.GREEN,
    )
    typer.echo(archive_note(sent["archive"]))


def attach(app: typer.Typer) -> None:
    """Add the ``mail`` command group to ``app``."""
    app.add_typer(mail_app, name="mail")


__all__ = ["attach", "mail_app"]
