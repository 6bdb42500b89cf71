"""``integrate``: add this server to every installed coding agent's MCP configuration, or take it out again."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mcp_agent_mail.errors import AgentMailError, InvalidArgumentError
from mcp_agent_mail.services.integrate import json_edit, toml_edit
from mcp_agent_mail.services.integrate.bearer import ensure_token, read_token, token_path
from mcp_agent_mail.services.integrate.clients.base import Client
from mcp_agent_mail.services.integrate.detect import detect
from mcp_agent_mail.services.integrate.entry import (
    SERVER_NAME,
    HttpServer,
    Server,
    StdioServer,
    check_command,
    check_url,
    console_script,
)
from mcp_agent_mail.services.integrate.files import (
    Ledger,
    Record,
    backup_path,
    decode,
    ensure_unchanged,
    missing_parents,
    mode_of,
    new_file_mode,
    read_bytes,
    sha256,
    target_of,
    write_atomic,
)
from mcp_agent_mail.services.integrate.hooks import SPECS, HookSpec, add_hooks, hook_command, remove_hooks
from mcp_agent_mail.services.integrate.json_edit import Edit
from mcp_agent_mail.services.integrate.machine import Machine
from mcp_agent_mail.services.integrate.registry import select

EditOf = Callable[[str | None, str], Edit]
"""Compute an edit from a file's current text (None: no file) and its displayed name."""

TOKEN_PLACEHOLDER = "<token created on a real run>"


@dataclass(frozen=True, slots=True)
class Request:
    """What to do: which clients (all when empty), where, over which transport, for real or as a preview."""

    clients: tuple[str, ...] = ()
    project: Path | None = None
    http_url: str | None = None
    dry_run: bool = False
    undo: bool = False
    command: str | None = None
    hooks: bool = True
    """Also install the reminder hook (``mail status``) in the clients that run hooks."""
    agent: str | None = None
    """The agent the reminder hook reports on (default: the client's AGENT_MAIL_AGENT, else every agent)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What happened to one client: ``added``, ``already present``, ``updated``, ``removed``, ``not present``,
    ``not found`` or ``error``; ``failed`` makes the run exit non-zero."""

    client: str
    label: str
    status: str
    path: Path | None = None
    detail: str = ""
    diff: str = ""
    failed: bool = False
    kind: str = "server"
    """``server`` (the MCP entry) or ``hook`` (the reminder hook)."""


@dataclass(slots=True)
class Report:
    """The outcome of every client, plus the bearer token's file for HTTP entries."""

    outcomes: list[Outcome]
    dry_run: bool
    undo: bool
    http_url: str | None = None
    token_file: Path | None = None
    token_created: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether any file was (or, in a dry run, would be) changed."""
        return any(o.status in ("added", "updated", "removed") for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        """0 when every client went as asked, else 1."""
        return 1 if any(o.failed for o in self.outcomes) else 0


def unified_diff(display: str, before: str | None, after: str | None) -> str:
    """Return a unified diff of one file (``None`` on a side: the file does not exist there)."""
    lines = difflib.unified_diff(
        (before or "").splitlines(keepends=True),
        (after or "").splitlines(keepends=True),
        fromfile="/dev/null" if before is None else f"a/{display}",
        tofile="/dev/null" if after is None else f"b/{display}",
    )
    out: list[str] = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _project(project: Path | None) -> Path | None:
    if project is None:
        return None
    path = project.expanduser().absolute()
    if not path.is_dir():
        raise InvalidArgumentError(
            f"--project {project} is not a directory.", hint="Pass the root folder of the code repository."
        )
    return path


def _server(request: Request, data_dir: Path, machine: Machine, report: Report) -> Server:
    if request.http_url is not None:
        url = check_url(request.http_url)
        report.http_url, report.token_file = url, token_path(data_dir)
        if request.dry_run:
            return HttpServer(url, read_token(data_dir) or TOKEN_PLACEHOLDER)
        token, report.token_created = ensure_token(data_dir)
        return HttpServer(url, token)
    command = check_command(request.command) if request.command else console_script(search_path=machine.search_path)
    return StdioServer(command, ("stdio",), {"MCP_AGENT_MAIL_HOME": str(data_dir)})


def _owner(client: Client, kind: str) -> str:
    """Return the ledger's owner of a file: the client, or ``<client>:hooks`` for a file holding only hooks."""
    return f"{client.name}:hooks" if kind == "hook" else client.name


