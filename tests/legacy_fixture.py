"""Build a mailbox as the original project leaves it: its SQLite schema and its archive folder.

The schema and layout follow the original's documentation (data-storage-config §1 and §2): naive
UTC timestamps as ``YYYY-MM-DD HH:MM:SS.ffffff`` text, JSON attachment metadata with a SHA-1 WebP
path, WAL mode, plain-text registration tokens. Its quirks are kept: canonical message files list
the Bcc recipients, the seed of an implicit thread has no thread id (replies carry ``"<seed id>"``),
and one message has no archive file at all.

``hostile=True`` adds rows a damaged or hand-edited mailbox may hold: a message without a sender,
deliveries of a message that does not exist, an agent whose name is not a name, unreadable times,
a project whose path is not absolute, and attachments whose paths leave the archive.
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

DDL = """
CREATE TABLE projects (id INTEGER NOT NULL, slug VARCHAR(255) NOT NULL, human_key VARCHAR(255) NOT NULL,
    created_at DATETIME NOT NULL, archived_at DATETIME, PRIMARY KEY (id));
CREATE UNIQUE INDEX ix_projects_slug ON projects (slug);
CREATE TABLE products (id INTEGER NOT NULL, product_uid VARCHAR(64) NOT NULL, name VARCHAR(255) NOT NULL,
    created_at DATETIME NOT NULL, PRIMARY KEY (id));
CREATE TABLE product_project_links (id INTEGER NOT NULL, product_id INTEGER NOT NULL, project_id INTEGER NOT NULL,
    created_at DATETIME NOT NULL, PRIMARY KEY (id));
CREATE TABLE agents (id INTEGER NOT NULL, project_id INTEGER NOT NULL, name VARCHAR(128) NOT NULL,
    program VARCHAR(128) NOT NULL, model VARCHAR(128) NOT NULL, task_description VARCHAR(2048) NOT NULL,
    inception_ts DATETIME NOT NULL, last_active_ts DATETIME NOT NULL, attachments_policy VARCHAR(16) NOT NULL,
    contact_policy VARCHAR(16) NOT NULL, registration_token VARCHAR(64), retired_at DATETIME, PRIMARY KEY (id),
    CONSTRAINT uq_agent_project_name UNIQUE (project_id, name));
CREATE TABLE messages (id INTEGER NOT NULL, project_id INTEGER NOT NULL, sender_id INTEGER NOT NULL,
    thread_id VARCHAR(128), topic VARCHAR(64), subject VARCHAR(512) NOT NULL, body_md VARCHAR NOT NULL,
    importance VARCHAR(16) NOT NULL, ack_required BOOLEAN NOT NULL, created_ts DATETIME NOT NULL,
    attachments JSON DEFAULT '[]' NOT NULL, PRIMARY KEY (id));
CREATE TABLE message_recipients (message_id INTEGER NOT NULL, agent_id INTEGER NOT NULL, kind VARCHAR(8) NOT NULL,
    read_ts DATETIME, ack_ts DATETIME, PRIMARY KEY (message_id, agent_id));
CREATE TABLE file_reservations (id INTEGER NOT NULL, project_id INTEGER NOT NULL, agent_id INTEGER NOT NULL,
    path_pattern VARCHAR(512) NOT NULL, "exclusive" BOOLEAN NOT NULL, reason VARCHAR(512) NOT NULL,
    created_ts DATETIME NOT NULL, expires_ts DATETIME NOT NULL, released_ts DATETIME, PRIMARY KEY (id));
CREATE TABLE agent_links (id INTEGER NOT NULL, a_project_id INTEGER NOT NULL, a_agent_id INTEGER NOT NULL,
    b_project_id INTEGER NOT NULL, b_agent_id INTEGER NOT NULL, status VARCHAR(16) NOT NULL,
    reason VARCHAR(512) NOT NULL, created_ts DATETIME NOT NULL, updated_ts DATETIME NOT NULL, expires_ts DATETIME,
    PRIMARY KEY (id), CONSTRAINT uq_agentlink_pair UNIQUE (a_project_id, a_agent_id, b_project_id, b_agent_id));
CREATE TABLE window_identities (id INTEGER NOT NULL, project_id INTEGER NOT NULL, window_uuid VARCHAR(64) NOT NULL,
    display_name VARCHAR(128) NOT NULL, created_ts DATETIME NOT NULL, last_active_ts DATETIME NOT NULL,
    expires_ts DATETIME, PRIMARY KEY (id));
