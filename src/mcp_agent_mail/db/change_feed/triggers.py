"""PostgreSQL triggers that announce deliveries and new agents or projects on the ``agent_mail`` channel.

Payloads: ``<project id>:<agent id>`` for a delivery (the recipient's project),
``agent:<project id>:<agent id>`` and ``project:<project id>`` for new rows. PostgreSQL sends
them when the inserting transaction commits, and never for one that rolls back.
"""

from __future__ import annotations

from sqlalchemy import Connection

from mcp_agent_mail.db.change_feed import CHANNEL

_FUNCTIONS = {
    "mcp_agent_mail_notify_delivery": (
        f"PERFORM pg_notify('{CHANNEL}', "
        "(SELECT project_id FROM agents WHERE id = NEW.agent_id)::text || ':' || NEW.agent_id::text)"
    ),
    "mcp_agent_mail_notify_agent": (
        f"PERFORM pg_notify('{CHANNEL}', 'agent:' || NEW.project_id::text || ':' || NEW.id::text)"
    ),
    "mcp_agent_mail_notify_project": f"PERFORM pg_notify('{CHANNEL}', 'project:' || NEW.id::text)",
}
_TRIGGERS = (
    ("message_recipients_notify", "message_recipients", "mcp_agent_mail_notify_delivery"),
    ("agents_notify", "agents", "mcp_agent_mail_notify_agent"),
    ("projects_notify", "projects", "mcp_agent_mail_notify_project"),
)


def install(conn: Connection) -> None:
    """Create the notifying functions and triggers (PostgreSQL only; replaces earlier copies)."""
    for name, body in _FUNCTIONS.items():
        conn.exec_driver_sql(
            f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {body}; RETURN NULL; END $$"
        )
    for trigger, table, function in _TRIGGERS:
        conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {trigger} ON {table}")
        conn.exec_driver_sql(
            f"CREATE TRIGGER {trigger} AFTER INSERT ON {table} FOR EACH ROW EXECUTE FUNCTION {function}()"
        )