def _upsert(client: Client, text: str | None, entry: dict[str, object], source: str) -> Edit:
    if client.syntax == "toml":
        container = client.container(None)[0]
        return toml_edit.upsert(text, container, SERVER_NAME, entry, source=source, owned_keys=client.owned_keys)
    return json_edit.upsert(
        text,
        client.container,
        SERVER_NAME,
        entry,
        source=source,
        allow_comments=client.allows_comments,
        owned_keys=client.owned_keys,
    )


def _remove(client: Client, text: str, source: str, created: tuple[str, ...]) -> Edit:
    if client.syntax == "toml":
        return toml_edit.remove(text, client.container(None)[0], SERVER_NAME, source=source, created=created)
    return json_edit.remove(
        text, client.container, SERVER_NAME, source=source, allow_comments=client.allows_comments, created=created
    )


class _Run:
    def __init__(self, request: Request, data_dir: Path, machine: Machine, project: Path | None) -> None:
        self.request = request
        self.machine = machine
        self.project = project
        self.ledger = Ledger(data_dir)

    def outcome(
        self,
        client: Client,
        status: str,
        path: Path | None = None,
        *,
        detail: str = "",
        diff: str = "",
        failed: bool = False,
        kind: str = "server",
    ) -> Outcome:
        return Outcome(client.name, client.label, status, path, detail=detail, diff=diff, failed=failed, kind=kind)

    def add(self, client: Client, path: Path, server: Server) -> Outcome:
        entry = client.entry(server)
        return self.write(
            client,
            path,
            lambda before, display: _upsert(client, before, entry, display),
            secret=isinstance(server, HttpServer),
        )

    def add_hooks(self, client: Client, spec: HookSpec, path: Path, executable: str, data_dir: Path) -> Outcome:
        project = self.project

        def command_for(event: str) -> str:
            return hook_command(executable, event, project=project, agent=self.request.agent, home=data_dir)

        def edit_of(before: str | None, display: str) -> Edit:
            return add_hooks(before, spec, command_for, source=display)

        return self.write(client, path, edit_of, kind="hook")

    def write(
        self, client: Client, path: Path, edit_of: EditOf, *, secret: bool = False, kind: str = "server"
    ) -> Outcome:
        """Apply one edit to ``path`` atomically, keeping a backup and the ledger record that makes undo exact."""
        target = target_of(path)
        display = self.machine.display(path)
        old = read_bytes(target)
        before = None if old is None else decode(old, path)
        edit = edit_of(before, display)
        if edit.status == "unchanged":
            return self.outcome(client, "already present", path, kind=kind)
        diff = unified_diff(display, before, edit.text)
        if self.request.dry_run:
            return self.outcome(client, edit.status, path, diff=diff, kind=kind)
        new = edit.text.encode("utf-8")
        record = self.ledger.get(target)
        hook = kind == "hook"
        if record is None or old is None or sha256(old) != record.written_sha256:
            if old is not None:
                write_atomic(backup_path(target), old, mode=mode_of(target, 0o600))
            record = Record(
                client=_owner(client, kind),
                created_file=old is None,
                created_dirs=[str(d) for d in missing_parents(target)] if old is None else [],
                created_keys=[] if hook else list(edit.created),
                hook_keys=list(edit.created) if hook else [],
                original_sha256=sha256(old),
            )
        elif hook:  # a file this run already wrote: Gemini CLI keeps its servers and its hooks in one file
            record.hook_keys = sorted(set(record.hook_keys) | set(edit.created))
        for folder in missing_parents(target):
            folder.mkdir()
        mode = 0o600 if secret and record.created_file else mode_of(target, new_file_mode(secret=secret))
        ensure_unchanged(target, old)
        write_atomic(target, new, mode=mode)
        record.written_sha256 = sha256(new)
        self.ledger.put(target, record)
        return self.outcome(client, edit.status, path, diff=diff, kind=kind)

    def undo_hooks(self, client: Client, spec: HookSpec, path: Path) -> Outcome:
        """Remove the reminder hook: the whole file as it was when only the hook changed it, else just its groups."""
        target = target_of(path)
        old = read_bytes(target)
        if old is None:
            return self.outcome(client, "not present", path, kind="hook")
        record = self.ledger.get(target)
        owned = record is not None and record.client == _owner(client, "hook")
        if owned:
            restored = self._restore(client, path, old, kind="hook")
            if restored is not None:
                return restored
        display = self.machine.display(path)
        before = decode(old, path)
        edit = remove_hooks(before, spec, source=display, created=tuple(record.hook_keys) if record else ())
        if edit.status == "absent":
            if owned and not self.request.dry_run:
                self.ledger.drop(target)
            return self.outcome(client, "not present", path, kind="hook")
        diff = unified_diff(display, before, edit.text)
        if self.request.dry_run:
            return self.outcome(client, "removed", path, diff=diff, kind="hook")
        mode = mode_of(target, 0o600)
        if record is None or owned:
            write_atomic(backup_path(target), old, mode=mode)
        ensure_unchanged(target, old)
        new = edit.text.encode("utf-8")
        write_atomic(target, new, mode=mode)
        if record is not None and owned:
            self.ledger.drop(target)
        elif record is not None and sha256(old) == record.written_sha256:
            # The file also holds this tool's server entry: keep the record exact so removing it restores the file.
            record.written_sha256, record.hook_keys = sha256(new), []
            self.ledger.put(target, record)
        return self.outcome(
            client, "removed", path, detail="removed its hooks; the rest is untouched", diff=diff, kind="hook"
        )

    def _restore(self, client: Client, path: Path, old: bytes, kind: str = "server") -> Outcome | None:
        """Put back the bytes from before the first change, when the file still holds exactly what was written."""
        target = target_of(path)
        record = self.ledger.get(target)
        if record is None or sha256(old) != record.written_sha256:
            return None
        if record.created_file:
            restored = None
        else:
            restored = read_bytes(backup_path(target))
            if restored is None or sha256(restored) != record.original_sha256:
                return None
        display = self.machine.display(path)
        before = decode(old, path)
        diff = unified_diff(display, before, None if restored is None else decode(restored, path))
        if self.request.dry_run:
            return self.outcome(client, "removed", path, diff=diff, kind=kind)
        ensure_unchanged(target, old)
        if restored is None:
            target.unlink()
            for folder in reversed([Path(d) for d in record.created_dirs]):
                try:
                    folder.rmdir()
                except OSError:
                    break  # not empty: something else lives there now
            detail = "deleted the file it had created"
        else:
            write_atomic(target, restored, mode=mode_of(target, 0o600))
            backup_path(target).unlink(missing_ok=True)
            detail = "restored the file as it was"
        self.ledger.drop(target)
        return self.outcome(client, "removed", path, detail=detail, diff=diff, kind=kind)

    def undo(self, client: Client, path: Path) -> Outcome:
        target = target_of(path)
        old = read_bytes(target)
        if old is None:
            return self.outcome(client, "not present", path)
        restored = self._restore(client, path, old)
        if restored is not None:
            return restored
        display = self.machine.display(path)
        before = decode(old, path)
        record = self.ledger.get(target)
        edit = _remove(client, before, display, tuple(record.created_keys) if record else ())
        if edit.status == "absent":
            if not self.request.dry_run:
                self.ledger.drop(target)
            return self.outcome(client, "not present", path)
        diff = unified_diff(display, before, edit.text)
        if self.request.dry_run:
            return self.outcome(client, "removed", path, diff=diff)
        mode = mode_of(target, 0o600)
        write_atomic(backup_path(target), old, mode=mode)
        ensure_unchanged(target, old)
        write_atomic(target, edit.text.encode("utf-8"), mode=mode)
        self.ledger.drop(target)
        return self.outcome(client, "removed", path, detail="removed its entry; the rest is untouched", diff=diff)


