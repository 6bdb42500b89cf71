"""Helpers for the browser tests: MCP tool calls over HTTP, the seeded mailbox, route checks, page problems."""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

import db_kit
from wait_kit import wait_until

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
TOKEN = "browser-test-token-3f9c1a7e"
PROJECT = "/work/web-demo"
JSON_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
# A word that appears in exactly one seeded body, for the search test.
SEARCH_WORD = "flamingo"
# Report CSP violations to the console, where the page fixture collects them. Installed by Playwright
# through the DevTools protocol, so the page's own policy (no inline script) does not apply to it.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (event) => {
  console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || "inline"}`);
});
"""


class ToolCallFailed(AssertionError):
    """An MCP tool call over HTTP came back as an error."""


@dataclass
class McpCaller:
    """Calls MCP tools of a running server with plain JSON-RPC ``tools/call`` requests."""

    base: str
    token: str

    def call(self, tool: str, **arguments: Any) -> Any:
        """Call ``tool`` and return its structured result; raise :class:`ToolCallFailed` on an error."""
        body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
        headers = {**JSON_HEADERS, "Authorization": f"Bearer {self.token}"}
        response = httpx.post(f"{self.base}/mcp/", json=body, headers=headers, timeout=30)
        if response.status_code != 200:
            raise ToolCallFailed(f"{tool}: HTTP {response.status_code}: {response.text[:500]}")
        document = response.json()
        if "error" in document:
            raise ToolCallFailed(f"{tool}: {json.dumps(document['error'])[:500]}")
        result = document["result"]
        if result.get("isError"):
            raise ToolCallFailed(f"{tool}: {' '.join(part.get('text', '') for part in result.get('content', []))}")
        structured = result.get("structuredContent")
        if isinstance(structured, dict) and set(structured) == {"result"}:
            return structured["result"]
        return structured

    def get(self, path: str, **params: Any) -> httpx.Response:
        """GET a path of the server with the bearer token (no browser; no redirects followed)."""
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.get(f"{self.base}{path}", params=params, headers=headers, timeout=30)


@dataclass
class Agent:
    """A seeded agent and its registration token."""

    name: str
    token: str


@dataclass
class Mailbox:
    """What the session seeded: the project, its agents, and the messages by key (oldest first)."""

    slug: str
    agents: dict[str, Agent]
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    thread_id: str = ""


def create_agent(mcp: McpCaller, task: str) -> Agent:
    """Create one agent with a fresh name in the demo project."""
    created = mcp.call(
        "create_agent_identity", project_key=PROJECT, program="browser-test", model="m", task_description=task
    )
    return Agent(created["name"], created["registration_token"])


def send(mcp: McpCaller, sender: Agent, to: list[Agent], subject: str, body: str, **extra: Any) -> dict[str, Any]:
    """Send one message as ``sender``; return its payload (id, subject, thread_id, ...)."""
    result = mcp.call(
        "send_message",
        project_key=PROJECT,
        sender_name=sender.name,
        sender_token=sender.token,
        to=[agent.name for agent in to],
        subject=subject,
        body_md=body,
        **extra,
    )
    return dict(result["deliveries"][0]["payload"])


def fetch_inbox(mcp: McpCaller, agent: Agent, limit: int = 50) -> list[dict[str, Any]]:
    """Return ``agent``'s inbox as the MCP ``fetch_inbox`` tool shows it (newest first)."""
    items = mcp.call(
        "fetch_inbox", project_key=PROJECT, agent_name=agent.name, registration_token=agent.token, limit=limit
    )
    return list(items or [])


def seed_mailbox(mcp: McpCaller) -> Mailbox:
    """Create the demo project, three agents, a thread, a few messages and two reservations."""
    project = mcp.call("ensure_project", human_key=PROJECT)
    agents = {
        "lead": create_agent(mcp, "Plans the schema migration"),
        "dev": create_agent(mcp, "Writes the migration"),
        "ops": create_agent(mcp, "Deploys the service"),
    }
    lead, dev, ops = agents["lead"], agents["dev"], agents["ops"]
    box = Mailbox(slug=project["slug"], agents=agents)
    box.messages["plan"] = send(
        mcp,
        lead,
        [dev],
        "Schema migration plan",
        "Moving **users** to the new table; please review `db/schema.py` before Friday.",
        importance="high",
    )
    box.thread_id = str(box.messages["plan"].get("thread_id") or box.messages["plan"]["id"])
    reply = mcp.call(
        "reply_message",
        project_key=PROJECT,
        message_id=box.messages["plan"]["id"],
        sender_name=dev.name,
        sender_token=dev.token,
        body_md="Reviewed: the index on `users.email` must be built concurrently.",
    )
    box.messages["reply"] = dict(reply["deliveries"][0]["payload"])
    box.messages["deploy"] = send(
        mcp, ops, [lead, dev], "Deploy window on Thursday", f"The {SEARCH_WORD} release goes out at 14:00 UTC."
    )
    box.messages["review"] = send(
        mcp,
        dev,
        [lead],
        "Review request: parser fixes",
        "Three small fixes in the lexer; tests included.",
        ack_required=True,
    )
    leases = (
        (dev, ["src/db/**"], True, "writing the migration"),
        (ops, ["deploy/*.yaml"], True, "release manifests"),
        (lead, ["docs/**"], False, "updating the guide"),
        (ops, ["docs/runbook.md"], False, "release notes"),  # overlaps the lead's shared lease
    )
    for agent, paths, exclusive, reason in leases:
        granted = mcp.call(
            "file_reservation_paths",
            project_key=PROJECT,
            agent_name=agent.name,
            registration_token=agent.token,
            paths=paths,
            ttl_seconds=3600,
            exclusive=exclusive,
            reason=reason,
        )
        assert len(granted["granted"]) == len(paths), granted
    return box


def archive_pending(database_url: str) -> int:
    """Return how many changes still wait for the archive writer."""
    return db_kit.pending_outbox(url=database_url)


def wait_for_archive(database_url: str, timeout: float = 20.0) -> None:
    """Wait (bounded) until the archive writer has committed every queued change to Git."""
    wait_until(
        lambda: archive_pending(database_url) == 0, timeout, interval=0.05, message="archive writer did not drain"
    )


def _pattern(template: str) -> str:
    return re.sub(r"\{[^}]*\}", "{}", template.rstrip("/") or "/")


def web_routes() -> set[str]:
    """Return the path templates (under ``/mail``, parameters normalised to ``{}``) the web UI serves now."""
    try:
        pages = importlib.import_module("mcp_agent_mail.web.pages")
    except ImportError:
        return set()
    found: set[str] = set()
    for info in pkgutil.iter_modules(pages.__path__):
        module = importlib.import_module(f"{pages.__name__}.{info.name}")
        for route in getattr(module, "routes", []):
            path = getattr(route, "path", None)
            if isinstance(path, str):
                found.add(_pattern(path))
    return found


def require_route(template: str, owner: str) -> None:
    """Skip the calling test, with a reason, while the web UI has no route for ``template`` (e.g. "/projects/{p}")."""
    if _pattern(template) not in web_routes():
        pytest.skip(f"the web UI has no route {template} yet ({owner} builds it)")
