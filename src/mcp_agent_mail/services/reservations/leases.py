"""File reservations: advisory, expiring leases on path globs and virtual names.

A reservation is *active* while ``released_ts IS NULL AND expires_ts > now``; an
expired row is simply inactive, nothing releases a live holder behind its back.
Another agent's active reservation conflicts with a request when either side is
exclusive and the patterns overlap. Conflicting paths are reported with their
holders and not granted; the rest of the request is granted. Another agent's
lease ends early only through :func:`release_stale`, and only when its holder is
provably stale (see :mod:`mcp_agent_mail.services.reservations.staleness`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import RowMapping, bindparam, select, update

from mcp_agent_mail import archive
from mcp_agent_mail.config import get_settings
from mcp_agent_mail.db import ReadTransaction, WriteTransaction, run_read, run_write, schema
from mcp_agent_mail.db.shapes import reservation_dict
from mcp_agent_mail.errors import (
    AgentRetiredError,
    InvalidArgumentError,
    NotFoundError,
    ProjectArchivedError,
    ReservationActiveError,
)
from mcp_agent_mail.services.identity.project_agent import Row, project_and_agent
from mcp_agent_mail.services.identity.resolve import resolve_project, touch_agent
from mcp_agent_mail.services.reservations import staleness
from mcp_agent_mail.services.reservations.patterns import (
    has_glob,
    is_virtual,
    normalise_pattern,
    patterns_overlap,
    read_stored_pattern,
)
from mcp_agent_mail.timeutil import iso, utcnow

logger = logging.getLogger("mcp_agent_mail.reservations")

MAX_PATHS = 100
MAX_REASON = 512
MAX_IDS = 1000
_TOUCH_INTERVAL = timedelta(seconds=30)

fr = schema.file_reservations
ag = schema.agents


# ---------------------------------------------------------------------------
# Validation (runs before any database access)


def _check_paths(paths: Sequence[str] | None, *, required: bool) -> list[str] | None:
    """Normalise a path list; None means "not given", [] is refused."""
    if paths is None:
        if required:
            raise _empty_paths(required)
        return None
    if isinstance(paths, str) or not isinstance(paths, (list, tuple)):
        raise InvalidArgumentError("paths must be a list of strings.", hint='Pass e.g. ["src/app.py", "docs/**"].')
    if not paths:
        raise _empty_paths(required)
    if len(paths) > MAX_PATHS:
        raise InvalidArgumentError(
            f"paths lists {len(paths)} patterns; at most {MAX_PATHS} are allowed per call.",
            hint="Reserve a directory glob such as src/** instead of many single files.",
        )
    seen: dict[str, None] = {}
    for raw in paths:
        seen.setdefault(normalise_pattern(raw), None)
    return list(seen)


def _empty_paths(required: bool) -> InvalidArgumentError:
    hint = (
        'List at least one file path or glob relative to the repository root, e.g. ["src/app.py"].'
        if required
        else "Omit paths to act on all of your reservations, or list at least one pattern."
    )
    return InvalidArgumentError("paths is empty (EMPTY_PATHS).", hint=hint, data={"reason": "EMPTY_PATHS"})


def _check_ids(ids: Sequence[int] | None) -> list[int] | None:
    if ids is None:
        return None
    if isinstance(ids, (str, bytes)) or not isinstance(ids, (list, tuple)):
        raise InvalidArgumentError("file_reservation_ids must be a list of integers.")
    if not ids:
        raise InvalidArgumentError(
            "file_reservation_ids is empty (EMPTY_IDS).",
            hint="Omit file_reservation_ids to act on all of your reservations, or list at least one id.",
            data={"reason": "EMPTY_IDS"},
        )
    if len(ids) > MAX_IDS:
        raise InvalidArgumentError(f"file_reservation_ids lists more than {MAX_IDS} ids.")
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise InvalidArgumentError(
                f"file_reservation_ids contains {value!r}, which is not a reservation id.",
                hint="Use the ids returned in granted by file_reservation_paths.",
            )
    return list(dict.fromkeys(ids))


def _check_seconds(value: int, field: str) -> int:
    settings = get_settings()
    low, high = settings.file_reservation_min_ttl_seconds, settings.file_reservation_max_ttl_seconds
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidArgumentError(
            f"{field} must be an integer from {low} to {high} seconds; got {value!r}.",
            hint=f"Pick a lease between {low} s and {high} s and renew it while you still need it.",
            data={"min": low, "max": high},
        )
    return value


def _check_reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if len(text) > MAX_REASON:
        raise InvalidArgumentError(f"reason is longer than {MAX_REASON} characters.", hint="Shorten the reason.")
    return text


def check_reserve_request(paths: Sequence[str] | None, ttl_seconds: int, reason: str | None) -> list[str]:
    """Validate the arguments of :func:`reserve_paths` without touching the database; return the patterns."""
    patterns = _check_paths(paths, required=True)
    assert patterns is not None
    _check_seconds(ttl_seconds, "ttl_seconds")
    _check_reason(reason)
    return patterns


# ---------------------------------------------------------------------------
# Shared lookups


def _check_project_writable(project: Row) -> None:
    if project["archived_at"] is not None:
        raise ProjectArchivedError(f"Project {project['slug']!r} is archived.")


async def _writable_holder(session: ReadTransaction, project_key: str, agent_name: str) -> tuple[Row, Row]:
    """Resolve project and agent for an operation that takes or extends leases."""
    project, agent = await project_and_agent(session, project_key, agent_name, check_project=_check_project_writable)
    _check_project_writable(project)
    if agent["retired_at"] is not None:
        raise AgentRetiredError(f"Agent {agent['name']!r} is retired and cannot hold file reservations.")
    return project, agent


async def _touch(session: WriteTransaction, project_id: int, agent: Row, now: datetime) -> None:
    """Record that the agent is active and queue its profile (skipped when it was marked active moments ago)."""
    if now - agent["last_active_ts"] >= _TOUCH_INTERVAL:
        await touch_agent(session, project_id, agent["id"], now)


_OWN_COLUMNS = (fr.c.id, fr.c.path_pattern, fr.c.expires_ts)
_OWN_WHERE = (
    fr.c.project_id == bindparam("project_id"),
    fr.c.agent_id == bindparam("agent_id"),
    fr.c.released_ts.is_(None),
    fr.c.expires_ts > bindparam("now"),
)
_OWN_ALL = select(*_OWN_COLUMNS).where(*_OWN_WHERE).order_by(fr.c.expires_ts, fr.c.id)
_OWN_BY_IDS = (
    select(*_OWN_COLUMNS)
    .where(*_OWN_WHERE, fr.c.id.in_(bindparam("ids", expanding=True)))
    .order_by(fr.c.expires_ts, fr.c.id)
)


async def _own_active(
    session: ReadTransaction, project_id: int, agent_id: int, now: datetime, ids: list[int] | None
) -> list[RowMapping]:
    """Return the agent's active reservations in the project (only those with the given ids, if any)."""
    params: dict[str, Any] = {"project_id": project_id, "agent_id": agent_id, "now": now}
    if ids is None:
        return list((await session.execute(_OWN_ALL, params)).mappings().all())
    params["ids"] = ids
    return list((await session.execute(_OWN_BY_IDS, params)).mappings().all())


