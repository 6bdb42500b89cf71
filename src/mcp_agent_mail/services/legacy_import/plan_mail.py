"""Map the original's mail onto this program's tables: messages, recipients, reservations and summaries."""

from __future__ import annotations

import json
from typing import Any

from mcp_agent_mail.errors import AgentMailError
from mcp_agent_mail.services.legacy_import import values as v
from mcp_agent_mail.services.legacy_import.files import AttachmentCopier
from mcp_agent_mail.services.legacy_import.plan import Plan, take_id
from mcp_agent_mail.services.legacy_import.source import Source
from mcp_agent_mail.services.legacy_import.target import Ids
from mcp_agent_mail.services.mail.drafts import IMPORTANCE_LEVELS
from mcp_agent_mail.services.reservations.patterns import normalise_pattern

RECIPIENT_KINDS = ("to", "cc", "bcc")


def _message_values(plan: Plan, row: dict[str, Any]) -> dict[str, Any]:
    project_id = plan.project_of(row)
    try:
        sender_id = plan.agents.get(v.row_id(row, "sender_id"))
    except v.BadValue:
        raise v.BadValue("it has no sender") from None
    if sender_id is None:
        raise v.BadValue("its sender was not imported")
    importance = v.choice(row.get("importance", "normal"), IMPORTANCE_LEVELS)
    if importance is None:
        plan.report.adjusted["importance other than low/normal/high/urgent read as normal"] += 1
    return {
        "project_id": project_id,
        "sender_id": sender_id,
        "thread_id": v.thread_id(row.get("thread_id")),
        "topic": v.text(row, "topic", 64) if row.get("topic") else None,
        "subject": v.text(row, "subject", 512),
        "body_md": v.text(row, "body_md", 10**9, default=""),
        "importance": importance or "normal",
        "ack_required": v.flag(row, "ack_required", False),
        "created_ts": v.timestamp(row, "created_ts"),
    }


def map_messages(plan: Plan, source: Source, ids: Ids, copier: AttachmentCopier) -> None:
    """Map messages with their attachments; a thread named after a renumbered message follows it."""
    report = plan.report
    for row in source.table("messages"):
        what = f"message {row.get('id')!r}"
        try:
            source_id = v.row_id(row)
            values = _message_values(plan, row)
        except v.BadValue as exc:
            report.skip("messages", str(exc), what)
            continue
        new_id = ids.assign(source_id)
        if new_id is None:
            report.skip("messages", "the id appears twice in the source", what)
            continue
        slug = plan.slugs[values["project_id"]]
        carried = copier.carry(row.get("attachments"), values["body_md"], slug, values["created_ts"], what)
        values.update(body_md=carried.body, attachments=carried.metas)
        plan.messages[source_id] = new_id
        plan.add("messages", {"id": new_id, **values})
        report.count("messages")
    for message in plan.rows.get("messages", []):
        key = message["thread_id"]
        if key is not None and key.isdigit() and len(key) < 19:
            moved = plan.messages.get(int(key))
            if moved is not None and moved != int(key):
                message["thread_id"] = str(moved)
    plan.blobs.update(copier.blobs)


def map_recipients(plan: Plan, source: Source) -> None:
    """Map deliveries (to/cc/bcc) with their read and acknowledgement times."""
    report = plan.report
    seen: set[tuple[int, int]] = set()
    for row in source.table("message_recipients"):
        what = f"recipient {row.get('agent_id')!r} of message {row.get('message_id')!r}"
        try:
            message_id = plan.messages.get(v.row_id(row, "message_id"))
            if message_id is None:
                raise v.BadValue("its message was not imported")
            agent_id = plan.agents.get(v.row_id(row, "agent_id"))
            if agent_id is None:
                raise v.BadValue("its agent was not imported")
            kind = v.choice(row.get("kind", "to"), RECIPIENT_KINDS)
            if kind is None:
                raise v.BadValue("kind is not to, cc or bcc")
            values = {
                "message_id": message_id,
                "agent_id": agent_id,
                "kind": kind,
                "read_ts": v.timestamp(row, "read_ts", required=False),
                "ack_ts": v.timestamp(row, "ack_ts", required=False),
            }
        except v.BadValue as exc:
            report.skip("recipients", str(exc), what)
            continue
        if (message_id, agent_id) in seen:
            report.skip("recipients", "the agent is a recipient of that message twice", what)
            continue
        seen.add((message_id, agent_id))
        if values["ack_ts"] is not None and values["read_ts"] is None:
            values["read_ts"] = values["ack_ts"]
        plan.add("message_recipients", values)
        report.count("recipients")


def _pattern(row: dict[str, Any]) -> str:
    raw = v.text(row, "path_pattern", 4096)
    try:
        return normalise_pattern(raw)
    except AgentMailError as exc:
        raise v.BadValue(f"path_pattern is not usable ({exc.message.rstrip('.')})") from None


def map_reservations(plan: Plan, source: Source, ids: Ids) -> None:
    """Map file reservations, released and active alike."""
    report = plan.report
    for row in source.table("file_reservations"):
        what = f"file reservation {row.get('id')!r} ({str(row.get('path_pattern'))[:80]})"
        try:
            project_id = plan.projects.get(v.row_id(row, "project_id"))
            agent_id = plan.agents.get(v.row_id(row, "agent_id"))
            if project_id is None or agent_id is None:
                raise v.BadValue("its project or agent was not imported")
            values = {
                "project_id": project_id,
                "agent_id": agent_id,
                "path_pattern": _pattern(row),
                "exclusive": v.flag(row, "exclusive", True),
                "reason": v.text(row, "reason", 512, default=""),
                "created_ts": v.timestamp(row, "created_ts"),
                "expires_ts": v.timestamp(row, "expires_ts"),
                "released_ts": v.timestamp(row, "released_ts", required=False),
            }
        except v.BadValue as exc:
            report.skip("file_reservations", str(exc), what)
            continue
        new_id = take_id(plan, ids, "file_reservations", row, what)
        if new_id is None:
            continue
        plan.add("file_reservations", {"id": new_id, **values})
        report.count("file_reservations")


def map_summaries(plan: Plan, source: Source, ids: Ids) -> None:
    """Map stored summaries as project-wide ones (the original kept no viewer)."""
    report = plan.report
    for row in source.table("message_summaries"):
        what = f"summary {row.get('id')!r}"
        try:
            project_id = plan.project_of(row)
            summary = v.json_value(row.get("summary_text"), "summary_text")
            threads = v.json_value(row.get("source_thread_ids") or "[]", "source_thread_ids")
            if not isinstance(threads, list):
                raise v.BadValue("source_thread_ids is not a JSON list")
            count = row.get("source_message_count") or 0
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise v.BadValue("source_message_count is not a count")
            values = {
                "project_id": project_id,
                "viewer_agent_id": None,
                "summary_json": json.dumps(summary, ensure_ascii=False),
                "start_ts": v.timestamp(row, "start_ts"),
                "end_ts": v.timestamp(row, "end_ts"),
                "source_message_count": count,
                "source_thread_ids": [str(t)[:128] for t in threads],
                "llm_model": v.text(row, "llm_model", 128) if row.get("llm_model") else None,
                "created_ts": v.timestamp(row, "created_ts"),
            }
        except v.BadValue as exc:
            report.skip("summaries", str(exc), what)
            continue
        new_id = take_id(plan, ids, "summaries", row, what)
        if new_id is None:
            continue
        plan.add("message_summaries", {"id": new_id, **values})
        report.count("summaries")


__all__ = ["map_messages", "map_recipients", "map_reservations", "map_summaries"]
