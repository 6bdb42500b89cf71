"""Turn the files of the Git archive back into database rows (projects, agents, contacts, mail, reservations, blobs)."""

from __future__ import annotations

import hashlib
import json
import mimetypes
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mcp_agent_mail.archive import paths
from mcp_agent_mail.archive.on_disk import attachment_sha
from mcp_agent_mail.archive.render import parse_message_document
from mcp_agent_mail.errors import AgentMailError
from mcp_agent_mail.services.identity.names import name_key
from mcp_agent_mail.timeutil import parse_timestamp

_RESERVATION = re.compile(r"^id-(\d+)\.json$")


@dataclass
class _Doc:
    front: dict[str, Any]
    body: str
    path: str


@dataclass
class _MessageFiles:
    canonical: _Doc | None = None
    outbox: tuple[str, str, _Doc] | None = None
    inbox: list[tuple[str, str, _Doc]] = field(default_factory=list)


@dataclass
class RecoveredRows:
    """Rows recovered from the archive, keyed by their original ids, plus what could not be recovered."""

    projects: dict[int, dict[str, Any]] = field(default_factory=dict)
    agents: dict[int, dict[str, Any]] = field(default_factory=dict)
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    recipients: dict[tuple[int, int], dict[str, Any]] = field(default_factory=dict)
    reservations: dict[int, dict[str, Any]] = field(default_factory=dict)
    links: dict[int, dict[str, Any]] = field(default_factory=dict)
    blobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    recipients_without_state: int = 0

    def counts(self) -> dict[str, int]:
        """Return how many rows of each table were recovered."""
        return {
            "projects": len(self.projects),
            "agents": len(self.agents),
            "messages": len(self.messages),
            "recipients": len(self.recipients),
            "file_reservations": len(self.reservations),
            "agent_links": len(self.links),
            "attachment_blobs": len(self.blobs),
        }


def _ts(value: Any, what: str) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_timestamp(str(value), field=what)
    except AgentMailError as exc:
        raise ValueError(exc.message) from exc


def _required_ts(value: Any, what: str) -> datetime:
    parsed = _ts(value, what)
    if parsed is None:
        raise ValueError(f"{what} is missing")
    return parsed


def _json(data: bytes) -> dict[str, Any]:
    value = json.loads(data.decode("utf-8"))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