def _matches_requested(stored: str, wanted: list[str] | None) -> bool:
    """Compare a stored pattern with requested ones after normalising both."""
    if wanted is None:
        return True
    try:
        return normalise_pattern(stored) in wanted
    except InvalidArgumentError:
        return stored in wanted


@lru_cache(maxsize=4096)
def _literal_head(pattern: str) -> tuple[str, ...] | None:
    """Return the leading literal folders of an anchored path glob (None when it may match at any depth)."""
    try:
        normalised = normalise_pattern(pattern)
    except InvalidArgumentError:
        return None
    body = normalised.rstrip("/")
    if is_virtual(normalised) or "/" not in body:
        return None
    head: list[str] = []
    for segment in body.split("/"):
        if segment == "**" or has_glob(segment):
            break
        head.append(segment)
    return tuple(head)


_warned: set[str] = set()


@lru_cache(maxsize=4096)
def _stored(pattern: str) -> tuple[str, str | None]:
    """Read a stored pattern once: (pattern, None), or ("**", why) when it no longer validates."""
    return read_stored_pattern(pattern)


def _report_unreadable(pattern: str, problem: str) -> None:
    if pattern not in _warned and len(_warned) < 1000:
        _warned.add(pattern)
        logger.warning("stored reservation %s; it is treated as overlapping every request", problem)