CREATE TABLE message_summaries (id INTEGER NOT NULL, project_id INTEGER NOT NULL, summary_text VARCHAR NOT NULL,
    start_ts DATETIME NOT NULL, end_ts DATETIME NOT NULL, source_message_count INTEGER NOT NULL,
    source_thread_ids VARCHAR NOT NULL, llm_model VARCHAR(128), cost_usd FLOAT, created_ts DATETIME NOT NULL,
    PRIMARY KEY (id));
CREATE TABLE project_sibling_suggestions (id INTEGER NOT NULL, project_a_id INTEGER NOT NULL,
    project_b_id INTEGER NOT NULL, score FLOAT NOT NULL, status VARCHAR(16) NOT NULL, rationale VARCHAR(4096) NOT NULL,
    created_ts DATETIME NOT NULL, evaluated_ts DATETIME NOT NULL, confirmed_ts DATETIME, dismissed_ts DATETIME,
    PRIMARY KEY (id));
CREATE VIRTUAL TABLE fts_messages USING fts5(message_id UNINDEXED, subject, body);
CREATE TRIGGER fts_messages_ai AFTER INSERT ON messages BEGIN
    INSERT INTO fts_messages(rowid, message_id, subject, body) VALUES (new.id, new.id, new.subject, new.body_md);
END;
"""

BACKEND = "/work/legacy-backend"
FRONTEND = "/work/legacy-frontend"
BACKEND_SLUG = "work-legacy-backend"
FRONTEND_SLUG = "work-legacy-frontend"
AGENTS = {1: "BlueLake", 2: "RedFox", 3: "GreenCastle", 4: "PurpleBear"}


def ts(day: int, hour: int = 9, minute: int = 0) -> str:
    """Return a naive UTC timestamp the way the original's ORM wrote it (November 2025)."""
    return f"2025-11-{day:02d} {hour:02d}:{minute:02d}:00.000000"


def _webp() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (32, 16), (200, 30, 30)).save(out, "WEBP")
    return out.getvalue()


@dataclass
class LegacyMailbox:
    """Where the generated mailbox lives and what it holds."""

    database: Path
    storage: Path
    attachment: bytes = b""
    expected: dict[str, int] = field(default_factory=dict)


def _message_file(front: dict[str, object], body: str) -> bytes:
    return ("---json\n" + json.dumps(front, indent=2, sort_keys=True) + "\n---\n\n" + body.strip() + "\n").encode()


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


class _Builder:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.storage = root / "legacy_storage"
        self.database = root / "storage.sqlite3"
        self.conn = sqlite3.connect(self.database)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.executescript(DDL)
        (self.storage / ".git").mkdir(parents=True)
        _write(self.storage / ".gitattributes", b"*.json text\n*.md text\n")

    def insert(self, table: str, **values: object) -> None:
        names = ", ".join(f'"{k}"' for k in values)
        marks = ", ".join("?" for _ in values)
        self.conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(values.values()))

    def project(self, pid: int, slug: str, human_key: str) -> None:
        self.insert("projects", id=pid, slug=slug, human_key=human_key, created_at=ts(1))

    def agent(self, aid: int, pid: int, name: str, slug: str, **extra: object) -> None:
        values: dict[str, object] = {
            "id": aid,
            "project_id": pid,
            "name": name,
            "program": "claude-code",
            "model": "opus",
            "task_description": f"{name}'s work",
            "inception_ts": ts(1, 8),
            "last_active_ts": ts(5, 17),
            "attachments_policy": "auto",
            "contact_policy": "auto",
            "registration_token": f"plain-token-of-{aid}",
        }
        values.update(extra)
        self.insert("agents", **values)
        profile = {k: values[k] for k in ("id", "name", "program", "model", "task_description", "project_id")}
        _write(self.storage / f"projects/{slug}/agents/{name}/profile.json", json.dumps(profile).encode())

    def message(
        self,
        mid: int,
        pid: int,
        slug: str,
        sender: int,
        recipients: list[tuple[int, str, str | None, str | None]],
        *,
        subject: str,
        body: str,
        day: int,
        thread_id: str | None = None,
        archive_file: bool = True,
        attachments: list[dict[str, object]] | None = None,
        **extra: object,
    ) -> None:
        values: dict[str, object] = {
            "id": mid,
            "project_id": pid,
            "sender_id": sender,
            "thread_id": thread_id,
            "subject": subject,
            "body_md": body,
            "importance": "normal",
            "ack_required": 0,
            "created_ts": ts(day),
            "attachments": json.dumps(attachments or []),
        }
        values.update(extra)
        self.insert("messages", **values)
        for agent_id, kind, read_ts, ack_ts in recipients:
            self.insert(
                "message_recipients", message_id=mid, agent_id=agent_id, kind=kind, read_ts=read_ts, ack_ts=ack_ts
            )
        if not archive_file:
            return
        names = {kind: [AGENTS.get(a, "?") for a, k, _r, _a in recipients if k == kind] for kind in ("to", "cc", "bcc")}
        front = {
            "id": mid,
            "thread_id": thread_id,
            "project": BACKEND if pid == 1 else FRONTEND,
            "project_slug": slug,
            "from": AGENTS.get(sender, "?"),
            **names,  # the original lists bcc in every copy
            "subject": subject,
            "importance": values["importance"],
            "ack_required": bool(values["ack_required"]),
            "created": f"2025-11-{day:02d}T09:00:00+00:00",
            "attachments": attachments or [],
        }
        name = f"2025-11-{day:02d}T09-00-00Z__{subject.lower().replace(' ', '-')}__{mid}.md"
        data = _message_file(front, body)
        _write(self.storage / f"projects/{slug}/messages/2025/11/{name}", data)
        for agent_id, _kind, _r, _a in recipients:
            _write(self.storage / f"projects/{slug}/agents/{AGENTS.get(agent_id, '?')}/inbox/2025/11/{name}", data)

    def close(self) -> None:
        self.conn.commit()
        self.conn.close()


