"""The guard's view of a test's mailbox on either backend, and the row edits tests make behind the server's back."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import replace
from typing import Any

from sqlalchemy import update

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import schema, sqlite_path_from_url, sync_write_connection
from mcp_agent_mail.guard.mailbox import Mailbox, PostgresMailbox, is_postgres_url, parse_postgres_url
from mcp_agent_mail.services.reservations.guard import mailbox_target
from mcp_agent_mail.services.reservations.guard_install import MailboxTarget, PostgresTarget


def on_postgres() -> bool:
    """Tell whether the test's DATABASE_URL is a PostgreSQL database."""
    return is_postgres_url(get_settings().database.url)


def guard_mailbox() -> Mailbox:
    """The mailbox DATABASE_URL names, as ``find_conflicts`` takes it (a PostgreSQL password stays in memory)."""
    url = get_settings().database.url
    if is_postgres_url(url):
        return parse_postgres_url(url)
    path = sqlite_path_from_url(url)
    assert path is not None, "the test database is an in-memory SQLite database"
    return path


def hook_mailbox() -> MailboxTarget:
    """What ``guard install`` bakes into the hooks for DATABASE_URL (writing the password file when it has one)."""
    return mailbox_target()


def closed_port() -> int:
    """Return a port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def unreachable(mailbox: Mailbox) -> PostgresMailbox:
    """The same PostgreSQL login as ``mailbox`` but on a closed port of 127.0.0.1."""
    assert isinstance(mailbox, PostgresMailbox)
    return replace(mailbox, host="127.0.0.1", port=closed_port())


def unreachable_target(target: MailboxTarget) -> PostgresTarget:
    """The hooks' PostgreSQL target moved to a closed port of 127.0.0.1 (same database, user and password file)."""
    assert isinstance(target, PostgresTarget)
    mailbox = parse_postgres_url(target.url)
    url = target.url.replace(f"@{mailbox.address}/", f"@127.0.0.1:{closed_port()}/", 1)
    assert url != target.url
    return replace(target, url=url)


def edit_reservation(reservation_id: int, **values: Any) -> None:
    """Change columns of one file reservation directly in the database (typed by the schema on both backends)."""
    table = schema.file_reservations
    with sync_write_connection() as conn:
        done = conn.execute(update(table).where(table.c.id == reservation_id).values(**values))
        assert done.rowcount == 1
