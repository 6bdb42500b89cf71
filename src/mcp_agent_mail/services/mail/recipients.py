"""Recipients: turning the addresses in to/cc/bcc into agents, once each, in this or another project."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal, NoReturn, cast

from sqlalchemy import RowMapping, bindparam, select

from mcp_agent_mail.db import ReadTransaction, schema
from mcp_agent_mail.errors import (
    AgentMailError,
    AgentRetiredError,
    ConfigurationError,
    InvalidArgumentError,
    NotFoundError,
    ProjectArchivedError,
)
from mcp_agent_mail.services.identity.names import looks_like_placeholder, name_key
from mcp_agent_mail.services.identity.project_agent import BY_PATH, BY_SLUG, lookup_keys
from mcp_agent_mail.services.identity.resolve import resolve_project

Kind = Literal["to", "cc", "bcc"]
KINDS: tuple[Kind, ...] = ("to", "cc", "bcc")
MAX_RECIPIENTS = 500

_PROGRAMS = frozenset(
    {
        "claude-code",
        "claude",
        "codex-cli",
        "codex",
        "cursor",
        "windsurf",
        "cline",
        "aider",
        "copilot",
        "github-copilot",
        "gemini-cli",
        "gemini",
        "opencode",
        "vscode",
        "neovim",
        "vim",
        "emacs",
        "zed",
        "continue",
    }
)
_MODEL_MARKERS = (
    "gpt-",
    "gpt4",
    "gpt3",
    "claude-",
    "opus",
    "sonnet",
    "haiku",
    "gemini-",
    "llama",
    "mistral",
    "o1-",
    "o3-",
)
_BROADCAST = frozenset({"all", "*", "everyone", "broadcast", "@all", "@everyone"})

_ag, _ln = schema.agents, schema.agent_links
_AGENTS_BY_KEY = select(_ag).where(
    _ag.c.project_id == bindparam("project_id"),
    _ag.c.name_key.in_(bindparam("keys", expanding=True)),
)
_LINK_PREFIX = "link__"
# The same agents, each with the sender's link to it (at most one: the pair is unique), if any.
_AGENTS_AND_LINKS_BY_KEY = (
    select(*_ag.c, *(column.label(_LINK_PREFIX + column.name) for column in _ln.c))
    .select_from(_ag.outerjoin(_ln, (_ln.c.a_agent_id == bindparam("sender_id")) & (_ln.c.b_agent_id == _ag.c.id)))
    .where(
        _ag.c.project_id == bindparam("project_id"),
        _ag.c.name_key.in_(bindparam("keys", expanding=True)),
    )
)


_pj, _sender = schema.projects, schema.agents.alias("sender")
_PROJECT_PREFIX = "project__"
# The project, the agents of it named by ``keys`` (the sender among them) and the sender's link to
# each: what a send to agents of its own project reads before it stores anything, in one statement.
_HOME_FROM = (
    _pj.join(_ag, (_ag.c.project_id == _pj.c.id) & _ag.c.name_key.in_(bindparam("keys", expanding=True)))
    .outerjoin(_sender, (_sender.c.project_id == _pj.c.id) & (_sender.c.name_key == bindparam("sender_key")))
    .outerjoin(_ln, (_ln.c.a_agent_id == _sender.c.id) & (_ln.c.b_agent_id == _ag.c.id))
)
_HOME_COLUMNS = (
    *(column.label(_PROJECT_PREFIX + column.name) for column in _pj.c),
    *_ag.c,
    *(column.label(_LINK_PREFIX + column.name) for column in _ln.c),
)
_HOME_BY_PATH = select(*_HOME_COLUMNS).select_from(_HOME_FROM).where(BY_PATH)
_HOME_BY_SLUG = select(*_HOME_COLUMNS).select_from(_HOME_FROM).where(BY_SLUG)


@dataclass(frozen=True)
class Address:
    """A parsed recipient: an agent name and, for another project, that project's slug or path."""

    raw: str
    name: str
    project: str | None = None


