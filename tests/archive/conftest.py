"""Fixtures for archive tests: seed real rows (plus outbox entries) and inspect the real Git repo."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from dulwich.objects import Commit
from dulwich.repo import Repo
from sqlalchemy import delete, update

from mcp_agent_mail.config import Settings, get_settings
from mcp_agent_mail.db import schema, sync_write_connection

BASE_TIME = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


class Seed:
    """Insert rows the way services do: the change and its outbox entry in one transaction."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.clock = BASE_TIME

    def _tick(self) -> datetime:
        self.clock += timedelta(seconds=1, microseconds=1)
        return self.clock

    def _outbox(self, conn: Any, project_id: int, kind: str, ref: int) -> None:
        conn.execute(
            schema.archive_outbox.insert().values(project_id=project_id, kind=kind, ref=str(ref), created_ts=self.clock)
        )

    def enqueue(self, project_id: int, kind: str, ref: int) -> None:
        """Queue one outbox row on its own."""
        with sync_write_connection(self.settings) as conn:
            self._outbox(conn, project_id, kind, ref)

    def project(self, human_key: str = "/work/demo-repo") -> int:
        """Create a project (slug derived from the path)."""
        slug = "-".join(part for part in human_key.lower().replace("_", "-").split("/") if part) or "project"
        with sync_write_connection(self.settings) as conn:
            pid = conn.execute(
                schema.projects.insert().values(slug=slug, human_key=human_key, created_at=self._tick())
            ).inserted_primary_key[0]
            self._outbox(conn, pid, "project", pid)
        return int(pid)

    def agent(self, project_id: int, name: str, **extra: Any) -> int:
        """Create an agent with a token hash (which must never reach the archive)."""
        now = self._tick()
        with sync_write_connection(self.settings) as conn:
            aid = conn.execute(
                schema.agents.insert().values(
                    project_id=project_id,
                    name=name,
                    name_key=name.lower(),
                    program=extra.get("program", "claude-code"),
                    model=extra.get("model", "opus"),
                    task_description=extra.get("task_description", "testing"),
                    inception_ts=now,
                    last_active_ts=now,
                    attachments_policy="auto",
                    contact_policy="auto",
                    registration_token_hash="f" * 64,
                )
            ).inserted_primary_key[0]
            self._outbox(conn, project_id, "agent", aid)
        return int(aid)

    def message(
        self,
        project_id: int,
        sender_id: int,
        subject: str,
        body: str = "Hello there.",
        *,
        to: tuple[int, ...] = (),
        cc: tuple[int, ...] = (),
        bcc: tuple[int, ...] = (),
        thread_id: str | None = None,
    ) -> int:
        """Create a message with its recipients."""
        with sync_write_connection(self.settings) as conn:
            mid = conn.execute(
                schema.messages.insert().values(
                    project_id=project_id,
                    sender_id=sender_id,
                    thread_id=thread_id,
                    subject=subject,
                    body_md=body,
                    importance="high",
                    ack_required=True,
                    created_ts=self._tick(),
                    attachments=[],
                )
            ).inserted_primary_key[0]
            rows = [
                {"message_id": mid, "agent_id": aid, "kind": kind}
                for kind, ids in (("to", to), ("cc", cc), ("bcc", bcc))
                for aid in ids
            ]
            if rows:
                conn.execute(schema.message_recipients.insert(), rows)
            self._outbox(conn, project_id, "message", mid)
        return int(mid)

    def receipt(self, project_id: int, message_id: int, agent_id: int, *, ack: bool = False) -> datetime:
        """Mark a message read (and acknowledged) by one recipient."""
        now = self._tick()
        values: dict[str, Any] = {"read_ts": now}
        if ack:
            values["ack_ts"] = now
        mr = schema.message_recipients
        with sync_write_connection(self.settings) as conn:
            conn.execute(update(mr).where(mr.c.message_id == message_id, mr.c.agent_id == agent_id).values(**values))
            self._outbox(conn, project_id, "receipt", message_id)
        return now

    def reservation(self, project_id: int, agent_id: int, pattern: str, *, exclusive: bool = True) -> int:
        """Grant a file reservation for one hour."""
        now = self._tick()
        with sync_write_connection(self.settings) as conn:
            rid = conn.execute(
                schema.file_reservations.insert().values(
                    project_id=project_id,
                    agent_id=agent_id,
                    path_pattern=pattern,
                    exclusive=exclusive,
                    reason="editing",
                    created_ts=now,
                    expires_ts=now + timedelta(hours=1),
                )
            ).inserted_primary_key[0]
            self._outbox(conn, project_id, "reservation", rid)
        return int(rid)

    def delete_message(self, project_id: int, message_id: int) -> None:
        """Hard-delete a message and queue its removal from the archive."""
        with sync_write_connection(self.settings) as conn:
            conn.execute(delete(schema.message_recipients).where(schema.message_recipients.c.message_id == message_id))
            conn.execute(delete(schema.messages).where(schema.messages.c.id == message_id))
            self._outbox(conn, project_id, "message", message_id)


class ArchiveView:
    """Read the archive repository the way a human or auditor would."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def repo(self) -> Repo:
        """Open the repository (caller closes)."""
        return Repo(str(self.root))

    def commits(self) -> list[Commit]:
        """Return every commit reachable from HEAD, newest first."""
        repo = self.repo()
        try:
            return [entry.commit for entry in repo.get_walker()]
        finally:
            repo.close()

    def subjects(self) -> list[str]:
        """Return the commit subject lines, newest first."""
        return [c.message.decode().split("\n", 1)[0] for c in self.commits()]

    def files(self, prefix: str = "") -> dict[str, bytes]:
        """Return work-tree files (outside .git) under ``prefix``, keyed by repo-relative path."""
        base = self.root / prefix if prefix else self.root
        found = {}
        for path in base.rglob("*"):
            rel = path.relative_to(self.root).as_posix()
            if path.is_file() and not rel.startswith(".git/"):
                found[rel] = path.read_bytes()
        return found

    def git(self, *args: str) -> str:
        """Run the git CLI in the archive (tests only) and return stdout."""
        result = subprocess.run(
            ["git", "-C", str(self.root), *args], capture_output=True, text=True, check=True, timeout=60
        )
        return result.stdout

    def assert_clean(self) -> None:
        """Assert that ``git status`` shows nothing to commit and nothing untracked."""
        assert self.git("status", "--porcelain", "--untracked-files=all") == ""


@pytest.fixture
def settings(isolated_env: dict[str, Path]) -> Settings:
    """Settings pointing at the test's own database and archive."""
    return get_settings()


@pytest.fixture
def seed(settings: Settings) -> Seed:
    """Row factory that also queues archive work."""
    return Seed(settings)


@pytest.fixture
def archive(settings: Settings) -> ArchiveView:
    """The test's archive repository."""
    return ArchiveView(Path(settings.storage.root))