_SKIPPED = ("not found", "error")


def _add_hooks(run: _Run, client: Client, spec: HookSpec, server: Server, data_dir: Path) -> Outcome:
    """Install the reminder hook of ``client``; a failure is the hook's ``error`` outcome, the run goes on."""
    path = spec.file(run.machine, run.project)
    try:
        if isinstance(server, StdioServer):
            executable = server.command
        elif run.request.command:
            executable = check_command(run.request.command)
        else:
            executable = console_script(search_path=run.machine.search_path)
        return run.add_hooks(client, spec, path, executable, data_dir)
    except AgentMailError as exc:
        return run.outcome(client, "error", path, detail=exc.render(), failed=True, kind="hook")


def _undo_hooks(run: _Run, client: Client, spec: HookSpec) -> Outcome:
    """Remove the reminder hook of ``client``; a failure is the hook's ``error`` outcome, the run goes on."""
    path = spec.file(run.machine, run.project)
    try:
        return run.undo_hooks(client, spec, path)
    except AgentMailError as exc:
        return run.outcome(client, "error", path, detail=exc.render(), failed=True, kind="hook")


def integrate(request: Request, *, data_dir: Path, machine: Machine | None = None) -> Report:
    """Add (or with ``request.undo`` remove) the ``mcp-agent-mail`` entry in each selected client's configuration.

    Clients that are not installed are reported, not configured; naming one explicitly makes the
    run fail. A client whose file cannot be edited is reported with its error and the others go on.
    """
    machine = machine or Machine.current()
    project = _project(request.project)
    clients = select(request.clients)
    explicit = bool(request.clients)
    report = Report([], dry_run=request.dry_run, undo=request.undo)
    run = _Run(request, data_dir, machine, project)
    server = None if request.undo else _server(request, data_dir, machine, report)
    for client in clients:
        path = client.config_file(machine, project)
        spec = SPECS.get(client.name)
        try:
            if server is None:
                if spec is not None:
                    report.outcomes.append(_undo_hooks(run, client, spec))
                outcome = run.undo(client, path)
            else:
                presence = detect(client, machine, path if project is not None else None)
                if not presence.installed:
                    outcome = run.outcome(client, "not found", None, detail=presence.evidence, failed=explicit)
                else:
                    outcome = run.add(client, path, server)
        except AgentMailError as exc:
            outcome = run.outcome(client, "error", path, detail=exc.render(), failed=True)
        report.outcomes.append(outcome)
        if server is not None and request.hooks and spec is not None and outcome.status not in _SKIPPED:
            report.outcomes.append(_add_hooks(run, client, spec, server, data_dir))
            if spec.note and spec.note not in report.notes:
                report.notes.append(spec.note)
    if server is not None and request.hooks:
        without = [
            o.label
            for o in report.outcomes
            if o.kind == "server" and o.status not in _SKIPPED and o.client not in SPECS
        ]
        if without:
            report.notes.append(
                f"No reminder hook for {', '.join(without)}: no hook of theirs puts text in front of the agent. "
                "`mcp-agent-mail docs insert-blurbs` tells their agents in AGENTS.md to check their mail."
            )
    if project is not None and isinstance(server, HttpServer) and report.changed:
        report.notes.append("The bearer token is now in project files: keep them out of version control.")
    if project is not None:
        user_level = [
            o.label
            for o, c in zip([o for o in report.outcomes if o.kind == "server"], clients, strict=True)
            if c.project_file is None and o.status != "not found"
        ]
        if user_level and not request.undo:
            report.notes.append(f"{', '.join(user_level)}: no project-level file; the user-level file is used.")
    return report
