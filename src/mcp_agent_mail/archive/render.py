"""Render archive files from the current database state (pure functions of the rows read).

Every function takes a synchronous SQLAlchemy ``Connection`` and returns file
contents keyed by repo-relative path. Rendering the same rows twice yields the
same bytes, which is what makes replaying the outbox idempotent.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from sqlalchemy import Connection, RowMapping, Select, bindparam, or_, select

from mcp_agent_mail.archive import jsontext, paths
from mcp_agent_mail.db import schema
from mcp_agent_mail.db.shapes import agent_dict, agent_label, project_dict, reservation_dict
from mcp_agent_mail.timeutil import iso

DIGEST_PREVIEW_CHARS = 1200
FRONT_MATTER_OPEN = "---json\n"
FRONT_MATTER_CLOSE = "\n---\n\n"


@dataclass
class Rendered:
    """Files for one database object plus how to describe the change in a commit."""

    files: dict[str, bytes] = field(default_factory=dict)
    stage: set[str] = field(default_factory=set)
    summary: str = ""
    trailers: list[tuple[str, str]] = field(default_factory=list)
    thread_keys: set[str] = field(default_factory=set)


def json_bytes(obj: Any) -> bytes:
    """Serialise ``obj`` the archive way: indent 2, sorted keys, trailing newline, UTF-8."""
    return (jsontext.dumps(obj) + "\n").encode("utf-8")


def message_document(front: dict[str, Any], body: str) -> bytes:
    """Return ``---json`` front matter, a blank line, the body verbatim and one final newline."""
    head = jsontext.dumps(front)
    return (FRONT_MATTER_OPEN + head + FRONT_MATTER_CLOSE + body + "\n").encode("utf-8")


def parse_message_document(data: bytes) -> tuple[dict[str, Any], str]:
    """Split a message file into its front matter and body (inverse of :func:`message_document`)."""
    text = data.decode("utf-8")
    if not text.startswith(FRONT_MATTER_OPEN):
        raise ValueError("message file does not start with ---json front matter")
    end = text.index(FRONT_MATTER_CLOSE, len(FRONT_MATTER_OPEN))
    front = json.loads(text[len(FRONT_MATTER_OPEN) : end])
    body = text[end + len(FRONT_MATTER_CLOSE) :]
    return front, body[:-1] if body.endswith("\n") else body


def project_json(row: RowMapping) -> dict[str, Any]:
    """Shape ``project.json``."""
    return project_dict(row)


def profile_json(row: RowMapping) -> dict[str, Any]:
    """Shape ``profile.json``: the public profile plus the contact policy; token hashes are never written."""
    return {**agent_dict(row), "contact_policy": row["contact_policy"]}


def contacts_file(slug: str, name: str) -> str:
    """Return the path of an agent's ``contacts.json``."""
    return f"{paths.agent_dir(slug, name)}/contacts.json"


@cache
def _contacts_stmt() -> Select[Any]:
    k, a, p = schema.agent_links, schema.agents, schema.projects
    return (
        select(k, a.c.name, p.c.human_key)
        .join(a, a.c.id == k.c.b_agent_id)
        .join(p, p.c.id == a.c.project_id)
        .where(k.c.a_agent_id.in_(bindparam("ids", expanding=True)))
        .order_by(k.c.id)
    )


def _contacts(conn: Connection, agent_ids: list[int]) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {agent_id: {"outgoing": []} for agent_id in agent_ids}
    for row in conn.execute(_contacts_stmt(), {"ids": agent_ids}).mappings():
        found[row["a_agent_id"]]["outgoing"].append(
            {
                "id": row["id"],
                "to": row["name"],
                "to_project": row["human_key"],
                "status": row["status"],
                "reason": row["reason"],
                "created_ts": iso(row["created_ts"]),
                "updated_ts": iso(row["updated_ts"]),
                "expires_ts": iso(row["expires_ts"]),
            }
        )
    return found


@cache
def _project_stmt() -> Select[Any]:
    p = schema.projects
    return select(p).where(p.c.id == bindparam("project_id"))


def load_project(conn: Connection, project_id: int) -> RowMapping | None:
    """Return a project row or None."""
    return conn.execute(_project_stmt(), {"project_id": project_id}).mappings().first()


def render_project(conn: Connection, project_id: int) -> Rendered | None:
    """Render ``project.json`` (None when the project no longer exists)."""
    row = load_project(conn, project_id)
    if row is None:
        return None
    return Rendered(
        files={paths.project_file(row["slug"]): json_bytes(project_json(row))},
        summary=f"project: {row['slug']}",
    )


@cache
def _agents_stmt() -> Select[Any]:
    a, p = schema.agents, schema.projects
    return select(a, p.c.slug).join(p, p.c.id == a.c.project_id).where(a.c.id.in_(bindparam("ids", expanding=True)))