def parse_address(raw: str) -> Address:
    """Split ``Name@<project>`` or ``project:<project>#Name`` into its parts; a bare name stays local."""
    text = raw.strip()
    if text.lower().startswith("project:") and "#" in text:
        project, _, name = text[len("project:") :].rpartition("#")
        if project.strip() and name.strip():
            return Address(raw, name.strip(), project.strip())
    name, sep, project = text.partition("@")
    if sep and name.strip() and project.strip():
        return Address(raw, name.strip(), project.strip())
    return Address(raw, text)


@dataclass
class Recipients:
    """Resolved recipients: each agent once, under its strongest kind (to > cc > bcc)."""

    home_project_id: int = 0
    agents: dict[int, RowMapping] = field(default_factory=dict)
    kinds: dict[int, Kind] = field(default_factory=dict)
    slugs: dict[int, str] = field(default_factory=dict)
    links: dict[int, RowMapping] | None = None
    """The sender's contact links to these agents, by agent id, when :func:`resolve` read them too."""

    def add(self, row: RowMapping, kind: Kind, slug: str | None = None) -> None:
        """Add an agent unless it is already there (the first, stronger kind wins)."""
        if row["id"] in self.kinds:
            return
        self.agents[row["id"]] = row
        self.kinds[row["id"]] = kind
        if slug is not None:
            self.slugs[row["project_id"]] = slug

    def label(self, row: RowMapping) -> str:
        """Return ``Name`` for an agent of the sending project, ``Name@slug`` for another project's."""
        if row["project_id"] == self.home_project_id:
            return str(row["name"])
        return f"{row['name']}@{self.slugs.get(row['project_id'], row['project_id'])}"

    def names(self, kind: Kind) -> list[str]:
        """Return the labels delivered under ``kind``, in the order given."""
        return [self.label(self.agents[i]) for i, k in self.kinds.items() if k == kind]

    def rows(self, message_id: int) -> list[dict[str, object]]:
        """Return the recipient rows to insert for a message."""
        return [{"message_id": message_id, "agent_id": i, "kind": k} for i, k in self.kinds.items()]


def clean_lists(
    to: list[str] | None, cc: list[str] | None, bcc: list[str] | None, *, allow_empty: bool = False
) -> dict[Kind, list[str]]:
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
    if total == 0 and not allow_empty:
        raise InvalidArgumentError(
            "The message has no recipients.",
            hint="Put at least one agent name in to (or cc/bcc), or pass broadcast=true to write to the project.",
        )
    if total > MAX_RECIPIENTS:
        raise InvalidArgumentError(f"Too many recipients ({total}); at most {MAX_RECIPIENTS} are allowed.")
    return lists


def _mistake(name: str) -> str | None:
    lowered = name.lower()
    if lowered in _BROADCAST:
        return f"{name!r} is not an agent: pass broadcast=true to write to every agent of the project"
    if lowered in _PROGRAMS:
        return f"{name!r} is a program name, not an agent name"
    if any(marker in lowered for marker in _MODEL_MARKERS):
        return f"{name!r} looks like a model name, not an agent name"
    return None


async def _project_of(session: ReadTransaction, key: str, cache: dict[str, RowMapping | None]) -> RowMapping | None:
    if key not in cache:
        try:
            cache[key] = await resolve_project(session, key)
        except AgentMailError:
            cache[key] = None
    return cache[key]


