"""Table definitions (SQLAlchemy Core). Changes go through ``migrations.py``."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from mcp_agent_mail.db.types import UTCDateTime

metadata = MetaData()

projects = Table(
    "projects",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("slug", String(255), nullable=False, unique=True),
    Column("human_key", String(1024), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("archived_at", UTCDateTime, nullable=True),
    sqlite_autoincrement=True,
)

agents = Table(
    "agents",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(128), nullable=False),
    Column("name_key", String(128), nullable=False),
    Column("program", String(128), nullable=False),
    Column("model", String(128), nullable=False),
    Column("task_description", String(2048), nullable=False, default=""),
    Column("inception_ts", UTCDateTime, nullable=False),
    Column("last_active_ts", UTCDateTime, nullable=False),
    Column("attachments_policy", String(16), nullable=False, default="auto"),
    Column("contact_policy", String(16), nullable=False, default="auto"),
    Column("registration_token_hash", String(64), nullable=True),
    Column("retired_at", UTCDateTime, nullable=True),
    UniqueConstraint("project_id", "name_key", name="uq_agents_project_name_key"),
    sqlite_autoincrement=True,
)

messages = Table(
    "messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("sender_id", Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("thread_id", String(128), nullable=True),
    Column("topic", String(64), nullable=True),
    Column("subject", String(512), nullable=False),
    Column("body_md", Text, nullable=False),
    Column("importance", String(16), nullable=False, default="normal"),
    Column("ack_required", Boolean, nullable=False, default=False),
    Column("created_ts", UTCDateTime, nullable=False),
    Column("attachments", JSON, nullable=False, default=list),
    Index("ix_messages_project_created", "project_id", "created_ts"),
    Index("ix_messages_project_thread", "project_id", "thread_id"),
    Index("ix_messages_sender_created", "sender_id", "created_ts"),
    sqlite_autoincrement=True,
)

message_recipients = Table(
    "message_recipients",
    metadata,
    Column("message_id", Integer, ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("kind", String(8), nullable=False, default="to"),
    Column("read_ts", UTCDateTime, nullable=True),
    Column("ack_ts", UTCDateTime, nullable=True),
    Index("ix_message_recipients_agent_message", "agent_id", "message_id"),
    # An agent's unread mail, newest first, without reading past the mail it has read (migration 12).
    Index(
        "ix_message_recipients_unread",
        "agent_id",
        "message_id",
        sqlite_where=text("read_ts IS NULL"),
        postgresql_where=text("read_ts IS NULL"),
    ),
)

file_reservations = Table(
    "file_reservations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("agent_id", Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("path_pattern", String(512), nullable=False),
    Column("exclusive", Boolean, nullable=False, default=True),
    Column("reason", String(512), nullable=False, default=""),
    Column("created_ts", UTCDateTime, nullable=False),
    Column("expires_ts", UTCDateTime, nullable=False),
    Column("released_ts", UTCDateTime, nullable=True),
    Index("ix_file_reservations_project_active", "project_id", "released_ts", "expires_ts"),
    Index("ix_file_reservations_agent", "agent_id", "released_ts"),
    sqlite_autoincrement=True,
)

agent_links = Table(
    "agent_links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("a_project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("a_agent_id", Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("b_project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("b_agent_id", Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("reason", String(512), nullable=False, default=""),
    Column("created_ts", UTCDateTime, nullable=False),
    Column("updated_ts", UTCDateTime, nullable=False),
    Column("expires_ts", UTCDateTime, nullable=True),
    UniqueConstraint("a_agent_id", "b_agent_id", name="uq_agent_links_pair"),
    Index("ix_agent_links_b", "b_agent_id", "status"),
    sqlite_autoincrement=True,
)

# Attachment contents, addressed by the SHA-256 of the stored bytes; the archive
# writer copies each referenced blob to projects/<slug>/attachments/.
attachment_blobs = Table(
    "attachment_blobs",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("media_type", String(128), nullable=False),
    Column("bytes", Integer, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_ts", UTCDateTime, nullable=False),
)

# Stored results of summarize_recent. viewer_agent_id is the agent whose mail was
# summarised (NULL: the whole project), so a summary is shown only in its own scope.
message_summaries = Table(
    "message_summaries",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("viewer_agent_id", Integer, ForeignKey("agents.id", ondelete="CASCADE"), nullable=True),
    Column("summary_json", Text, nullable=False),
    Column("start_ts", UTCDateTime, nullable=False),
    Column("end_ts", UTCDateTime, nullable=False),
    Column("source_message_count", Integer, nullable=False, default=0),
    Column("source_thread_ids", JSON, nullable=False, default=list),
    Column("llm_model", String(128), nullable=True),
    Column("created_ts", UTCDateTime, nullable=False),
    Index("ix_message_summaries_project_end", "project_id", "end_ts"),
    sqlite_autoincrement=True,
)

# A persistent identity per terminal window (MCP_AGENT_MAIL_WINDOW_ID): the agent name that
# a registration without a name reuses. window_uuid is stored lower-case; expired rows are ignored.
window_identities = Table(
    "window_identities",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("window_uuid", String(64), nullable=False),
    Column("display_name", String(128), nullable=False),
    Column("created_ts", UTCDateTime, nullable=False),
    Column("last_active_ts", UTCDateTime, nullable=False),
    Column("expires_ts", UTCDateTime, nullable=True),
    UniqueConstraint("project_id", "window_uuid", name="uq_window_identity_project_uuid"),
    Index("idx_window_identities_project_active", "project_id", "expires_ts"),
    sqlite_autoincrement=True,
)

# Work the Git archive still has to show. Filled in the same transaction as the
# change it describes; emptied by the archive writer once the commit exists. A row
# the writer could not apply stays, with how often it failed, the last error, and
# when it is retried next (NULL: as soon as the writer runs). Migration 6 added
# the last four columns.
archive_outbox = Table(
    "archive_outbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project_id", Integer, nullable=False),
    Column("kind", String(32), nullable=False),
    Column("ref", String(256), nullable=False),
    Column("created_ts", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, server_default=text("0")),
    Column("last_error", Text, nullable=True),
    Column("failed_ts", UTCDateTime, nullable=True),
    Column("retry_ts", UTCDateTime, nullable=True),
    sqlite_autoincrement=True,
)

# Sends that carried a client_msg_id: a retry with the same id from the same sender gets
# ``result`` back (the payload without its body, which stays in ``messages``) instead of a
# second message. ``request_digest`` is the SHA-256 of the normalised request, so the same id
# for different content is refused. A row lives as long as its message (ON DELETE CASCADE).
# Migration 9 created it.
client_sends = Table(
    "client_sends",
    metadata,
    Column("sender_id", Integer, ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True),
    Column("client_msg_id", String(128), primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("request_digest", String(64), nullable=False),
    Column("message_id", Integer, ForeignKey("messages.id", ondelete="CASCADE"), nullable=False),
    Column("result", JSON, nullable=False),
    Column("created_ts", UTCDateTime, nullable=False),
    Index("ix_client_sends_message", "message_id"),
)

schema_version = Table(
    "schema_version",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(128), nullable=False),
    Column("applied_ts", UTCDateTime, nullable=False),
)

__all__ = [
    "agent_links",
    "agents",
    "archive_outbox",
    "attachment_blobs",
    "client_sends",
    "file_reservations",
    "message_recipients",
    "message_summaries",
    "messages",
    "metadata",
    "projects",
    "schema_version",
    "window_identities",
]
