"""What a reply to another agent's message reads before it stores anything, in one statement.

The project, the replying agent, the original message (only if the replier sent or received
it), the original's sender (the default recipient) and the replier's contact link to that sender.
Any other reply (to one's own message, with explicit recipients, or across projects) and any
miss take the separate lookups, which give the coded errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import RowMapping, bindparam, exists, select

from mcp_agent_mail.db import ReadTransaction, schema
from mcp_agent_mail.services.identity.project_agent import BY_PATH, BY_SLUG, lookup_keys
from mcp_agent_mail.services.mail import recipients as rcpt

_p, _a, _m, _r, _l = (
    schema.projects,
    schema.agents,
    schema.messages,
    schema.message_recipients,
    schema.agent_links,
)
_replier, _author = _a.alias("replier"), _a.alias("author")
_ORIGINAL_COLUMNS = (
    _m.c.id,
    _m.c.project_id,
    _m.c.sender_id,
    _m.c.thread_id,
    _m.c.topic,
    _m.c.subject,
    _m.c.importance,
    _m.c.ack_required,
)
_PREFIXES: dict[str, Any] = {
    "project": _p,
    "replier": _replier,
    "original": _ORIGINAL_COLUMNS,
    "author": _author,
    "link": _l,
}


def _labelled() -> list[Any]:
    columns: list[Any] = []
    for prefix, source in _PREFIXES.items():
        for column in source.c if hasattr(source, "c") else source:
            columns.append(column.label(f"{prefix}__{column.name}"))
    return columns


_FROM = (
    _p.join(_replier, (_replier.c.project_id == _p.c.id) & (_replier.c.name_key == bindparam("replier_key")))
    .join(
        _m,
        (_m.c.id == bindparam("message_id"))
        & (
            (_m.c.sender_id == _replier.c.id)
            | exists().where(_r.c.message_id == _m.c.id, _r.c.agent_id == _replier.c.id)
        ),
    )
    .join(_author, _author.c.id == _m.c.sender_id)
    .outerjoin(_l, (_l.c.a_agent_id == _replier.c.id) & (_l.c.b_agent_id == _author.c.id))
)
_BY_PATH = select(*_labelled()).select_from(_FROM).where(BY_PATH)
_BY_SLUG = select(*_labelled()).select_from(_FROM).where(BY_SLUG)


@dataclass(frozen=True)
class ReplyRows:
    """A reply's project, replier (its sender), the original message and that message's sender."""

    project: RowMapping
    sender: RowMapping
    original: RowMapping
    author: RowMapping
    link: RowMapping | None

    def recipients(self) -> rcpt.Recipients:
        """Return the default recipients (the original's sender, as ``to``), refusing a retired one."""
        resolved = rcpt.Recipients(
            home_project_id=self.project["id"], links={} if self.link is None else {self.author["id"]: self.link}
        )
        resolved.add(self.author, "to", self.project["slug"])
        rcpt.check_deliverable(resolved)
        return resolved


def _part(row: RowMapping, prefix: str) -> RowMapping:
    start = f"{prefix}__"
    return cast(RowMapping, {key[len(start) :]: value for key, value in row.items() if key.startswith(start)})


async def read_reply(
    session: ReadTransaction, project_key: str, replier_name: str, message_id: int
) -> ReplyRows | None:
    """Read what a default reply to another agent of the same project needs; None when that is not the case."""
    lookup = lookup_keys(project_key, replier_name)
    if lookup is None or not isinstance(message_id, int):
        return None
    by_path, params, replier_key = lookup
    found = await session.execute(
        _BY_PATH if by_path else _BY_SLUG, {**params, "replier_key": replier_key, "message_id": message_id}
    )
    rows = list(found.mappings())
    if len(rows) != 1:
        return None  # not found, not visible, or a key naming two projects: the full lookups decide
    (row,) = rows
    project, sender, original, author = (_part(row, prefix) for prefix in ("project", "replier", "original", "author"))
    if author["id"] == sender["id"] or author["project_id"] != project["id"]:
        return None  # replying to oneself goes to the original's recipients; another project's author needs its slug
    link = _part(row, "link") if row["link__id"] is not None else None
    return ReplyRows(project, sender, original, author, link)


__all__ = ["ReplyRows", "read_reply"]