class _Parser:
    """Collects rows from archive files in dependency order."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.rows = RecoveredRows()
        self.slug_to_project: dict[str, int] = {}
        self.human_key_to_project: dict[str, int] = {}
        self.folder_to_agent: dict[tuple[str, str], int] = {}
        self.key_to_agent: dict[tuple[int, str], int] = {}
        self.link_pairs: set[tuple[int, int]] = set()

    def warn(self, path: str, problem: object) -> None:
        self.rows.warnings.append(f"{path}: {problem}")

    def parse(self) -> RecoveredRows:
        profiles: list[tuple[str, list[str]]] = []
        contacts: list[tuple[str, list[str]]] = []
        messages: dict[int, _MessageFiles] = {}
        reservations: list[tuple[str, list[str]]] = []
        stored: dict[str, list[str]] = {}
        for path in sorted(self.files):
            parts = path.split("/")
            if len(parts) < 3 or parts[0] != "projects":
                continue
            sha = attachment_sha(path)
            if sha is not None:
                stored.setdefault(sha, []).append(path)
            elif len(parts) == 3 and parts[2] == "project.json":
                self.project(path, parts[1])
            elif len(parts) == 5 and parts[2] == "agents" and parts[4] == "profile.json":
                profiles.append((path, parts))
            elif len(parts) == 5 and parts[2] == "agents" and parts[4] == "contacts.json":
                contacts.append((path, parts))
            elif parts[2] == "file_reservations" and len(parts) == 4 and _RESERVATION.match(parts[3]):
                reservations.append((path, parts))
            else:
                self.collect_message(path, parts, messages)
        for path, parts in profiles:
            self.agent(path, parts[1], parts[3])
        for path, parts in contacts:
            self.contacts(path, parts[1], parts[3])
        for message_id in sorted(messages):
            self.message(message_id, messages[message_id])
        for path, parts in reservations:
            self.reservation(path, parts[1])
        self.attachment_blobs(stored)
        return self.rows

    def project(self, path: str, slug: str) -> None:
        try:
            data = _json(self.files[path])
            pid = int(data["id"])
            row: dict[str, Any] = {
                "id": pid,
                "slug": str(data["slug"]),
                "human_key": str(data["human_key"]),
                "created_at": _required_ts(data.get("created_at"), "created_at"),
                "archived_at": _ts(data.get("archived_at"), "archived_at"),
            }
        except (ValueError, KeyError, TypeError) as exc:
            self.warn(path, f"unreadable project file ({exc})")
            return
        if pid in self.rows.projects or row["human_key"] in self.human_key_to_project:
            self.warn(path, f"project id {pid} appears twice; kept the first")
            return
        self.rows.projects[pid] = row
        self.slug_to_project[slug] = pid
        self.slug_to_project.setdefault(row["slug"], pid)
        self.human_key_to_project[row["human_key"]] = pid

    def agent(self, path: str, slug: str, folder: str) -> None:
        try:
            data = _json(self.files[path])
            aid = int(data["id"])
            name = str(data["name"])
            row: dict[str, Any] = {
                "id": aid,
                "project_id": int(data["project_id"]),
                "name": name,
                "name_key": name_key(name),
                "program": str(data["program"]),
                "model": str(data["model"]),
                "task_description": str(data.get("task_description") or ""),
                "inception_ts": _required_ts(data.get("inception_ts"), "inception_ts"),
                "last_active_ts": _required_ts(data.get("last_active_ts"), "last_active_ts"),
                "attachments_policy": str(data.get("attachments_policy") or "auto"),
                "contact_policy": str(data.get("contact_policy") or "auto"),
                "registration_token_hash": None,
                "retired_at": _ts(data.get("retired_at"), "retired_at"),
            }
        except (ValueError, KeyError, TypeError) as exc:
            self.warn(path, f"unreadable profile ({exc})")
            return
        folder_project = self.slug_to_project.get(slug)
        if row["project_id"] not in self.rows.projects:
            self.warn(path, f"agent {name} belongs to project id {row['project_id']}, which has no project.json")
            return
        if folder_project != row["project_id"]:
            self.warn(path, f"agent {name} lies in the folder of another project; kept its own project id")
        key = (row["project_id"], row["name_key"])
        if aid in self.rows.agents or key in self.key_to_agent:
            self.warn(path, f"agent id {aid} ({name}) appears twice; kept the first")
            return
        self.rows.agents[aid] = row
        self.folder_to_agent[(slug, folder)] = aid
        self.key_to_agent[key] = aid

    def contacts(self, path: str, slug: str, folder: str) -> None:
        """Recover the outgoing contact links listed in an agent's ``contacts.json``."""
        owner = self.folder_to_agent.get((slug, folder))
        if owner is None:
            self.warn(path, "contacts of an agent without a readable profile; skipped")
            return
        try:
            entries = _json(self.files[path]).get("outgoing") or []
            if not isinstance(entries, list):
                raise ValueError("outgoing is not a list")
        except (ValueError, UnicodeDecodeError) as exc:
            self.warn(path, f"unreadable contacts file ({exc})")
            return
        a_project = self.rows.agents[owner]["project_id"]
        for entry in entries:
            try:
                b_project = self.human_key_to_project.get(str(entry["to_project"]))
                target = None if b_project is None else self.key_to_agent.get((b_project, name_key(str(entry["to"]))))
                if b_project is None or target is None:
                    raise ValueError(f"target {entry['to']!r} in {entry['to_project']!r} has no profile")
                row: dict[str, Any] = {
                    "id": int(entry["id"]),
                    "a_project_id": a_project,
                    "a_agent_id": owner,
                    "b_project_id": b_project,
                    "b_agent_id": target,
                    "status": str(entry["status"]),
                    "reason": str(entry.get("reason") or ""),
                    "created_ts": _required_ts(entry.get("created_ts"), "created_ts"),
                    "updated_ts": _required_ts(entry.get("updated_ts"), "updated_ts"),
                    "expires_ts": _ts(entry.get("expires_ts"), "expires_ts"),
                }
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                self.warn(path, f"contact link not recovered ({exc})")
                continue
            pair = (row["a_agent_id"], row["b_agent_id"])
            if row["id"] in self.rows.links or pair in self.link_pairs:
                self.warn(path, f"contact link id {row['id']} appears twice; kept the first")
                continue
            self.rows.links[row["id"]] = row
            self.link_pairs.add(pair)

    def attachment_blobs(self, stored: dict[str, list[str]]) -> None:
        """Recover the stored attachment blobs that recovered messages refer to."""
        referenced: dict[str, tuple[datetime, str]] = {}
        for message_id in sorted(self.rows.messages):
            row = self.rows.messages[message_id]
            for meta in row["attachments"]:
                if not isinstance(meta, dict) or meta.get("type") != "file" or not isinstance(meta.get("sha256"), str):
                    continue
                sha, created = meta["sha256"], row["created_ts"]
                if sha not in referenced or created < referenced[sha][0]:
                    referenced[sha] = (created, str(meta.get("media_type") or ""))
        for sha in sorted(referenced):
            data = None
            for path in stored.get(sha, []):
                if hashlib.sha256(self.files[path]).hexdigest() == sha:
                    data = self.files[path]
                    break
                self.warn(path, "content does not match its SHA-256 name; ignored")
            if data is None:
                continue
            created, media = referenced[sha]
            media = media or mimetypes.guess_type(stored[sha][0])[0] or "application/octet-stream"
            self.rows.blobs[sha] = {
                "sha256": sha,
                "media_type": media,
                "bytes": len(data),
                "data": data,
                "created_ts": created,
            }

    def collect_message(self, path: str, parts: list[str], messages: dict[int, _MessageFiles]) -> None:
        match = paths.MESSAGE_ID_SUFFIX.search(path)
        if match is None:
            return
        box = parts[4] if len(parts) >= 6 and parts[2] == "agents" else None
        is_canonical = parts[2] == "messages" and parts[3] != "threads"
        if not is_canonical and box not in ("inbox", "outbox"):
            return
        try:
            front, body = parse_message_document(self.files[path])
        except (ValueError, UnicodeDecodeError) as exc:
            self.warn(path, f"unreadable message file ({exc})")
            return
        doc = _Doc(front, body, path)
        entry = messages.setdefault(int(match.group(1)), _MessageFiles())
        if is_canonical:
            entry.canonical = doc
        elif box == "outbox":
            entry.outbox = (parts[1], parts[3], doc)
        else:
            entry.inbox.append((parts[1], parts[3], doc))

    def resolve_label(self, label: str, project_id: int) -> int | None:
        """Return the agent id of ``Name`` (in ``project_id``) or ``Name@slug``."""
        name, at, slug = label.rpartition("@")
        if not at:
            name, slug = label, ""
        pid = self.slug_to_project.get(slug) if slug else project_id
        if pid is None:
            return None
        return self.key_to_agent.get((pid, name_key(name)))

    def message(self, message_id: int, found: _MessageFiles) -> None:
        base = found.canonical or (found.outbox[2] if found.outbox else None) or found.inbox[0][2]
        front = base.front
        try:
            if int(front["id"]) != message_id:
                raise ValueError(f"front matter id {front['id']} does not match the file name")
            project_id = self.slug_to_project.get(str(front.get("project_slug")))
            if project_id is None:
                project_id = self.human_key_to_project.get(str(front.get("project")))
            if project_id is None:
                raise ValueError(f"project {front.get('project_slug')!r} has no project.json")
            sender_id = None
            if found.outbox is not None:
                sender_id = self.folder_to_agent.get(found.outbox[:2])
            if sender_id is None:
                sender = str(front["from"])
                if front.get("from_project_slug") and "@" not in sender:
                    sender = f"{sender}@{front['from_project_slug']}"
                sender_id = self.resolve_label(sender, project_id)
            if sender_id is None:
                raise ValueError(f"sender {front.get('from')!r} has no profile")
            attachments = front.get("attachments") or []
            if not isinstance(attachments, list):
                raise ValueError("attachments is not a list")
            row: dict[str, Any] = {
                "id": message_id,
                "project_id": project_id,
                "sender_id": sender_id,
                "thread_id": front.get("thread_id"),
                "topic": front.get("topic") or None,
                "subject": str(front["subject"]),
                "body_md": base.body,
                "importance": str(front.get("importance") or "normal"),
                "ack_required": bool(front.get("ack_required")),
                "created_ts": _required_ts(front.get("created"), "created"),
                "attachments": attachments,
            }
        except (ValueError, KeyError, TypeError) as exc:
            self.warn(base.path, f"message {message_id} not recovered ({exc})")
            return
        self.rows.messages[message_id] = row
        self.recipients(message_id, project_id, found, base)

    def recipients(self, message_id: int, project_id: int, found: _MessageFiles, base: _Doc) -> None:
        rows = self.rows.recipients
        for slug, folder, doc in found.inbox:
            agent_id = self.folder_to_agent.get((slug, folder))
            kind = doc.front.get("kind")
            if agent_id is None or kind not in ("to", "cc", "bcc"):
                self.warn(doc.path, "inbox copy of an unknown agent or without a kind; skipped")
                continue
            try:
                rows[(message_id, agent_id)] = {
                    "message_id": message_id,
                    "agent_id": agent_id,
                    "kind": kind,
                    "read_ts": _ts(doc.front.get("read_ts"), "read_ts"),
                    "ack_ts": _ts(doc.front.get("ack_ts"), "ack_ts"),
                }
            except ValueError as exc:
                self.warn(doc.path, exc)
        listed: list[tuple[str, Any]] = [("to", base.front.get("to")), ("cc", base.front.get("cc"))]
        if found.outbox is not None:
            listed.append(("bcc", found.outbox[2].front.get("bcc")))
        for kind, labels in listed:
            for label in labels if isinstance(labels, list) else []:
                agent_id = self.resolve_label(str(label), project_id)
                if agent_id is None:
                    self.warn(base.path, f"recipient {label!r} of message {message_id} has no profile; skipped")
                elif (message_id, agent_id) not in rows:
                    rows[(message_id, agent_id)] = {
                        "message_id": message_id,
                        "agent_id": agent_id,
                        "kind": kind,
                        "read_ts": None,
                        "ack_ts": None,
                    }
                    self.rows.recipients_without_state += 1

    def reservation(self, path: str, slug: str) -> None:
        try:
            data = _json(self.files[path])
            project_id = self.slug_to_project.get(slug) or self.human_key_to_project.get(str(data.get("project")))
            if project_id is None:
                raise ValueError(f"project folder {slug!r} has no project.json")
            agent_id = self.resolve_label(str(data["agent"]), project_id)
            if agent_id is None:
                raise ValueError(f"agent {data['agent']!r} has no profile")
            row: dict[str, Any] = {
                "id": int(data["id"]),
                "project_id": project_id,
                "agent_id": agent_id,
                "path_pattern": str(data["path_pattern"]),
                "exclusive": bool(data.get("exclusive", True)),
                "reason": str(data.get("reason") or ""),
                "created_ts": _required_ts(data.get("created_ts"), "created_ts"),
                "expires_ts": _required_ts(data.get("expires_ts"), "expires_ts"),
                "released_ts": _ts(data.get("released_ts"), "released_ts"),
            }
        except (ValueError, KeyError, TypeError) as exc:
            self.warn(path, f"reservation not recovered ({exc})")
            return
        self.rows.reservations[row["id"]] = row


def recover_rows(files: dict[str, bytes]) -> RecoveredRows:
    """Parse archive files (repo path -> bytes) into rows keyed by their original ids."""
    return _Parser(files).parse()


__all__ = ["RecoveredRows", "recover_rows"]