def _overlaps(stored: str, requested: str) -> bool:
    """Tell whether a stored lease's pattern overlaps a requested (valid, normalised) pattern.

    A stored pattern that no longer validates (from an old restore point, or stored before
    a limit existed) overlaps every request: its holder meant to keep something, and what
    cannot be read cannot be shown to be elsewhere. Its holder can still release it, and
    others can force-release it once it is stale.
    """
    normalised, problem = _stored(stored)
    if problem is not None:
        _report_unreadable(stored, problem)
        return True
    head_a, head_b = _literal_head(normalised), _literal_head(requested)
    if head_a is not None and head_b is not None and any(x != y for x, y in zip(head_a, head_b, strict=False)):
        return False  # anchored globs that part ways at a literal folder (docs/** vs src/*.py) never meet
    return patterns_overlap(normalised, requested)


Overlaps = dict[tuple[str, str], bool]
Blocked = list[tuple[str, list[RowMapping]]]  # requested patterns with the leases that block them

_YIELD_EVERY = 0.001  # seconds of pattern work between hand-overs of the GIL


def _overlap_table(active: list[RowMapping], agent_id: int, patterns: list[str], exclusive: bool) -> Overlaps:
    """Decide every (other agent's stored pattern, requested pattern) pair that can conflict, once.

    Runs in a worker thread and hands the interpreter to other threads about every
    millisecond, so a long table neither delays the event loop nor the writer by more.
    """
    stored = dict.fromkeys(
        row["path_pattern"] for row in active if row["agent_id"] != agent_id and (exclusive or row["exclusive"])
    )
    table: Overlaps = {}
    mark = time.perf_counter()
    for s in stored:
        for p in patterns:
            table[(s, p)] = _overlaps(s, p)
            if time.perf_counter() - mark > _YIELD_EVERY:
                time.sleep(0)
                mark = time.perf_counter()
    return table


def _active_leases(*columns: Any) -> Any:
    """The project's unreleased, unexpired leases with their holders' names, oldest first."""
    return (
        select(
            fr.c.id,
            fr.c.agent_id,
            ag.c.name.label("agent"),
            fr.c.path_pattern,
            fr.c.exclusive,
            fr.c.reason,
            *columns,
            fr.c.expires_ts,
        )
        .join(ag, ag.c.id == fr.c.agent_id)
        .where(
            fr.c.project_id == bindparam("project_id"), fr.c.released_ts.is_(None), fr.c.expires_ts > bindparam("now")
        )
        .order_by(fr.c.created_ts, fr.c.id)
    )


_ACTIVE = _active_leases(fr.c.created_ts)
# What a new request is checked against: the same rows, without the creation times it never reads.
_ACTIVE_FOR_REQUEST = _active_leases()


async def _load_active(
    session: ReadTransaction, project_id: int, now: datetime, *, statement: Any = _ACTIVE
) -> list[RowMapping]:
    """Return the project's active reservations with their holders' names."""
    return list((await session.execute(statement, {"project_id": project_id, "now": now})).mappings().all())


_LOCK_BUDGET = 0.002  # seconds of overlap decisions a write may spend before it defers them


class _DecideOutside(Exception):
    """The write would decide overlaps for too long while holding the write lock."""


def _conflicting_rows(
    active: list[RowMapping], agent_id: int, pattern: str, exclusive: bool, known: Overlaps, deadline: float | None
) -> list[RowMapping]:
    """Return other agents' leases that block ``pattern`` (either side exclusive and overlapping).

    Answers are looked up in, and added to, ``known``. Past ``deadline`` (when given) an
    undecided pair raises :class:`_DecideOutside` instead of being decided under the lock.
    """
    blocking: list[RowMapping] = []
    for row in active:
        if row["agent_id"] == agent_id or not (exclusive or row["exclusive"]):
            continue
        key = (row["path_pattern"], pattern)
        overlap = known.get(key)
        if overlap is None:
            if deadline is not None and time.perf_counter() > deadline:
                raise _DecideOutside
            overlap = known[key] = _overlaps(*key)
        if overlap:
            blocking.append(row)
    return blocking


