"""Keep a short "how to use your mail" section in a repository's agent instructions (AGENTS.md, CLAUDE.md, GEMINI.md).

The section sits between two HTML comments, so running again updates it in place
and leaves everything else in the file byte for byte; a repository with none of
the files gets an AGENTS.md. A file that only imports AGENTS.md (a line
``@AGENTS.md``) or is a link to another of them is left alone, so no agent reads
the section twice.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path

from mcp_agent_mail.errors import ConfigurationError, InvalidArgumentError
from mcp_agent_mail.services.integrate.files import decode, mode_of, new_file_mode, read_bytes, write_atomic

BEGIN = "<!-- mcp-agent-mail:begin -->"
END = "<!-- mcp-agent-mail:end -->"
DOC_FILES = ("AGENTS.md", "CLAUDE.md", "GEMINI.md")
"""The instruction files the section goes into, where they exist (AGENTS.md is created when none does)."""

SECTION = f"""{BEGIN}
## Agent mail (mcp-agent-mail)

Other coding agents may be working in this repository at the same time. Coordinate through the
`mcp-agent-mail` MCP server:

- **Start**: `ensure_project` with this repository's absolute path, then `register_agent` (or
  `create_agent_identity`). Keep your agent name and the `registration_token` you get.
- **Read your mail** when you start, between tasks and whenever you are told mail is waiting:
  `fetch_inbox`. Answer with `reply_message`; write to others with `send_message`.
- **Acknowledge** every message that asks for it (`ack_required`): `acknowledge_message`.
- **Reserve before editing**: `file_reservation_paths` with the files or globs you will change; if
  another agent holds them, mail it or wait. Release with `release_file_reservations` when done.
- **Reminders**: `mcp-agent-mail mail status --agent <your name>` prints one line when mail waits
  (`mcp-agent-mail integrate` makes Claude Code, Codex CLI and Gemini CLI show it on every prompt).
{END}
"""
"""The section, with its markers, as written with LF line endings."""


@dataclass(frozen=True, slots=True)
class DocChange:
    """What happens to one file: ``created``, ``added``, ``updated``, ``unchanged`` or ``skipped`` (with why)."""

    path: Path
    status: str
    before: str | None
    after: str | None
    reason: str = ""

    @property
    def diff(self) -> str:
        """Return the unified diff of the change (empty when nothing changes)."""
        if self.after is None or self.before == self.after:
            return ""
        lines = difflib.unified_diff(
            (self.before or "").splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            fromfile="/dev/null" if self.before is None else f"a/{self.path.name}",
            tofile=f"b/{self.path.name}",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _newline(text: str) -> str:
    return "\r\n" if "\r\n" in text else "\n"


def with_section(text: str | None, path: Path) -> str:
    """Return ``text`` with the section added at the end, or replaced where its markers already are."""
    if text is None or not text.strip():
        return SECTION
    nl = _newline(text)
    section = SECTION.replace("\n", nl)
    begins, ends = text.count(BEGIN), text.count(END)
    if begins == ends == 0:
        return text.rstrip("\r\n") + nl + nl + section
    start, end = text.find(BEGIN), text.find(END)
    if begins != 1 or ends != 1 or end < start:
        raise ConfigurationError(
            f"{path} has unmatched or repeated {BEGIN} / {END} markers.",
            hint="Leave one begin marker and one end marker (or none) in the file, then run the command again.",
        )
    stop = end + len(END)
    if text.startswith(nl, stop):
        stop += len(nl)
    return text[:start] + section + text[stop:]


def _imports_agents_md(text: str) -> bool:
    return any(line.strip() == "@AGENTS.md" for line in text.splitlines())


def plan_directory(directory: Path) -> list[DocChange]:
    """Return what inserting the section into ``directory``'s instruction files would change."""
    existing = [directory / name for name in DOC_FILES if (directory / name).is_file()]
    if not existing:
        return [DocChange(directory / "AGENTS.md", "created", None, SECTION)]
    changes: list[DocChange] = []
    seen: set[str] = set()
    agents_md = directory / "AGENTS.md"
    for path in existing:
        real = os.path.realpath(path)
        if real in seen:
            changes.append(DocChange(path, "skipped", None, None, "a link to a file already updated"))
            continue
        seen.add(real)
        raw = read_bytes(path)
        before = decode(raw or b"", path)
        if path != agents_md and agents_md in existing and _imports_agents_md(before):
            changes.append(DocChange(path, "skipped", before, None, "it imports AGENTS.md"))
            continue
        after = with_section(before, path)
        status = "unchanged" if after == before else "updated" if BEGIN in before else "added"
        changes.append(DocChange(path, status, before, after))
    return changes


def check_directories(directories: list[Path]) -> list[Path]:
    """Return the directories as absolute paths; raise INVALID_ARGUMENT (nothing written) when one is not a folder."""
    checked = []
    for directory in directories:
        path = directory.expanduser().absolute()
        if not path.is_dir():
            raise InvalidArgumentError(
                f"{directory} is not a directory; nothing was changed.",
                hint="Pass the root folders of your repositories (default: the current directory).",
            )
        checked.append(path)
    return checked


def insert_blurbs(directories: list[Path], *, dry_run: bool = False) -> list[DocChange]:
    """Add or update the mail section in each directory's instruction files (only report it when ``dry_run``)."""
    changes = [change for directory in check_directories(directories) for change in plan_directory(directory)]
    if not dry_run:
        for change in changes:
            if change.after is not None and change.after != change.before:
                mode = mode_of(change.path, new_file_mode(secret=False))
                write_atomic(change.path, change.after.encode("utf-8"), mode=mode)
    return changes


__all__ = ["BEGIN", "DOC_FILES", "END", "SECTION", "DocChange", "insert_blurbs", "plan_directory", "with_section"]
