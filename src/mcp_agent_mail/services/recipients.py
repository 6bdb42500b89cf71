"""Recipients: turning the names in to/cc/bcc into agents of the project, once each."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Literal, NoReturn

from sqlalchemy import RowMapping, select
from sqlalchemy.ext.asyncio import AsyncSession

from mcp_agent_mail.db import schema
from mcp_agent_mail.errors import (
    AgentRetiredError,
    ConfigurationError,
    InvalidArgumentError,
    NotFoundError,
)
from mcp_agent_mail.services.names import looks_like_placeholder, name_key

Kind = Literal["to", "cc", "bcc"]
KINDS: tuple[Kind, ...] = ("to", "cc", "bcc")
MAX_RECIPIENTS = 500

_PROGRAMS = frozenset({
    "claude-code", "claude", "codex-cli", "codex", "cursor", "windsurf", "cline", "aider", "copilot",
    "github-copilot", "gemini-cli", "gemini", "opencode", "vscode", "neovim", "vim", "emacs", "zed", "continue",
})
_MODEL_MARKERS = (
    "gpt-", "gpt4", "gpt3", "claude-", "opus", "sonnet", "haiku", "gemini-", "llama", "mistral", "o1-", "o3-",
)
_BROADCAST = frozenset({"all", "*", "everyone", "broadcast", "@all", "@everyone"})


@dataclass
class Recipients:
    """Resolved recipients: each agent once, under its strongest kind (to > cc > bcc)."""

    agents: dict[int, RowMapping] = field(default_factory=dict)
    kinds: dict[int, Kind] = field(default_factory=dict)

    def names(self, kind: Kind) -> list[str]:
        """Return the names delivered under ``kind``, in the order given."""
        return [self.agents[i]["name"] for i, k in self.kinds.items() if k == kind]

    def rows(self, message_id: int) -> list[dict[str, object]]:
        """Return the recipient rows to insert for a message."""
        return [{"message_id": message_id, "agent_id": i, "kind": k} for i, k in self.kinds.items()]


def clean_lists(to: list[str] | None, cc: list[str] | None, bcc: list[str] | None) -> dict[Kind, list[str]]:
    """Validate the raw recipient lists (non-empty strings, no placeholders) and require at least one name."""
    lists: dict[Kind, list[str]] = {}
    total = 0
    for kind, values in zip(KINDS, (to, cc, bcc), strict=True):
        cleaned: list[str] = []
        for index, value in enumerate(values or []):
            text = value.strip() if isinstance(value, str) else ""
            if not text:
                raise InvalidArgumentError(
                    f"{kind}[{index}] is empty.", hint="Every recipient must be an agent name such as GreenCastle."
                )
            if looks_like_placeholder(text):
                raise ConfigurationError(f"{kind}[{index}] {text!r} is a placeholder.")
            cleaned.append(text)
        lists[kind] = cleaned
        total += len(cleaned)
    if total == 0:
        raise InvalidArgumentError(
            "The message has no recipients.",
            hint="Put at least one agent name in to (or cc/bcc); list agents with the agents resource or whois.",
        )
    if total > MAX_RECIPIENTS:
        raise InvalidArgumentError(f"Too many recipients ({total}); at most {MAX_RECIPIENTS} are allowed.")
    return lists


def _mistake(name: str) -> str | None:
    lowered = name.lower()
    if lowered in _BROADCAST:
        return f"{name!r} is not an agent: broadcast is not supported, list the recipients by name"
    if lowered in _PROGRAMS:
        return f"{name!r} is a program name, not an agent name"
    if any(marker in lowered for marker in _MODEL_MARKERS):
        return f"{name!r} looks like a model name, not an agent name"
    if lowered.startswith("project:") or ("@" in name and not name.startswith("@")):
        return f"{name!r} addresses another project; only agents of this project can be addressed"
    return None


async def resolve(session: AsyncSession, project: RowMapping, lists: dict[Kind, list[str]]) -> Recipients:
    """Resolve every name at once; raise NOT_FOUND for all unknown names, AGENT_RETIRED for retired ones."""
    keys = {name: name_key(name) for names in lists.values() for name in names}
    a = schema.agents
    rows = (
        await session.execute(
            select(a).where(a.c.project_id == project["id"], a.c.name_key.in_(set(keys.values())))
        )
    ).mappings().all()
    by_key = {row["name_key"]: row for row in rows}
    unknown = [name for name, key in keys.items() if key not in by_key]
    if unknown:
        await _raise_unknown(session, project, unknown)
    resolved = Recipients()
    for kind in KINDS:  # strongest kind first, so a later duplicate keeps it
        for name in lists[kind]:
            row = by_key[keys[name]]
            if row["id"] not in resolved.kinds:
                resolved.agents[row["id"]] = row
                resolved.kinds[row["id"]] = kind
    retired = [row["name"] for row in resolved.agents.values() if row["retired_at"] is not None]
    if retired:
        raise AgentRetiredError(
            f"Recipient(s) retired: {', '.join(retired)}.",
            hint="Remove them from the recipients or ask for them to be unretired.",
            data={"retired": retired},
        )
    return resolved


async def _raise_unknown(session: AsyncSession, project: RowMapping, unknown: list[str]) -> NoReturn:
    a = schema.agents
    existing = list((await session.execute(select(a.c.name).where(a.c.project_id == project["id"]))).scalars())
    parts: list[str] = []
    suggestions: dict[str, list[str]] = {}
    by_lower = {n.lower(): n for n in existing}
    for name in unknown:
        close = [by_lower[c] for c in difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.4)]
        suggestions[name] = close
        mistake = _mistake(name)
        if mistake:
            parts.append(mistake + ".")
        elif close:
            parts.append(f"For {name!r}, did you mean {', '.join(close)}?")
    if not parts:
        if existing:
            parts.append(f"Agents in this project: {', '.join(sorted(existing)[:10])}.")
        else:
            parts.append("The project has no agents yet; register them first.")
    hint = " ".join(parts)
    raise NotFoundError(
        f"Unknown recipient(s) in project {project['slug']!r}: {', '.join(unknown)}.",
        hint=hint,
        data={"unknown": unknown, "suggestions": suggestions},
    )