def _holder_view(row: RowMapping) -> dict[str, Any]:
    """Shape a blocking lease for the conflict report (after the write: no lock is held)."""
    holder = {
        "id": row["id"],
        "agent": row["agent"],
        "path_pattern": row["path_pattern"],
        "exclusive": bool(row["exclusive"]),
        "expires_ts": iso(row["expires_ts"]),
    }
    problem = _stored(row["path_pattern"])[1]
    if problem is not None:
        holder["pattern_error"] = f"{problem} It is treated as overlapping every path until released."
    return holder


def _conflict_view(path: str, rows: list[RowMapping]) -> dict[str, Any]:
    """Shape one refused pattern: its holders, plus the original project's flat conflict keys.

    ``type``, ``message``, ``surface``, ``holder``, ``path_pattern``, ``exclusive`` and
    ``expires_ts`` describe the first holder, as clients of the original read them.
    """
    holders = [_holder_view(row) for row in rows]
    first = holders[0]
    others = len(holders) - 1
    message = f"{path} is held by {first['agent']} ({first['path_pattern']}) until {first['expires_ts']}"
    if others:
        message += f" and by {others} other {'lease' if others == 1 else 'leases'}"
    return {
        "path": path,
        "holders": holders,
        "type": "FILE_RESERVATION_CONFLICT",
        "message": message + ".",
        "surface": path,
        "holder": first["agent"],
        "path_pattern": first["path_pattern"],
        "exclusive": first["exclusive"],
        "expires_ts": first["expires_ts"],
    }


def _conflict_views(blocked: Blocked) -> list[dict[str, Any]]:
    """Shape the conflict report: each refused pattern with its holders."""
    return [_conflict_view(path, rows) for path, rows in blocked]


_VIEWS_INLINE = 256  # holders shaped on the event loop; a longer report is shaped in a worker thread


# ---------------------------------------------------------------------------
# Operations


_EXTEND_LEASE = (
    update(fr)
    .where(fr.c.id == bindparam("rid"))
    .values(exclusive=bindparam("x"), reason=bindparam("r"), expires_ts=bindparam("e"))
)
_INSERT_LEASES = fr.insert().returning(fr.c.id, sort_by_parameter_order=True)
_RELEASE = update(fr).where(fr.c.id.in_(bindparam("ids", expanding=True))).values(released_ts=bindparam("now"))
_RENEW = update(fr).where(fr.c.id == bindparam("rid")).values(expires_ts=bindparam("e"))