async def resolve(
    session: ReadTransaction, project: RowMapping, lists: dict[Kind, list[str]], *, sender_id: int | None = None
) -> Recipients:
    """Resolve every address; raise NOT_FOUND for all unknown ones, AGENT_RETIRED for retired ones.

    A bare name is looked up in ``project`` only; another project's agent must be addressed
    explicitly as ``Name@<slug or path>`` or ``project:<slug or path>#Name``. With ``sender_id``
    the same statements also read the sender's contact links to the recipients (``links``).
    """
    projects: dict[str, RowMapping | None] = {}
    wanted: dict[str, tuple[RowMapping | None, str]] = {}
    for names in lists.values():
        for raw in names:
            address = parse_address(raw)
            if address.project is None:
                target: RowMapping | None = project
            else:
                target = await _project_of(session, address.project, projects)
            wanted[raw] = (target, name_key(address.name))
    by_key: dict[tuple[int, str], RowMapping] = {}
    links: dict[int, RowMapping] = {}
    for project_id in {t["id"] for t, _ in wanted.values() if t is not None}:
        keys = sorted({k for t, k in wanted.values() if t is not None and t["id"] == project_id})
        if sender_id is None:
            rows = await session.execute(_AGENTS_BY_KEY, {"project_id": project_id, "keys": keys})
            by_key.update({(row["project_id"], row["name_key"]): row for row in rows.mappings()})
            continue
        found = await session.execute(
            _AGENTS_AND_LINKS_BY_KEY, {"project_id": project_id, "keys": keys, "sender_id": sender_id}
        )
        for agent, link in _split_links(found.mappings()):
            by_key[(agent["project_id"], agent["name_key"])] = agent
            if link is not None:
                links[agent["id"]] = link
    unknown = [raw for raw, (t, k) in wanted.items() if t is None or (t["id"], k) not in by_key]
    if unknown:
        await _raise_unknown(session, project, unknown, projects)
    resolved = Recipients(home_project_id=project["id"], links=None if sender_id is None else links)
    for kind in KINDS:  # strongest kind first, so a later duplicate keeps it
        for raw in lists[kind]:
            target, key = wanted[raw]
            assert target is not None
            resolved.add(by_key[(target["id"], key)], kind, target["slug"])
    check_deliverable(resolved)
    return resolved


@dataclass(frozen=True)
class HomeRows:
    """A send's project, its sender, the project's agents it names (by name key) and the sender's links to them."""

    project: RowMapping
    sender: RowMapping
    agents: dict[str, RowMapping]
    links: dict[int, RowMapping]


async def read_home(
    session: ReadTransaction, project_key: str, sender_name: str, lists: dict[Kind, list[str]]
) -> HomeRows | None:
    """Read the project, the sender, the recipients and the sender's links to them in one statement.

    Only for recipients addressed by bare name (agents of the sender's project). Returns None when
    an address names another project, or the project or sender is not found: the separate lookups
    then give their coded errors. A recipient that is not found is simply absent from ``agents``.
    """
    if (lookup := lookup_keys(project_key, sender_name)) is None:
        return None
    by_path, params, sender_key = lookup
    keys = {sender_key}
    for names in lists.values():
        for address in map(parse_address, names):
            if address.project is not None:
                return None
            keys.add(name_key(address.name))
    found = await session.execute(
        _HOME_BY_PATH if by_path else _HOME_BY_SLUG, {**params, "sender_key": sender_key, "keys": sorted(keys)}
    )
    rows = list(found.mappings())
    if len({row[_PROJECT_PREFIX + "id"] for row in rows}) != 1:
        return None  # no such project or sender (or a key naming two projects): the full lookups decide
    project = cast(RowMapping, {column.name: rows[0][_PROJECT_PREFIX + column.name] for column in _pj.c})
    agents: dict[str, RowMapping] = {}
    links: dict[int, RowMapping] = {}
    for agent, link in _split_links(rows):
        agents[agent["name_key"]] = agent
        if link is not None:
            links[agent["id"]] = link
    sender = agents.get(sender_key)
    if sender is None:
        return None
    return HomeRows(project, sender, agents, links)


