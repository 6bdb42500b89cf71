"""Resource subscriptions: ``notifications/resources/updated`` when new mail reaches a subscribed inbox.

Two protocol eras, one hub (:func:`mcp_agent_mail.services.mail.arrivals.arrivals`):

- handshake-era clients (2025 protocol versions) call ``resources/subscribe`` and
  ``resources/unsubscribe``; each connection remembers its URIs and forgets them when it
  closes. Its sessions also get ``notifications/resources/list_changed`` when a project or
  agent is added (new ``inbox/{agent}`` URIs become readable).
- 2026-07-28 clients open a ``subscriptions/listen`` stream naming the URIs; the SDK's
  :class:`~mcp.server.subscriptions.ListenHandler` serves it, fed by events published here.

Subscribable: ``resource://inbox/{agent}``, ``resource://mailbox/{agent}`` and
``resource://mailbox-with-commits/{agent}``, each with ``?project=`` (and ``agent_token=`` in
strict identity mode), exactly as they are read. The notification carries the subscribed URI.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import mcp_types
from fastmcp import FastMCP
from mcp import MCPError
from mcp.server.connection import Connection
from mcp.server.context import ServerRequestContext
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ResourcesListChanged, ResourceUpdated

from mcp_agent_mail.errors import AgentMailError, InvalidArgumentError
from mcp_agent_mail.resources._common import authorize_owner, require_project
from mcp_agent_mail.services.mail.arrivals import Arrivals, Watcher, arrivals
from mcp_agent_mail.services.mail.waiting import delivery_mark, roster_mark

logger = logging.getLogger("mcp_agent_mail.resources.subscriptions")

SUBSCRIBABLE = ("inbox", "mailbox", "mailbox-with-commits")


@dataclass(frozen=True)
class MailUri:
    """A subscribable mail resource URI, taken apart."""

    uri: str
    kind: str
    agent: str
    project: str
    agent_token: str | None


def parse_mail_uri(uri: str) -> MailUri:
    """Return the parts of ``resource://inbox/{agent}?project=...``; INVALID_ARGUMENT for anything else."""
    parts = urlsplit(uri)
    agent = unquote(parts.path.strip("/"))
    if parts.scheme != "resource" or parts.netloc not in SUBSCRIBABLE or not agent or "/" in agent:
        raise InvalidArgumentError(
            f"Only an agent's received mail can be subscribed; got {uri!r}.",
            hint="Subscribe to resource://inbox/<agent>?project=<absolute repository path or slug>.",
        )
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    project = require_project(query.get("project"), f"{parts.netloc}/{{agent}}")
    return MailUri(uri, parts.netloc, agent, project, query.get("agent_token"))


async def _watch_target(uri: str) -> tuple[int, int]:
    """Check the caller may read ``uri``; return the agent's id and its newest delivery."""
    target = parse_mail_uri(uri)
    await authorize_owner(target.project, target.agent, target.agent_token, f"the {target.kind} of {target.agent}")
    return await delivery_mark(target.project, target.agent)