async def reserve_paths(
    project_key: str,
    agent_name: str,
    paths: Sequence[str],
    ttl_seconds: int = 3600,
    exclusive: bool = True,
    reason: str = "",
) -> dict[str, Any]:
    """Grant leases on the non-conflicting patterns; report conflicting ones with their holders."""
    patterns = _check_paths(paths, required=True)
    assert patterns is not None
    ttl = _check_seconds(ttl_seconds, "ttl_seconds")
    reason_text = _check_reason(reason)
    exclusive = bool(exclusive)

    # Overlaps are decided inside the write while that stays short (the usual case, and cached
    # pairs cost nothing). A write that would hold the lock longer gives up before writing
    # anything; the pairs are then decided in a read thread and the write runs again, deciding
    # inside only the pairs of leases taken in the meantime.
    known: Overlaps = {}
    budget: list[float | None] = [_LOCK_BUDGET]

    async def decide_overlaps(session: ReadTransaction) -> Overlaps:
        project, agent = await _writable_holder(session, project_key, agent_name)
        active = await _load_active(session, project["id"], utcnow(), statement=_ACTIVE_FOR_REQUEST)
        return _overlap_table(active, agent["id"], patterns, exclusive)

    async def unit(session: WriteTransaction) -> tuple[Row, Row, list[dict[str, Any]], Blocked]:
        granted: list[dict[str, Any]] = []
        conflicts: Blocked = []
        project, agent = await _writable_holder(session, project_key, agent_name)
        now = utcnow()
        expires = now + timedelta(seconds=ttl)
        active = await _load_active(session, project["id"], now, statement=_ACTIVE_FOR_REQUEST)
        deadline = None if budget[0] is None else time.perf_counter() + budget[0]
        own: dict[str, RowMapping] = {}
        for row in active:
            if row["agent_id"] == agent["id"]:
                own.setdefault(row["path_pattern"], row)
        inserts: list[str] = []
        updates: list[dict[str, Any]] = []
        for pattern in patterns:
            blocking = _conflicting_rows(active, agent["id"], pattern, exclusive, known, deadline)
            if blocking:
                conflicts.append((pattern, blocking))
                continue
            mine = own.get(pattern)
            if mine is None:
                inserts.append(pattern)
                granted.append({"path_pattern": pattern})
                continue
            new_reason = reason_text or mine["reason"]
            new_expires = max(mine["expires_ts"], expires)
            updates.append({"rid": mine["id"], "x": exclusive, "r": new_reason, "e": new_expires})
            granted.append({"id": mine["id"], "path_pattern": pattern, "reason": new_reason, "expires_ts": new_expires})
        if updates:
            await session.execute(_EXTEND_LEASE, updates)
        new_ids: list[int] = []
        if inserts:
            base = {
                "project_id": project["id"],
                "agent_id": agent["id"],
                "exclusive": exclusive,
                "reason": reason_text,
                "created_ts": now,
                "expires_ts": expires,
            }
            result = await session.execute(_INSERT_LEASES, [{**base, "path_pattern": p} for p in inserts])
            new_ids = [r[0] for r in result.all()]
        fresh = iter(new_ids)
        for entry in granted:
            if "id" not in entry:
                entry.update(id=next(fresh), reason=reason_text, expires_ts=expires)
            entry["exclusive"] = exclusive
            entry["expires_ts"] = iso(entry["expires_ts"])
        if granted:
            await archive.enqueue_many(session, project["id"], "reservation", [e["id"] for e in granted])
        await _touch(session, project["id"], agent, now)
        return project, agent, granted, conflicts

    try:
        project, agent, granted, blocked = await run_write(unit)
    except _DecideOutside:
        known.update(await run_read(decide_overlaps))
        budget[0] = None
        project, agent, granted, blocked = await run_write(unit)
    if sum(len(rows) for _, rows in blocked) <= _VIEWS_INLINE:
        conflicts = _conflict_views(blocked)
    else:
        conflicts = await asyncio.to_thread(_conflict_views, blocked)
    if granted:
        archive.wake_writer()
    if conflicts:
        logger.info(
            "reservation conflicts for %s in %s: %s", agent["name"], project["slug"], [c["path"] for c in conflicts]
        )
    return {
        "granted": [
            {
                "id": e["id"],
                "path_pattern": e["path_pattern"],
                "exclusive": e["exclusive"],
                "reason": e["reason"],
                "expires_ts": e["expires_ts"],
            }
            for e in granted
        ],
        "conflicts": conflicts,
    }