def _normal(b: _Builder, image: bytes) -> dict[str, int]:
    b.project(1, BACKEND_SLUG, BACKEND)
    b.project(2, FRONTEND_SLUG, FRONTEND)
    b.agent(1, 1, "BlueLake", BACKEND_SLUG)
    b.agent(2, 1, "RedFox", BACKEND_SLUG, contact_policy="contacts_only")
    b.agent(3, 1, "GreenCastle", BACKEND_SLUG, attachments_policy="file")
    b.agent(4, 2, "PurpleBear", FRONTEND_SLUG)
    b.message(
        1, 1, BACKEND_SLUG, 1, [(2, "to", ts(2, 10), ts(2, 11)), (3, "cc", None, None)],
        subject="Schema plan", body="Let us **plan** the schema.", day=2, importance="high", ack_required=1,
    )  # fmt: skip
    b.message(
        2, 1, BACKEND_SLUG, 2, [(1, "to", ts(3, 12), None), (3, "bcc", None, None)],
        subject="Re: Schema plan", body="Agreed; see the migration.", day=3, thread_id="1",
    )  # fmt: skip
    sha1 = hashlib.sha1(image).hexdigest()
    rel = f"projects/{BACKEND_SLUG}/attachments/{sha1[:2]}/{sha1}.webp"
    _write(b.storage / rel, image)
    meta = {"type": "file", "media_type": "image/webp", "bytes": len(image), "path": rel, "width": 32,
            "height": 16, "sha1": sha1}  # fmt: skip
    b.message(
        3, 1, BACKEND_SLUG, 1, [(2, "to", None, None)], subject="Diagram", body=f"Here:\n\n![diagram]({rel})",
        day=4, thread_id="FEAT-7", attachments=[meta],
    )  # fmt: skip
    b.message(
        4, 1, BACKEND_SLUG, 3, [(1, "to", None, None)], subject="Missing file", body="This one has no archive file.",
        day=5, thread_id="FEAT-7", archive_file=False,
    )  # fmt: skip
    b.message(
        5, 2, FRONTEND_SLUG, 1, [(4, "to", None, None)], subject="Cross project", body="Hello frontend.", day=5,
    )  # fmt: skip
    b.insert("agent_links", id=1, a_project_id=1, a_agent_id=1, b_project_id=2, b_agent_id=4, status="approved",
             reason="api", created_ts=ts(2), updated_ts=ts(2), expires_ts=None)  # fmt: skip
    b.insert("agent_links", id=2, a_project_id=1, a_agent_id=2, b_project_id=1, b_agent_id=1, status="approved",
             reason="", created_ts=ts(2), updated_ts=ts(2), expires_ts=None)  # fmt: skip
    b.insert("file_reservations", id=1, project_id=1, agent_id=1, path_pattern="src/api/*.py", exclusive=1,
             reason="refactor", created_ts=ts(5), expires_ts="2099-01-01 00:00:00", released_ts=None)  # fmt: skip
    b.insert("file_reservations", id=2, project_id=1, agent_id=2, path_pattern="docs/**", exclusive=0,
             reason="", created_ts=ts(3), expires_ts=ts(4), released_ts=ts(3, 15))  # fmt: skip
    b.insert("window_identities", id=1, project_id=1, window_uuid="6F9619FF-8B86-D011-B42D-00C04FC964FF",
             display_name="BlueLake", created_ts=ts(1), last_active_ts=ts(5), expires_ts=None)  # fmt: skip
    b.insert("message_summaries", id=1, project_id=1, summary_text=json.dumps({"key_points": ["plan"]}),
             start_ts=ts(1), end_ts=ts(5), source_message_count=4, source_thread_ids='["1", "FEAT-7"]',
             llm_model=None, cost_usd=None, created_ts=ts(5, 18))  # fmt: skip
    b.insert("products", id=1, product_uid="abcdef0123", name="Legacy", created_at=ts(1))
    b.insert("product_project_links", id=1, product_id=1, project_id=1, created_at=ts(1))
    b.insert("project_sibling_suggestions", id=1, project_a_id=1, project_b_id=2, score=0.95, status="suggested",
             rationale="same parent", created_ts=ts(1), evaluated_ts=ts(1))  # fmt: skip
    return {"projects": 2, "agents": 4, "messages": 5, "recipients": 7, "file_reservations": 2, "contacts": 2,
            "window_identities": 1, "summaries": 1, "attachments": 1}  # fmt: skip


