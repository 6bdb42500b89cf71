"""A message's rows in one statement on PostgreSQL: the message, its recipients, the sender's touch, the outbox.

On a database server every statement is a round trip, and a send stores four things at once. Data-modifying
common table expressions let PostgreSQL do all four in one statement, inside the caller's write transaction;
SQLite, which lives in the process, runs the four statements one by one (see ``services.mail.store``).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from sqlalchemy import ARRAY, Integer, Select, String, bindparam, case, func, insert, select, true, update

from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import schema
from mcp_agent_mail.db.backend_url import parse_database_url

MESSAGE_COLUMNS = (
    "project_id",
    "sender_id",
    "thread_id",
    "topic",
    "subject",
    "body_md",
    "importance",
    "ack_required",
    "created_ts",
    "attachments",
)
# Parameter names must not be column names: SQLAlchemy would add those to the UPDATE's SET clause.
_PREFIX = "new_"
OUTBOX_KINDS = ("agent", "message")
"""The archive entries a send queues, in this order: the sender's profile, then the message."""


def in_one_statement() -> bool:
    """Tell whether this process's database stores a message in one statement (a database server)."""
    return parse_database_url(get_settings().database.url).dialect == "postgresql"


@lru_cache(maxsize=1)
def store_statement() -> Select[Any]:
    """Return the one statement storing a message (parameters: see :func:`store_params`).

    It returns the new message's id. The sender's ``last_active_ts`` becomes ``created_ts``, and the
    outbox gets the sender's profile and the message, as the separate statements would.
    """
    m, r, a, o = schema.messages, schema.message_recipients, schema.agents, schema.archive_outbox
    new_message = (
        insert(m)
        .values({name: bindparam(_PREFIX + name, type_=m.c[name].type) for name in MESSAGE_COLUMNS})
        .returning(m.c.id)
        .cte("new_message")
    )
    addressed = (
        func.unnest(bindparam("new_agent_ids", type_=ARRAY(Integer)), bindparam("new_kinds", type_=ARRAY(String)))
        .table_valued("agent_id", "kind")
        .render_derived(name="addressed")
    )
    recipients = insert(r).from_select(
        ["message_id", "agent_id", "kind"],
        select(new_message.c.id, addressed.c.agent_id, addressed.c.kind).select_from(
            new_message.join(addressed, true())
        ),
    )
    touched = (
        update(a)
        .where(a.c.id == bindparam("new_sender_id", type_=Integer))
        .values(last_active_ts=bindparam("new_created_ts", type_=m.c.created_ts.type))
    )
    entries = (
        func.unnest(bindparam("new_outbox_kinds", type_=ARRAY(String)))
        .table_valued("kind", with_ordinality="position")
        .render_derived(name="entries")
    )
    queued = insert(o).from_select(
        ["project_id", "kind", "ref", "created_ts"],
        select(
            bindparam("new_project_id", type_=Integer),
            entries.c.kind,
            case(
                (entries.c.kind == "message", new_message.c.id.cast(String)),
                else_=bindparam("new_sender_id", type_=Integer).cast(String),
            ),
            bindparam("new_created_ts", type_=m.c.created_ts.type),
        )
        .select_from(new_message.join(entries, true()))
        .order_by(entries.c.position),
    )
    return select(new_message.c.id).add_cte(
        recipients.cte("new_recipients"), touched.cte("touched_sender"), queued.cte("queued")
    )


def store_params(values: Mapping[str, Any], kinds: Mapping[int, str]) -> dict[str, Any]:
    """Return the parameters of :func:`store_statement` for message ``values`` and recipients ``kinds``."""
    return {
        **{_PREFIX + name: values[name] for name in MESSAGE_COLUMNS},
        "new_agent_ids": list(kinds),
        "new_kinds": list(kinds.values()),
        "new_outbox_kinds": list(OUTBOX_KINDS),
    }


__all__ = ["MESSAGE_COLUMNS", "OUTBOX_KINDS", "in_one_statement", "store_params", "store_statement"]