async def resolve_home(session: ReadTransaction, home: HomeRows, lists: dict[Kind, list[str]]) -> Recipients:
    """Resolve bare-name addresses from the rows :func:`read_home` read, with :func:`resolve`'s errors."""
    wanted = {raw: name_key(parse_address(raw).name) for names in lists.values() for raw in names}
    unknown = [raw for raw, key in wanted.items() if key not in home.agents]
    if unknown:
        await _raise_unknown(session, home.project, unknown, {})
    resolved = Recipients(home_project_id=home.project["id"], links=home.links)
    for kind in KINDS:  # strongest kind first, so a later duplicate keeps it
        for raw in lists[kind]:
            resolved.add(home.agents[wanted[raw]], kind, home.project["slug"])
    check_deliverable(resolved)
    return resolved


def _split_links(rows: Iterable[RowMapping]) -> Iterator[tuple[RowMapping, RowMapping | None]]:
    """Split each joined row into the agent's row and the sender's link to it (None without one)."""
    for row in rows:
        agent = {column.name: row[column.name] for column in _ag.c}
        link = None
        if row[_LINK_PREFIX + "id"] is not None:
            link = {column.name: row[_LINK_PREFIX + column.name] for column in _ln.c}
        yield cast(RowMapping, agent), cast(RowMapping | None, link)


def check_deliverable(recipients: Recipients) -> None:
    """Raise AGENT_RETIRED for retired recipients and PROJECT_ARCHIVED for archived foreign projects."""
    retired = [recipients.label(row) for row in recipients.agents.values() if row["retired_at"] is not None]
    if retired:
        raise AgentRetiredError(
            f"Recipient(s) retired: {', '.join(retired)}.",
            hint="Remove them from the recipients or ask for them to be unretired.",
            data={"retired": retired},
        )


async def check_projects_writable(session: ReadTransaction, recipients: Recipients) -> None:
    """Raise PROJECT_ARCHIVED when a recipient belongs to another, archived project."""
    foreign = {row["project_id"] for row in recipients.agents.values()} - {recipients.home_project_id}
    if not foreign:
        return
    p = schema.projects
    rows = await session.execute(select(p.c.slug).where(p.c.id.in_(foreign), p.c.archived_at.is_not(None)))
    archived = list(rows.scalars())
    if archived:
        raise ProjectArchivedError(
            f"Project(s) {', '.join(archived)} are archived and receive no mail.",
            hint="Ask for the project to be unarchived, or address agents elsewhere.",
        )


async def _raise_unknown(
    session: ReadTransaction, project: RowMapping, unknown: list[str], projects: dict[str, RowMapping | None]
) -> NoReturn:
    a = schema.agents
    existing = list((await session.execute(select(a.c.name).where(a.c.project_id == project["id"]))).scalars())
    parts: list[str] = []
    suggestions: dict[str, list[str]] = {}
    by_lower = {n.lower(): n for n in existing}
    for raw in unknown:
        address = parse_address(raw)
        if address.project is not None:
            target = projects.get(address.project)
            if target is None:
                parts.append(f"Project {address.project!r} of {raw!r} does not exist.")
            else:
                parts.append(f"No agent {address.name!r} in project {target['slug']!r}.")
            continue
        close = [by_lower[c] for c in difflib.get_close_matches(raw.lower(), list(by_lower), n=3, cutoff=0.4)]
        suggestions[raw] = close
        mistake = _mistake(raw)
        if mistake:
            parts.append(mistake + ".")
        elif close:
            parts.append(f"For {raw!r}, did you mean {', '.join(close)}?")
    if not parts:
        if existing:
            parts.append(f"Agents in this project: {', '.join(sorted(existing)[:10])}.")
        else:
            parts.append("The project has no agents yet; register them first.")
    parts.append("Address another project's agent as Name@<project slug or path>.")
    raise NotFoundError(
        f"Unknown recipient(s) in project {project['slug']!r}: {', '.join(unknown)}.",
        hint=" ".join(parts),
        data={"unknown": unknown, "suggestions": suggestions},
    )