async def release_reservations(
    project_key: str,
    agent_name: str,
    paths: Sequence[str] | None = None,
    file_reservation_ids: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Release the caller's active reservations (all, or those matching the given patterns/ids)."""
    wanted = _check_paths(paths, required=False)
    ids = _check_ids(file_reservation_ids)

    async def unit(session: WriteTransaction) -> tuple[list[int], datetime]:
        project, agent = await project_and_agent(session, project_key, agent_name)
        now = utcnow()
        rows = await _own_active(session, project["id"], agent["id"], now, ids)
        chosen = [row["id"] for row in rows if _matches_requested(row["path_pattern"], wanted)]
        if chosen:
            await session.execute(_RELEASE, {"ids": chosen, "now": now})
            await archive.enqueue_many(session, project["id"], "reservation", chosen)
            if agent["retired_at"] is None:
                await _touch(session, project["id"], agent, now)
        return chosen, now

    chosen, now = await run_write(unit)
    if chosen:
        archive.wake_writer()
    return {"released": len(chosen), "released_at": iso(now)}


async def renew_reservations(
    project_key: str,
    agent_name: str,
    extend_seconds: int = 1800,
    paths: Sequence[str] | None = None,
    file_reservation_ids: Sequence[int] | None = None,
) -> dict[str, Any]:
    """Push back the expiry of the caller's active reservations (capped at now + the maximum TTL)."""
    extend = _check_seconds(extend_seconds, "extend_seconds")
    wanted = _check_paths(paths, required=False)
    ids = _check_ids(file_reservation_ids)
    max_ttl = timedelta(seconds=get_settings().file_reservation_max_ttl_seconds)

    async def unit(session: WriteTransaction) -> list[dict[str, Any]]:
        renewed: list[dict[str, Any]] = []
        project, agent = await _writable_holder(session, project_key, agent_name)
        now = utcnow()
        ceiling = now + max_ttl
        changes: list[dict[str, Any]] = []
        for row in await _own_active(session, project["id"], agent["id"], now, ids):
            if not _matches_requested(row["path_pattern"], wanted):
                continue
            old = row["expires_ts"]
            new = max(old, min(max(old, now) + timedelta(seconds=extend), ceiling))
            changes.append({"rid": row["id"], "e": new})
            renewed.append(
                {
                    "id": row["id"],
                    "path_pattern": row["path_pattern"],
                    "old_expires_ts": iso(old),
                    "new_expires_ts": iso(new),
                }
            )
        if changes:
            await session.execute(_RENEW, changes)
            await archive.enqueue_many(session, project["id"], "reservation", [c["rid"] for c in changes])
        await _touch(session, project["id"], agent, now)
        return renewed

    renewed = await run_write(unit)
    if renewed:
        archive.wake_writer()
    return {"renewed": len(renewed), "file_reservations": renewed}


async def list_active_reservations(project_key: str) -> list[dict[str, Any]]:
    """Return the project's active reservations, oldest first."""

    async def read(session: ReadTransaction) -> list[RowMapping]:
        project = await resolve_project(session, project_key)
        return await _load_active(session, project["id"], utcnow())

    return [reservation_dict(row) for row in await run_read(read)]


# ---------------------------------------------------------------------------
# Force release of a stale holder's lease

MAX_NOTE = 2000


def _check_force_args(file_reservation_id: int, note: str | None) -> str:
    if isinstance(file_reservation_id, bool) or not isinstance(file_reservation_id, int) or file_reservation_id < 1:
        raise InvalidArgumentError(
            f"file_reservation_id {file_reservation_id!r} is not a reservation id.",
            hint="Use the id of a holder listed under conflicts by file_reservation_paths.",
        )
    if note is not None and not isinstance(note, str):
        raise InvalidArgumentError("note must be a string.")
    text = (note or "").strip()
    if len(text) > MAX_NOTE:
        raise InvalidArgumentError(f"note is longer than {MAX_NOTE} characters.", hint="Shorten the note.")
    return text


async def _reservation_with_holder(session: ReadTransaction, project_id: int, reservation_id: int) -> RowMapping:
    query = (
        select(fr, ag.c.name.label("agent"))
        .join(ag, ag.c.id == fr.c.agent_id)
        .where(fr.c.id == reservation_id, fr.c.project_id == project_id)
    )
    row = (await session.execute(query)).mappings().first()
    if row is None:
        raise NotFoundError(
            f"File reservation {reservation_id} not found in this project.",
            hint="Check the id against the project's active reservations.",
            data={"file_reservation_id": reservation_id},
        )
    return row


async def _holder(session: ReadTransaction, agent_id: int) -> RowMapping:
    return (await session.execute(select(ag).where(ag.c.id == agent_id))).mappings().one()


def _already_released(row: RowMapping) -> dict[str, Any]:
    return {"released": 0, "released_at": iso(row["released_ts"]), "already_released": True}


# The reservation as clients see it (one shape for the tools, the resources and the archive).
reservation_view = reservation_dict


def _released_view(row: RowMapping, verdict: staleness.Staleness, released: datetime) -> dict[str, Any]:
    view = reservation_dict(row)
    view["released_ts"] = iso(released)
    view["stale_reasons"] = verdict.reasons
    evidence = {
        "last_agent_activity_ts": verdict.last_agent_activity,
        "last_mail_activity_ts": verdict.last_mail_activity,
        "last_git_activity_ts": verdict.last_git_activity,
        "last_filesystem_activity_ts": verdict.last_filesystem_activity,
    }
    view.update({key: iso(value) for key, value in evidence.items() if value is not None})
    return view


def _refuse_unless_stale(row: RowMapping, verdict: staleness.Staleness) -> None:
    if not verdict.stale:
        raise ReservationActiveError(
            f"Reservation {row['id']} on {row['path_pattern']!r} is held by {row['agent']}, who may still be "
            f"working on it ({', '.join(verdict.reasons)}); nothing was released.",
            data={"file_reservation_id": row["id"], "stale_reasons": verdict.reasons},
        )


@dataclass(frozen=True)
class HolderNotice:
    """The mail a holder is owed when another agent releases its stale lease."""

    project_key: str
    sender: str
    recipient: str
    subject: str
    body_md: str
    thread_id: str


@dataclass(frozen=True)
class StaleRelease:
    """What a force release did (the tool's result), and the notice owed to the holder (None when none is)."""

    result: dict[str, Any]
    notice: HolderNotice | None = None

    @property
    def released_now(self) -> bool:
        """True when this call released the lease (not when it was already released or had expired)."""
        return "reservation" in self.result


async def release_stale(project_key: str, agent_name: str, file_reservation_id: int, note: str = "") -> StaleRelease:
    """Release another agent's reservation when its holder is provably stale; say what the holder should be told."""
    note_text = _check_force_args(file_reservation_id, note)

    async def read(session: ReadTransaction) -> tuple[Row, Row, RowMapping, staleness.AgentActivity | None]:
        project, actor = await _writable_holder(session, project_key, agent_name)
        row = await _reservation_with_holder(session, project["id"], file_reservation_id)
        if row["released_ts"] is not None:
            return project, actor, row, None
        return project, actor, row, await staleness.agent_activity(session, await _holder(session, row["agent_id"]))

    project, actor, row, activity = await run_read(read)
    if activity is None:
        return StaleRelease(_already_released(row))
    now = utcnow()
    own = row["agent_id"] == actor["id"]
    workspace = staleness.WorkspaceActivity()
    if row["expires_ts"] > now and not own:
        _refuse_unless_stale(row, staleness.judge(activity, None, now))  # cheap checks before any scan
        workspace = await asyncio.to_thread(
            staleness.workspace_activity, project["human_key"], row["path_pattern"], now
        )

    async def unit(session: WriteTransaction) -> tuple[RowMapping, datetime, bool, staleness.Staleness | None]:
        row = await _reservation_with_holder(session, project["id"], file_reservation_id)
        if row["released_ts"] is not None:
            return row, utcnow(), False, None
        now = utcnow()
        expired = row["expires_ts"] <= now
        if expired or own:
            reason = "expired" if expired else "released_by_holder"
            verdict = staleness.Staleness(True, [reason], None, None, None, None)
        else:
            activity = await staleness.agent_activity(session, await _holder(session, row["agent_id"]))
            verdict = staleness.judge(activity, workspace, now)
            _refuse_unless_stale(row, verdict)
        await session.execute(update(fr).where(fr.c.id == row["id"]).values(released_ts=now))
        await archive.enqueue(session, project["id"], "reservation", row["id"])
        await _touch(session, project["id"], actor, now)
        return row, now, expired, verdict

    row, now, expired, released = await run_write(unit)
    if released is None:
        return StaleRelease(_already_released(row))
    verdict = released
    archive.wake_writer()
    if expired:
        return StaleRelease({"released": 0, "released_at": iso(now), "already_released": True, "expired": True})
    result = {"released": 1, "released_at": iso(now), "reservation": _released_view(row, verdict, now)}
    return StaleRelease(result, None if own else _holder_notice(project, actor, row, verdict, note_text))


def _holder_notice(project: Row, actor: Row, row: RowMapping, verdict: staleness.Staleness, note: str) -> HolderNotice:
    body = staleness.release_notice(
        holder=row["agent"],
        actor=actor["name"],
        reservation_id=row["id"],
        pattern=row["path_pattern"],
        project_key=project["human_key"],
        verdict=verdict,
        note=note,
    )
    return HolderNotice(
        project_key=project["human_key"],
        sender=actor["name"],
        recipient=row["agent"],
        subject=f"[file-reservations] Released stale lease on {row['path_pattern']}",
        body_md=body,
        thread_id=f"file-reservation-{row['id']}",
    )


__all__ = [
    "MAX_PATHS",
    "HolderNotice",
    "StaleRelease",
    "check_reserve_request",
    "list_active_reservations",
    "release_reservations",
    "release_stale",
    "renew_reservations",
    "reserve_paths",
]