def _hostile(b: _Builder) -> None:
    b.project(3, "relative", "relative/path")
    b.agent(5, 1, "../../etc", BACKEND_SLUG)
    b.agent(6, 1, "SilverOtter", BACKEND_SLUG, inception_ts="not a time")
    b.agent(7, 3, "GoldHawk", "relative")
    b.message(20, 1, BACKEND_SLUG, 999, [(1, "to", None, None)], subject="Ghost", body="no sender", day=6)
    b.message(21, 1, BACKEND_SLUG, 1, [(2, "to", None, None)], subject="Bad time", body="x", day=6, created_ts="soon")
    b.message(22, 1, BACKEND_SLUG, 5, [(1, "to", None, None)], subject="From bad name", body="x", day=6)
    escape = {"type": "file", "media_type": "image/webp", "path": "projects/../../../../etc/passwd"}
    absolute = {"type": "file", "media_type": "image/webp", "path": "/etc/passwd"}
    b.message(
        23, 1, BACKEND_SLUG, 1, [(2, "to", None, None)], subject="Escape", body="![x](/etc/passwd)", day=6,
        attachments=[escape, absolute, "junk"],
    )  # fmt: skip
    b.insert("message_recipients", message_id=999, agent_id=1, kind="to", read_ts=None, ack_ts=None)
    b.insert("message_recipients", message_id=1, agent_id=4, kind="sideways", read_ts=None, ack_ts=None)
    b.insert("file_reservations", id=3, project_id=1, agent_id=1, path_pattern="/etc/**", exclusive=1, reason="",
             created_ts=ts(5), expires_ts=ts(6), released_ts=None)  # fmt: skip
    b.insert("agent_links", id=3, a_project_id=1, a_agent_id=1, b_project_id=1, b_agent_id=42, status="approved",
             reason="", created_ts=ts(2), updated_ts=ts(2), expires_ts=None)  # fmt: skip


def build_legacy_mailbox(root: Path, *, hostile: bool = False) -> LegacyMailbox:
    """Create ``root/storage.sqlite3`` and ``root/legacy_storage`` as the original leaves them."""
    root.mkdir(parents=True, exist_ok=True)
    builder = _Builder(root)
    image = _webp()
    try:
        expected = _normal(builder, image)
        if hostile:
            _hostile(builder)
    finally:
        builder.close()
    return LegacyMailbox(builder.database, builder.storage, image, expected)


def tree_digest(*paths: Path) -> dict[str, str]:
    """Return the SHA-256 of every file under (or at) ``paths``: what "unchanged" is checked against."""
    found: dict[str, str] = {}
    for base in paths:
        files = [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file())
        for path in files:
            found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


__all__ = ["AGENTS", "BACKEND", "FRONTEND", "LegacyMailbox", "build_legacy_mailbox", "tree_digest"]