class _Tasks:
    """Fire-and-forget sends, kept referenced until done."""

    def __init__(self) -> None:
        self._running: set[asyncio.Task[None]] = set()

    def start(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._running.add(task)
        task.add_done_callback(self._running.discard)


class _ConnectionSubscriptions:
    """The URIs one handshake-era connection subscribed to, and their watchers."""

    def __init__(self, hub: Arrivals, connection: Connection, tasks: _Tasks) -> None:
        self.hub = hub
        self.connection = connection
        self.tasks = tasks
        self.watchers: dict[str, Watcher] = {}
        self.pending: set[str] = set()

    def notify(self, method: str, uri: str | None = None) -> None:
        key = uri or method
        if key in self.pending:
            return  # an identical notification is already on its way
        self.pending.add(key)
        self.tasks.start(self._send(method, uri, key))

    async def _send(self, method: str, uri: str | None, key: str) -> None:
        self.pending.discard(key)
        try:
            await self.connection.outbound.notify(method, {"uri": uri} if uri is not None else None)
        except Exception as exc:  # the client went away: its connection's teardown drops the rest
            logger.debug("could not send %s: %s", method, exc)

    def roster_changed(self) -> None:
        self.notify("notifications/resources/list_changed")

    def close(self) -> None:
        for watcher in self.watchers.values():
            self.hub.remove(watcher)
        self.watchers.clear()
        self.hub.remove_roster_listener(self.roster_changed)


class Subscriptions:
    """The subscription handlers of one server."""

    def __init__(self) -> None:
        self._connections: dict[Connection, _ConnectionSubscriptions] = {}
        self._tasks = _Tasks()
        self._bus = InMemorySubscriptionBus()
        self._listen = ListenHandler(self._bus)

    async def subscribe(self, ctx: ServerRequestContext[Any, Any], params: mcp_types.SubscribeRequestParams) -> Any:
        """Serve ``resources/subscribe``."""
        uri = str(params.uri)
        connection: Connection = getattr(ctx.session, "_connection")  # noqa: B009 - the SDK keeps it private
        hub = arrivals()
        generation = hub.roster_generation()
        roster = await roster_mark() if connection not in self._connections else None
        agent_id, newest = await _coded(_watch_target(uri))
        entry = self._connections.get(connection)
        if entry is None:
            entry = self._connections[connection] = _ConnectionSubscriptions(hub, connection, self._tasks)
            connection.exit_stack.callback(self._forget, connection)
            entry.hub.add_roster_listener(entry.roster_changed, roster or await roster_mark(), generation)
        if uri not in entry.watchers:
            entry.watchers[uri] = entry.hub.add(
                agent_id, newest, lambda: entry.notify("notifications/resources/updated", uri)
            )
        return mcp_types.EmptyResult()

    async def unsubscribe(self, ctx: ServerRequestContext[Any, Any], params: mcp_types.UnsubscribeRequestParams) -> Any:
        """Serve ``resources/unsubscribe`` (an unknown URI is fine: nothing to stop)."""
        entry = self._connections.get(getattr(ctx.session, "_connection", None))  # type: ignore[arg-type]
        watcher = entry.watchers.pop(str(params.uri), None) if entry is not None else None
        if entry is not None and watcher is not None:
            entry.hub.remove(watcher)
        return mcp_types.EmptyResult()

    async def listen(
        self, ctx: ServerRequestContext[Any, Any], params: mcp_types.SubscriptionsListenRequestParams
    ) -> mcp_types.SubscriptionsListenResult:
        """Serve a ``subscriptions/listen`` stream: watch its mail URIs while the SDK's handler streams events."""
        hub = arrivals()
        wanted = params.notifications
        watchers: list[Watcher] = []
        for uri in wanted.resource_subscriptions or ():
            try:
                agent_id, newest = await _watch_target(uri)
            except AgentMailError as exc:
                logger.info("subscriptions/listen: not watching %s: %s", uri, exc.render())
                continue
            watchers.append(hub.add(agent_id, newest, self._publisher(ResourceUpdated(uri=uri))))
        roster = self._publisher(ResourcesListChanged()) if wanted.resources_list_changed else None
        if roster is not None:
            generation = hub.roster_generation()
            hub.add_roster_listener(roster, await roster_mark(), generation)
        try:
            return await self._listen(ctx, params)
        finally:
            for watcher in watchers:
                hub.remove(watcher)
            if roster is not None:
                hub.remove_roster_listener(roster)

    def _publisher(self, event: ResourceUpdated | ResourcesListChanged) -> Callable[[], None]:
        def publish() -> None:
            self._tasks.start(self._bus.publish(event))

        return publish

    def _forget(self, connection: Connection) -> None:
        entry = self._connections.pop(connection, None)
        if entry is not None:
            entry.close()


async def _coded(work: Coroutine[Any, Any, tuple[int, int]]) -> tuple[int, int]:
    """Run ``work``; a coded error becomes an MCP error whose message starts with the code."""
    try:
        return await work
    except AgentMailError as exc:
        raise MCPError(code=mcp_types.INVALID_PARAMS, message=exc.render()) from exc


def register(mcp: FastMCP) -> Subscriptions:
    """Serve subscriptions on ``mcp`` (the ``subscribe`` capability follows) and return their registry."""
    subscriptions = Subscriptions()
    server = mcp._mcp_server
    server.add_request_handler("resources/subscribe", mcp_types.SubscribeRequestParams, subscriptions.subscribe)
    server.add_request_handler("resources/unsubscribe", mcp_types.UnsubscribeRequestParams, subscriptions.unsubscribe)
    server.add_request_handler("subscriptions/listen", mcp_types.SubscriptionsListenRequestParams, subscriptions.listen)
    return subscriptions