def render_agent(conn: Connection, agent_id: int) -> Rendered | None:
    """Render an agent's ``profile.json`` and ``contacts.json`` (None when the agent no longer exists)."""
    return render_agents(conn, [agent_id]).get(agent_id)


def render_agents(conn: Connection, agent_ids: list[int]) -> dict[int, Rendered]:
    """Render several agents with one query per table; ids that no longer exist are left out."""
    rows = list(conn.execute(_agents_stmt(), {"ids": agent_ids}).mappings())
    contacts = _contacts(conn, [row["id"] for row in rows]) if rows else {}
    return {
        row["id"]: Rendered(
            files={
                paths.profile_file(row["slug"], row["name"]): json_bytes(profile_json(row)),
                contacts_file(row["slug"], row["name"]): json_bytes(contacts[row["id"]]),
            },
            summary=f"agent: profile {row['name']}",
            trailers=[("Agent", row["name"])],
        )
        for row in rows
    }


def render_reservation(conn: Connection, reservation_id: int) -> Rendered | None:
    """Render ``file_reservations/id-<id>.json`` (None when the reservation no longer exists)."""
    r, a, p = schema.file_reservations, schema.agents, schema.projects
    row = (
        conn.execute(
            select(r, a.c.name.label("agent"), p.c.slug, p.c.human_key)
            .join(a, a.c.id == r.c.agent_id)
            .join(p, p.c.id == r.c.project_id)
            .where(r.c.id == reservation_id)
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    data = reservation_dict(row, project=row["human_key"])
    return Rendered(
        files={paths.reservation_file(row["slug"], row["id"]): json_bytes(data)},
        summary=f"file_reservation: {row['agent']} {row['path_pattern']}",
        trailers=[("Agent", row["agent"])],
    )


@cache
def _recipients_stmt() -> Select[Any]:
    mr, a, p = schema.message_recipients, schema.agents, schema.projects
    return (
        select(
            mr.c.message_id,
            mr.c.kind,
            mr.c.read_ts,
            mr.c.ack_ts,
            a.c.name,
            a.c.project_id.label("agent_project_id"),
            p.c.slug.label("agent_slug"),
        )
        .join(a, a.c.id == mr.c.agent_id)
        .join(p, p.c.id == a.c.project_id)
        .where(mr.c.message_id.in_(bindparam("ids", expanding=True)))
        .order_by(mr.c.message_id, a.c.name_key, a.c.id)
    )


def _recipients(conn: Connection, message_ids: list[int]) -> list[RowMapping]:
    return list(conn.execute(_recipients_stmt(), {"ids": message_ids}).mappings())


@cache
def _message_rows_stmt() -> Select[Any]:
    m, a, p = schema.messages, schema.agents, schema.projects
    sp = p.alias("sender_project")
    return (
        select(
            m,
            p.c.slug,
            p.c.human_key,
            a.c.name.label("sender_name"),
            a.c.project_id.label("sender_project_id"),
            sp.c.slug.label("sender_slug"),
            sp.c.human_key.label("sender_human_key"),
        )
        .join(p, p.c.id == m.c.project_id)
        .join(a, a.c.id == m.c.sender_id)
        .join(sp, sp.c.id == a.c.project_id)
        .where(m.c.id.in_(bindparam("ids", expanding=True)))
    )


def _attachment_paths(row: RowMapping) -> set[str]:
    prefix = paths.project_dir(row["slug"]) + "/attachments/"
    found: set[str] = set()
    for meta in row["attachments"] or []:
        path = meta.get("path") if isinstance(meta, dict) else None
        if not isinstance(path, str) or meta.get("type") != "file":
            continue
        normal = posixpath.normpath(path)
        if normal.startswith(prefix) and ".." not in normal.split("/"):
            found.add(normal)
    return found


def _attachment_blobs(conn: Connection, row: RowMapping, wanted: set[str]) -> dict[str, bytes]:
    """Return the stored bytes of the message's file attachments, keyed by archive path."""
    by_sha = {
        meta["sha256"]: posixpath.normpath(meta["path"])
        for meta in row["attachments"] or []
        if isinstance(meta, dict)
        and isinstance(meta.get("sha256"), str)
        and isinstance(meta.get("path"), str)
        and posixpath.normpath(meta["path"]) in wanted
    }
    if not by_sha:
        return {}
    b = schema.attachment_blobs
    rows = conn.execute(select(b.c.sha256, b.c.data).where(b.c.sha256.in_(list(by_sha))))
    return {by_sha[sha]: bytes(data) for sha, data in rows}


def render_message(conn: Connection, message_id: int) -> Rendered | None:
    """Render the canonical copy, the sender's outbox copy and every recipient's inbox copy."""
    return render_messages(conn, [message_id]).get(message_id)


def render_messages(conn: Connection, message_ids: list[int]) -> dict[int, Rendered]:
    """Render several messages with one query per table; ids that no longer exist are left out."""
    rows = list(conn.execute(_message_rows_stmt(), {"ids": message_ids}).mappings())
    by_message: dict[int, list[RowMapping]] = {row["id"]: [] for row in rows}
    if rows:
        for r in _recipients(conn, list(by_message)):
            by_message[r["message_id"]].append(r)
    return {row["id"]: _render_message_row(conn, row, by_message[row["id"]]) for row in rows}


def _render_message_row(conn: Connection, row: RowMapping, recipients: list[RowMapping]) -> Rendered:
    message_id = row["id"]
    pid = row["project_id"]
    labels: dict[str, list[str]] = {"to": [], "cc": [], "bcc": []}
    for r in recipients:
        labels.setdefault(r["kind"], []).append(agent_label(r["name"], r["agent_project_id"], r["agent_slug"], pid))
    sender = agent_label(row["sender_name"], row["sender_project_id"], row["sender_slug"], pid)
    front: dict[str, Any] = {
        "id": row["id"],
        "thread_id": row["thread_id"],
        "project": row["human_key"],
        "project_slug": row["slug"],
        "from": sender,
        "to": labels["to"],
        "cc": labels["cc"],
        "subject": row["subject"],
        "importance": row["importance"],
        "ack_required": bool(row["ack_required"]),
        "created": iso(row["created_ts"]),
        "attachments": row["attachments"] or [],
    }
    if row["topic"]:
        front["topic"] = row["topic"]
    if row["sender_project_id"] != pid:
        front["from_project"] = row["sender_human_key"]
        front["from_project_slug"] = row["sender_slug"]
        front["from_address"] = f"project:{row['sender_slug']}#{row['sender_name']}"
    body = row["body_md"]
    created, subject = row["created_ts"], row["subject"]
    files = {paths.canonical_message_file(row["slug"], created, subject, message_id): message_document(front, body)}
    outbox = paths.mailbox_file(row["sender_slug"], row["sender_name"], "outbox", created, subject, message_id)
    files[outbox] = message_document({**front, "bcc": labels["bcc"]}, body)
    for r in recipients:
        copy: dict[str, Any] = {**front, "kind": r["kind"], "read_ts": iso(r["read_ts"]), "ack_ts": iso(r["ack_ts"])}
        if r["kind"] == "bcc":
            copy["bcc"] = [agent_label(r["name"], r["agent_project_id"], r["agent_slug"], pid)]
        inbox = paths.mailbox_file(r["agent_slug"], r["name"], "inbox", created, subject, message_id)
        files[inbox] = message_document(copy, body)
    visible = ", ".join(labels["to"] + labels["cc"])
    trailers = [("Agent", sender), ("Message-Id", str(message_id))]
    keys = {str(message_id)}
    if row["thread_id"]:
        keys.add(row["thread_id"])
        trailers.insert(1, ("Thread", row["thread_id"]))
    attached = _attachment_paths(row)
    blobs = _attachment_blobs(conn, row, attached)
    files.update(blobs)
    return Rendered(
        files=files,
        stage=attached - set(blobs),
        summary=f"mail: {sender} -> {visible} | {subject}",
        trailers=trailers,
        thread_keys=keys,
    )


def _preview(body: str) -> str:
    text = body.strip()
    if len(text) > DIGEST_PREVIEW_CHARS:
        return text[:DIGEST_PREVIEW_CHARS].rstrip() + "\n..."
    return text


@cache
def _threads_stmt() -> Select[Any]:
    m, a, p = schema.messages, schema.agents, schema.projects
    return (
        select(
            m.c.id,
            m.c.thread_id,
            m.c.subject,
            m.c.body_md,
            m.c.created_ts,
            m.c.project_id,
            a.c.name.label("sender_name"),
            a.c.project_id.label("sender_project_id"),
            p.c.slug.label("sender_slug"),
        )
        .join(a, a.c.id == m.c.sender_id)
        .join(p, p.c.id == a.c.project_id)
        .where(
            m.c.project_id == bindparam("project_id"),
            or_(m.c.thread_id.in_(bindparam("keys", expanding=True)), m.c.id.in_(bindparam("ids", expanding=True))),
        )
        .order_by(m.c.created_ts, m.c.id)
    )


def threads_members(conn: Connection, project_id: int, keys: list[str]) -> dict[str, list[RowMapping]]:
    """Return the messages of several threads (thread_id == key, or id == key for a numeric key), oldest first."""
    numeric = {int(key): key for key in keys if key.isdigit() and len(key) < 19}
    found: dict[str, list[RowMapping]] = {key: [] for key in keys}
    params = {"project_id": project_id, "keys": list(keys), "ids": list(numeric)}
    for row in conn.execute(_threads_stmt(), params).mappings():
        by_thread = row["thread_id"] if row["thread_id"] in found else None
        if by_thread is not None:
            found[by_thread].append(row)
        by_id = numeric.get(row["id"])
        if by_id is not None and by_id != by_thread:
            found[by_id].append(row)
    return found


def render_thread_digest(conn: Connection, project: RowMapping, key: str) -> tuple[str, bytes | None] | None:
    """Render a thread digest; content None means the thread has no replies left (file must go)."""
    return render_thread_digests(conn, project, [key]).get(key)


def render_thread_digests(
    conn: Connection, project: RowMapping, keys: list[str]
) -> dict[str, tuple[str, bytes | None]]:
    """Render several digests of a project with two queries (invalid keys are left out)."""
    valid = [key for key in keys if paths.valid_thread_key(key)]
    members = threads_members(conn, project["id"], valid) if valid else {}
    replied = {key: rows for key, rows in members.items() if any(row["thread_id"] == key for row in rows)}
    ids = sorted({row["id"] for rows in replied.values() for row in rows})
    by_message: dict[int, dict[str, list[str]]] = {}
    recipients = [r for start in range(0, len(ids), 5000) for r in _recipients(conn, ids[start : start + 5000])]
    for r in recipients:
        if r["kind"] in ("to", "cc"):
            label = agent_label(r["name"], r["agent_project_id"], r["agent_slug"], project["id"])
            by_message.setdefault(r["message_id"], {"to": [], "cc": []})[r["kind"]].append(label)
    result: dict[str, tuple[str, bytes | None]] = {}
    for key in valid:
        target = paths.thread_digest_file(project["slug"], key)
        rows = replied.get(key)
        result[key] = (target, None if rows is None else _digest_text(project, key, target, rows, by_message))
    return result


def _digest_text(
    project: RowMapping, key: str, target: str, members: list[RowMapping], by_message: dict[int, dict[str, list[str]]]
) -> bytes:
    slug = project["slug"]
    lines = [f"# Thread {key}", "", f"Project: {project['human_key']}", ""]
    for row in members:
        names = by_message.get(row["id"], {"to": [], "cc": []})
        sender = agent_label(row["sender_name"], row["sender_project_id"], row["sender_slug"], project["id"])
        link = paths.relative_link(
            target, paths.canonical_message_file(slug, row["created_ts"], row["subject"], row["id"])
        )
        lines += ["---", "", f"## {row['subject']}", "", f"- From: {sender}", f"- To: {', '.join(names['to'])}"]
        if names["cc"]:
            lines.append(f"- Cc: {', '.join(names['cc'])}")
        lines += [f"- Date: {iso(row['created_ts'])}", f"- Message: [#{row['id']}]({link})", ""]
        preview = _preview(row["body_md"])
        if preview:
            lines += [preview, ""]
    return ("\n".join(lines).rstrip("\n") + "\n").encode("utf-8")


def render_project_files(conn: Connection, project_id: int) -> dict[str, bytes]:
    """Render every archive file derived from one project's rows (the full projection, for doctor)."""
    project = load_project(conn, project_id)
    if project is None:
        return {}
    files: dict[str, bytes] = {}
    rendered = render_project(conn, project_id)
    if rendered is not None:
        files.update(rendered.files)
    a, m, r = schema.agents, schema.messages, schema.file_reservations
    for agent_id in conn.execute(select(a.c.id).where(a.c.project_id == project_id).order_by(a.c.id)).scalars():
        agent = render_agent(conn, agent_id)
        if agent is not None:
            files.update(agent.files)
    keys: set[str] = set()
    for message_id in conn.execute(select(m.c.id).where(m.c.project_id == project_id).order_by(m.c.id)).scalars():
        message = render_message(conn, message_id)
        if message is not None:
            files.update(message.files)
            keys.update(message.thread_keys)
    for key in sorted(keys):
        digest = render_thread_digest(conn, project, key)
        if digest is not None and digest[1] is not None:
            files[digest[0]] = digest[1]
    for res_id in conn.execute(select(r.c.id).where(r.c.project_id == project_id).order_by(r.c.id)).scalars():
        reservation = render_reservation(conn, res_id)
        if reservation is not None:
            files.update(reservation.files)
    return files


def render_archive_files(conn: Connection) -> dict[str, bytes]:
    """Render the projection of every project, plus ``.gitattributes``."""
    files: dict[str, bytes] = {".gitattributes": paths.GITATTRIBUTES}
    for project_id in conn.execute(select(schema.projects.c.id).order_by(schema.projects.c.id)).scalars():
        files.update(render_project_files(conn, project_id))
    return files
