"""Exactly-once sends: the ``client_msg_id`` a sender may give, and the first result a retry gets back.

A send that carries a ``client_msg_id`` records, in the transaction that stores
the message, the id, a digest of the normalised request and the result. A later
call of the same sender with the same id finds that row and returns the result
again without storing anything; with different content it is refused. Writers
take turns under the database's write lock, so a retry racing the original call
(in this process or another) finds the row once the first one committed. A row
lives as long as its message: deleting or purging the message deletes it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import RowMapping, bindparam, select

from mcp_agent_mail.db import ReadTransaction, WriteTransaction, run_read, schema
from mcp_agent_mail.errors import AgentMailError, InvalidArgumentError
from mcp_agent_mail.services.identity.project_agent import project_and_agent
from mcp_agent_mail.timeutil import utcnow

CLIENT_MSG_ID_MAX = 128
_ID = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._:-]{{0,{CLIENT_MSG_ID_MAX - 1}}}")
_HINT = (
    f"Use 1-{CLIENT_MSG_ID_MAX} ASCII letters, digits, '.', '_', ':' or '-' (a UUID fits), "
    "and the same id for every retry of one message."
)


@dataclass(frozen=True)
class Once:
    """A send that must happen at most once: the sender's id for it and the digest of what it sends."""

    client_msg_id: str
    digest: str


def check_client_msg_id(value: Any) -> str | None:
    """Return the client_msg_id (None when absent or empty), or raise INVALID_ARGUMENT for a malformed one."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and _ID.fullmatch(value):
        return value
    shown = value[:40] + "..." if isinstance(value, str) and len(value) > 40 else value
    raise InvalidArgumentError(f"client_msg_id {shown!r} is not a valid id; nothing was sent.", hint=_HINT)


def names(values: list[str] | None) -> list[str]:
    """Return recipient names as one comparable list: case-folded, without duplicates, sorted."""
    return sorted({value.strip().lower() for value in values or []})


def once(client_msg_id: Any, kind: str, request: dict[str, Any]) -> Once | None:
    """Check ``client_msg_id`` and digest the normalised ``request`` of a ``kind`` of send (None: no id given)."""
    checked = check_client_msg_id(client_msg_id)
    if checked is None:
        return None
    document = json.dumps({"kind": kind, **request}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    digest = hashlib.sha256(document.encode("utf-8", errors="surrogatepass")).hexdigest()
    return Once(checked, digest)


_cs, _m = schema.client_sends, schema.messages
_FIND = (
    select(_cs.c.request_digest, _cs.c.message_id, _cs.c.result, _m.c.body_md)
    .join(_m, _m.c.id == _cs.c.message_id)
    .where(_cs.c.sender_id == bindparam("sender_id"), _cs.c.client_msg_id == bindparam("client_msg_id"))
)
_INSERT = _cs.insert()


def _payloads(result: dict[str, Any]) -> list[dict[str, Any]]:
    return [delivery["payload"] for delivery in result.get("deliveries", [])]


def _replay(row: RowMapping, wanted: Once) -> dict[str, Any]:
    if row["request_digest"] != wanted.digest:
        raise InvalidArgumentError(
            f"client_msg_id {wanted.client_msg_id!r} was already used for a different message "
            f"(id {row['message_id']}); nothing was sent.",
            hint="Give each new message its own client_msg_id; reuse one only to retry the very same call.",
        )
    result: dict[str, Any] = copy.deepcopy(row["result"])
    for payload in _payloads(result):
        payload["body_md"] = row["body_md"]
    return result


async def find(session: ReadTransaction, sender_id: int, wanted: Once) -> dict[str, Any] | None:
    """Return the first result of this send (None if there was none), or raise INVALID_ARGUMENT if it differed."""
    params = {"sender_id": sender_id, "client_msg_id": wanted.client_msg_id}
    row = (await session.execute(_FIND, params)).mappings().first()
    return None if row is None else _replay(row, wanted)


async def earlier_result(project_key: str, sender_name: str, wanted: Once) -> dict[str, Any] | None:
    """Look for the first result of this send before any work is done (the write transaction checks again)."""

    async def read(session: ReadTransaction) -> dict[str, Any] | None:
        try:
            _project, sender = await project_and_agent(session, project_key, sender_name, field="sender_name")
        except AgentMailError:
            return None  # the send itself reports what is wrong, in its usual order
        return await find(session, sender["id"], wanted)

    return await run_read(read)


async def record(
    session: WriteTransaction, project_id: int, sender_id: int, wanted: Once, result: dict[str, Any]
) -> None:
    """Remember a stored send's result under its client_msg_id (the body text stays in ``messages`` only)."""
    stored = copy.deepcopy(result)
    payloads = _payloads(stored)
    for payload in payloads:
        payload["body_md"] = ""  # kept as a key, so a replay has the keys in the first answer's order
    values = {
        "sender_id": sender_id,
        "client_msg_id": wanted.client_msg_id,
        "project_id": project_id,
        "request_digest": wanted.digest,
        "message_id": payloads[0]["id"],
        "result": stored,
        "created_ts": utcnow(),
    }
    await session.execute(_INSERT, values)


__all__ = ["CLIENT_MSG_ID_MAX", "Once", "check_client_msg_id", "earlier_result", "find", "names", "once", "record"]
