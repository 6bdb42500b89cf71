"""``mcp-agent-mail mail status``: one line when an agent has mail waiting, for hooks that run on every prompt.

Public entry point::

    run(argv: list[str]) -> int

``argv`` is what follows ``mail status`` on the command line (``--project P``,
``--agent A``, ``--json``); the return value is the exit status, always 0, so a
client's hook never fails because of it. ``mcp_agent_mail.cli.main`` calls it
before Typer loads, and the Typer ``mail status`` command delegates to it.

What it prints: nothing when nothing waits; else one line per agent, e.g.
``3 unread (1 urgent, 1 awaiting your ack) from BlueLake, RedFox — call fetch_inbox``.
With ``--hook EVENT`` (what ``integrate`` installs), the same lines as the
``hookSpecificOutput.additionalContext`` JSON that Claude Code, Codex CLI and
Gemini CLI add to the agent's context. With ``--json``, one object always (``error`` set when the mailbox could not be
read). Any error is one line on stderr. It reads the mailbox read-only and loads
no MCP, web, ORM or settings code.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, NoReturn

from mcp_agent_mail.services.unread.counts import Status, StatusError, Waiting, read_status
from mcp_agent_mail.services.unread.locate import database_url, locate_database
from mcp_agent_mail.wording import counted

AGENT_VARIABLES = ("AGENT_MAIL_AGENT", "AGENT_NAME")
"""Environment variables naming the agent when ``--agent`` is not given, first found wins."""
MAX_AGENTS = 5
MAX_SENDERS = 3
_PREFIX = "mcp-agent-mail mail status"


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _UsageError(message)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=_PREFIX,
        description="Say in one line what mail waits for an agent (nothing when nothing does). Always exits 0.",
    )
    parser.add_argument(
        "--project",
        metavar="P",
        help="The project: its absolute path (a sub-directory works too) or slug (default: the current directory).",
    )
    parser.add_argument(
        "--agent",
        metavar="A",
        help="The agent (default: $AGENT_MAIL_AGENT or $AGENT_NAME; without one, every agent of the project).",
    )
    parser.add_argument("--json", action="store_true", help="Print one JSON object, also when nothing waits.")
    parser.add_argument(
        "--hook",
        metavar="EVENT",
        help="Answer as a client hook of EVENT (e.g. UserPromptSubmit): the lines as hookSpecificOutput."
        "additionalContext in one JSON object, nothing when nothing waits.",
    )
    return parser


def hook_output(event: str, text: list[str]) -> dict[str, Any]:
    """Return what a hook of ``event`` prints so that its client adds ``text`` to the agent's context."""
    return {"hookSpecificOutput": {"hookEventName": event, "additionalContext": "\n".join(text)}}


def _senders(names: tuple[str, ...]) -> str:
    shown = ", ".join(names[:MAX_SENDERS])
    return f"{shown} +{len(names) - MAX_SENDERS} more" if len(names) > MAX_SENDERS else shown


def describe(waiting: Waiting) -> str:
    """Return the one-line summary of what ``waiting.agent`` has waiting."""
    earlier_acks = waiting.awaiting_ack - waiting.unread_ack
    if waiting.unread:
        details = [f"{waiting.urgent} urgent"] if waiting.urgent else []
        if waiting.unread_ack:
            details.append(f"{waiting.unread_ack} awaiting your ack")
        text = f"{waiting.unread} unread" + (f" ({', '.join(details)})" if details else "")
        text += f" from {_senders(waiting.senders)} — call fetch_inbox"
        if earlier_acks:
            text += f"; {counted(earlier_acks, 'read message')} still awaiting your ack — call acknowledge_message"
        return text
    return (
        f"{counted(earlier_acks, 'message')} awaiting your ack from {_senders(waiting.senders)}"
        " — call acknowledge_message"
    )


def lines(status: Status, agent: str | None) -> list[str]:
    """Return the lines to print: one for the agent, or one per agent with mail (at most five, then a count)."""
    if agent is not None:
        return [describe(w) for w in status.agents]
    shown = [f"{w.agent}: {describe(w)}" for w in status.agents[:MAX_AGENTS]]
    hidden = len(status.agents) - MAX_AGENTS
    if hidden > 0:
        shown.append(f"+{counted(hidden, 'more agent')} with mail waiting")
    return shown


def _as_json(status: Status | None, agent: str | None, text: list[str], error: str | None) -> dict[str, Any]:
    agents = status.agents if status is not None else []
    return {
        "project": status.project_slug if status else None,
        "project_key": status.project_key if status else None,
        "agent": agent,
        "unread": sum(w.unread for w in agents),
        "urgent": sum(w.urgent for w in agents),
        "awaiting_ack": sum(w.awaiting_ack for w in agents),
        "agents": [
            {
                "agent": w.agent,
                "unread": w.unread,
                "urgent": w.urgent,
                "unread_awaiting_ack": w.unread_ack,
                "awaiting_ack": w.awaiting_ack,
                "senders": list(w.senders),
            }
            for w in agents
        ],
        "lines": text,
        "note": status.note if status else None,
        "error": error,
    }


def _agent(given: str | None) -> str | None:
    for candidate in (given, *(os.environ.get(name) for name in AGENT_VARIABLES)):
        if candidate is not None and candidate.strip():
            return candidate.strip()
    return None


def run(argv: list[str]) -> int:
    """Print what mail waits (see the module's doc) and return the exit status, always 0."""
    want_json = "--json" in argv
    agent: str | None = None
    status: Status | None = None
    try:
        options = _parser().parse_args(argv)
        agent = _agent(options.agent)
        project = (options.project or "").strip() or os.getcwd()
        database = locate_database(database_url())
        status = read_status(database, project, agent)
        text = lines(status, agent)
    except (StatusError, _UsageError, ValueError, OSError) as exc:
        return _fail(str(exc), want_json, status, agent)
    except Exception as exc:  # a hook must never fail: report anything else the same way
        return _fail(f"{type(exc).__name__}: {exc}", want_json, status, agent)
    if want_json:
        print(json.dumps(_as_json(status, agent, text, None), ensure_ascii=False))
    elif options.hook and text:
        print(json.dumps(hook_output(options.hook, [f"mcp-agent-mail: {line}" for line in text]), ensure_ascii=False))
    elif text:
        print("\n".join(text))
    return 0


def _fail(reason: str, want_json: bool, status: Status | None, agent: str | None) -> int:
    reason = " ".join(reason.split())
    print(f"{_PREFIX}: {reason}", file=sys.stderr)
    if want_json:
        print(json.dumps(_as_json(status, agent, [], reason), ensure_ascii=False))
    return 0


__all__ = ["AGENT_VARIABLES", "describe", "hook_output", "lines", "run"]
