"""Helpers for mail service tests: two projects with registered agents, and direct looks at the database."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, update

import db_kit
from mcp_agent_mail.db import get_session, schema, sync_write_connection
from mcp_agent_mail.services.identity.agents import register_agent, set_contact_policy
from mcp_agent_mail.services.identity.projects import ensure_project
from mcp_agent_mail.services.mail.messages import send_message
from mcp_agent_mail.services.mail.views import owner

PROJECT = "/work/mail-services"
OTHER = "/work/mail-elsewhere"
AGENTS = ("BlueLake", "RedFox", "GreenCastle")
OTHER_AGENTS = ("PurpleHill",)


class Mailbox:
    """The test's database, seen the way an auditor would: plain SQL, no service code (on either backend)."""

    def __init__(self, slugs: dict[str, str]) -> None:
        self.slugs = slugs

    def rows(self, sql: str, /, **params: Any) -> list[tuple[Any, ...]]:
        """Run one query (named ``:parameters``) on the database and return every row."""
        return db_kit.query(sql, **params)

    def count(self, table: str, where: str = "", /, **params: Any) -> int:
        """Return how many rows of ``table`` match ``where`` (named ``:parameters``)."""
        return db_kit.count(table, where, **params)

    def snapshot(self) -> dict[str, int]:
        """Return the row count of every table a mail call may change (to prove a refusal changed nothing)."""
        tables = ("messages", "message_recipients", "agent_links", "archive_outbox", "attachment_blobs")
        return {table: self.count(table) for table in tables}

    def agent_id(self, name: str) -> int:
        """Return the id of an agent by name."""
        return int(self.rows("SELECT id FROM agents WHERE name = :name", name=name)[0][0])

    def set_created(self, message_id: int, when: datetime) -> None:
        """Move a message's creation time (to test age-based views)."""
        m = schema.messages
        with sync_write_connection() as conn:
            conn.execute(update(m).where(m.c.id == message_id).values(created_ts=when))

    async def send(self, sender: str, to: list[str], subject: str = "Hello", **extra: Any) -> int:
        """Send a message in the main project and return its id."""
        result = await send_message(PROJECT, sender, to, subject, extra.pop("body_md", "Body text."), **extra)
        return int(result["deliveries"][0]["payload"]["id"])


async def rows_of(project_key: str, agent_name: str) -> tuple[RowMapping, RowMapping]:
    """Return the project and agent rows, as the services' session-level functions take them."""
    async with get_session() as session:
        return await owner(session, project_key, agent_name)


async def make_mailbox() -> Mailbox:
    """Create both projects and their agents through the services; return the view of the database."""
    slugs = {}
    for key, names in ((PROJECT, AGENTS), (OTHER, OTHER_AGENTS)):
        slugs[key] = (await ensure_project(key))["slug"]
        for name in names:
            await register_agent(key, "pytest", "test-model", name=name)
    return Mailbox(slugs)


async def open_policy(project_key: str, *names: str) -> None:
    """Let anyone write to the named agents."""
    for name in names:
        await set_contact_policy(project_key, name, "open")


@contextlib.contextmanager
def write_statements() -> Iterator[list[str]]:
    """Collect the SQL the writers' engine sends meanwhile (whitespace folded, upper case)."""
    from sqlalchemy import event

    from mcp_agent_mail.config import get_settings
    from mcp_agent_mail.db.engine import _get_write_engine

    engine = _get_write_engine(get_settings())
    sent: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_rest: object) -> None:
        sent.append(" ".join(statement.split()).upper())

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", record)


def reads_before_first_change(sent: list[str]) -> list[str]:
    """Return the statements a write transaction ran before its first change (BEGIN, SAVEPOINT, COMMIT left out)."""
    work = [statement for statement in sent if not statement.startswith(("BEGIN", "SAVEPOINT", "COMMIT"))]
    first_change = next(i for i, statement in enumerate(work) if not statement.startswith("SELECT"))
    return work[:first_change]
