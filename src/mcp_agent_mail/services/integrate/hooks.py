"""Reminder hooks: have a client run ``mcp-agent-mail mail status`` when a session starts and on every prompt.

Three clients run a command at those moments and add what it prints to the
agent's context: Claude Code (``hooks`` in ``~/.claude/settings.json`` or
``<project>/.claude/settings.json``), Codex CLI (``~/.codex/hooks.json`` or
``<project>/.codex/hooks.json``; its ``notify`` program is not used: what it
prints never reaches the agent) and Gemini CLI (``hooks`` in the same
``settings.json`` as its MCP servers). All three read ``hooks.<Event>`` as a list
of groups ``{"matcher"?, "hooks": [{"type": "command", "command": ...}]}``; a
group is ours when every command in it runs ``mail status --hook``, so other
hooks are never touched and a second run changes nothing.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mcp_agent_mail.errors import ConfigurationError
from mcp_agent_mail.services.integrate import json_edit
from mcp_agent_mail.services.integrate.clients.codex import codex_home
from mcp_agent_mail.services.integrate.json_edit import Edit
from mcp_agent_mail.services.integrate.jsonc import parse
from mcp_agent_mail.services.integrate.machine import Machine

HOOKS_KEY = "hooks"
MARK = ("mail", "status", "--hook")
"""The words every command of a group this tool owns contains, in this order."""
TIMEOUT_SECONDS = 10


@dataclass(frozen=True, slots=True)
class HookSpec:
    """Where and how one client runs reminder hooks."""

    client: str
    events: tuple[str, ...]
    user_file: Callable[[Machine], Path]
    project_file: Callable[[Path], Path]
    syntax: Literal["json", "jsonc"]
    handler: Callable[[str], dict[str, Any]]
    note: str = ""

    def file(self, machine: Machine, project: Path | None) -> Path:
        """Return the file holding the hooks: the project's when one was given, else the user's."""
        return self.project_file(project) if project is not None else self.user_file(machine)


def _claude(command: str) -> dict[str, Any]:
    return {"type": "command", "command": command, "timeout": TIMEOUT_SECONDS}


def _codex(command: str) -> dict[str, Any]:
    return {"type": "command", "command": command, "timeoutSec": TIMEOUT_SECONDS}


def _gemini(command: str) -> dict[str, Any]:
    return {"name": "mcp-agent-mail", "type": "command", "command": command, "timeout": TIMEOUT_SECONDS * 1000}


SPECS: dict[str, HookSpec] = {
    spec.client: spec
    for spec in (
        HookSpec(
            client="claude-code",
            events=("SessionStart", "UserPromptSubmit"),
            user_file=lambda m: m.home / ".claude" / "settings.json",
            project_file=lambda project: project / ".claude" / "settings.json",
            syntax="json",
            handler=_claude,
        ),
        HookSpec(
            client="codex",
            events=("SessionStart", "UserPromptSubmit"),
            user_file=lambda m: codex_home(m) / "hooks.json",
            project_file=lambda project: project / ".codex" / "hooks.json",
            syntax="json",
            handler=_codex,
            note="Codex CLI runs hooks.json when its hooks feature is on (the default in recent versions; "
            "otherwise set `hooks = true` under [features] in config.toml). Its `notify` program is not used: "
            "nothing it prints reaches the agent.",
        ),
        HookSpec(
            client="gemini",
            events=("SessionStart", "BeforeAgent"),
            user_file=lambda m: m.home / ".gemini" / "settings.json",
            project_file=lambda project: project / ".gemini" / "settings.json",
            syntax="jsonc",
            handler=_gemini,
            note="Gemini CLI versions before hooks were on by default run them only when settings.json enables hooks.",
        ),
    )
}
"""The clients with reminder hooks, by client name."""


def hook_command(executable: str, event: str, *, project: Path | None, agent: str | None, home: Path) -> str:
    """Return the shell command a hook of ``event`` runs (the mailbox's data directory set explicitly)."""
    words = [executable, "mail", "status"]
    if project is not None:
        words += ["--project", str(project)]
    if agent:
        words += ["--agent", agent]
    words += ["--hook", event]
    return f"MCP_AGENT_MAIL_HOME={shlex.quote(str(home))} {shlex.join(words)}"


def _is_ours(group: Any) -> bool:
    """Tell whether a hook group was written by this tool: every command in it runs ``mail status --hook``."""
    if not isinstance(group, dict) or not isinstance(group.get("hooks"), list) or not group["hooks"]:
        return False
    for handler in group["hooks"]:
        command = handler.get("command") if isinstance(handler, dict) else None
        if not isinstance(command, str):
            return False
        words = command.split()
        if not all(word in words for word in MARK):
            return False
    return True


def _hooks_object(text: str | None, spec: HookSpec, source: str) -> dict[str, Any] | None:
    if text is None or not text.strip():
        return None
    document = parse(text, source=source, allow_comments=spec.syntax == "jsonc")
    if document.root.kind != "object":
        raise ConfigurationError(
            f"{source} does not hold a JSON object at the top.",
            hint="Fix the file (or move it aside), then run the command again; nothing was changed.",
        )
    value = document.value(document.root).get(HOOKS_KEY)
    if value is not None and not isinstance(value, dict):
        raise ConfigurationError(
            f"{source}: '{HOOKS_KEY}' is not a JSON object.",
            hint=f"Make '{HOOKS_KEY}' an object of events (or remove it), then run the command again.",
        )
    return value


def _event_list(hooks: dict[str, Any] | None, event: str, source: str) -> list[Any]:
    groups = (hooks or {}).get(event, [])
    if not isinstance(groups, list):
        raise ConfigurationError(
            f"{source}: '{HOOKS_KEY}.{event}' is not a list.",
            hint=f"Make '{HOOKS_KEY}.{event}' a list of hook groups (or remove it), then run the command again.",
        )
    return groups


def _set_event(text: str | None, spec: HookSpec, event: str, groups: list[Any], source: str) -> Edit:
    entry: Any = groups
    return json_edit.upsert(
        text,
        lambda _document: (HOOKS_KEY,),
        event,
        entry,
        source=source,
        allow_comments=spec.syntax == "jsonc",
        owned_keys=frozenset(),
    )


def add_hooks(text: str | None, spec: HookSpec, command_for: Callable[[str], str], *, source: str) -> Edit:
    """Add (or bring up to date) this tool's hook group under each of ``spec.events``; other groups stay."""
    hooks = _hooks_object(text, spec, source)
    created: tuple[str, ...] = ()
    current, changed, present = text, False, False
    for event in spec.events:
        groups = _event_list(hooks, event, source)
        present = present or any(_is_ours(group) for group in groups)
        wanted = [group for group in groups if not _is_ours(group)] + [{"hooks": [spec.handler(command_for(event))]}]
        if wanted == groups:
            continue
        edit = _set_event(current, spec, event, wanted, source)
        current, created, changed = edit.text, created or edit.created, True
    if not changed or current is None:
        return Edit(text or "", "unchanged")
    return Edit(current, "updated" if present else "added", created)


def remove_hooks(text: str, spec: HookSpec, *, source: str, created: tuple[str, ...] = ()) -> Edit:
    """Remove this tool's hook groups from every event (the ``hooks`` object too when this tool created it)."""
    hooks = _hooks_object(text, spec, source)
    if not hooks:
        return Edit(text, "absent")
    allow_comments = spec.syntax == "jsonc"
    current, removed = text, False
    for event, groups in hooks.items():
        if not isinstance(groups, list) or not any(_is_ours(group) for group in groups):
            continue
        kept = [group for group in groups if not _is_ours(group)]
        if kept:
            current = _set_event(current, spec, event, kept, source).text
        else:
            current = json_edit.remove(
                current, lambda _document: (HOOKS_KEY,), event, source=source, allow_comments=allow_comments
            ).text
        removed = True
    if not removed:
        return Edit(text, "absent")
    if HOOKS_KEY in created and _hooks_object(current, spec, source) == {}:
        current = json_edit.remove(
            current, lambda _document: (), HOOKS_KEY, source=source, allow_comments=allow_comments
        ).text
    return Edit(current, "removed")


__all__ = ["MARK", "SPECS", "HookSpec", "add_hooks", "hook_command", "remove_hooks"]
