"""The restore journal: a restore that a crash interrupts is finished (or undone) by the next process.

Before a restore renames anything it writes ``<database>.restore-journal``: the
renames that set the current data aside (database, ``-wal``, ``-shm``, storage
root), the renames that put the staged restore point in place, the staging
folders, and the direction (``forward``; ``back`` once an error made it undo
itself). Every step can be replayed whether or not it already happened, so
replaying the journal to its end and deleting it always leaves either the
previous mailbox or the restored one, never neither.

The restoring process holds the ``flock`` of its staging folder until the
journal is gone, so another process can tell a restore that is running from one
whose process died: only the second is replayed, by the next process that opens
the mailbox (a server checks for a journal when it registers, before its archive
writer starts; the database engine checks before it opens the file; ``archive
save`` and ``doctor check`` check first thing). The journal needs nothing but the
file system, so it sits with the database: the engine that opens the file and the
recovery services that write journals both use it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp_agent_mail.errors import ArchiveError, UnavailableError
from mcp_agent_mail.fsutil import LockMode, flock_until, fsync_dir
from mcp_agent_mail.timeutil import iso, utcnow

logger = logging.getLogger(__name__)

JOURNAL_SUFFIX = ".restore-journal"
FORWARD, BACK = "forward", "back"
# Test hook: a step name here makes this process SIGKILL itself right after that step.
CRASH_ENV = "MCP_AGENT_MAIL_TEST_CRASH_AT"
_FORMAT = 1
_POLL_S = 0.05


def crash_for_tests(step: str) -> None:
    """Test hook: SIGKILL this process at ``step`` when MCP_AGENT_MAIL_TEST_CRASH_AT names it."""
    if os.environ.get(CRASH_ENV) == step:
        os.kill(os.getpid(), signal.SIGKILL)


def journal_path(db_path: Path) -> Path:
    """Return where the restore journal of the database ``db_path`` lives."""
    return Path(f"{db_path}{JOURNAL_SUFFIX}")


@dataclass
class Step:
    """One rename of a restore: ``source`` becomes ``target``."""

    label: str
    source: Path
    target: Path

    def to_dict(self) -> dict[str, str]:
        """Return the JSON form."""
        return {"label": self.label, "from": str(self.source), "to": str(self.target)}


@dataclass
class Journal:
    """Everything needed to finish or undo one restore."""

    db_path: Path
    restore_point: str
    aside: list[Step]
    place: list[Step]
    stages: list[Path]
    direction: str = FORWARD
    started_at: str = field(default_factory=lambda: iso(utcnow()) or "")
    pid: int = field(default_factory=os.getpid)

    @property
    def path(self) -> Path:
        """Where this journal is written."""
        return journal_path(self.db_path)

    def _encode(self) -> bytes:
        return json.dumps(
            {
                "format": _FORMAT,
                "database": str(self.db_path),
                "archive": self.restore_point,
                "started_at": self.started_at,
                "pid": self.pid,
                "direction": self.direction,
                "aside": [s.to_dict() for s in self.aside],
                "place": [s.to_dict() for s in self.place],
                "stages": [str(p) for p in self.stages],
            },
            indent=2,
        ).encode("utf-8")

    def _write_temp(self) -> Path:
        temp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        with open(temp, "wb") as handle:
            handle.write(self._encode())
            handle.flush()
            os.fsync(handle.fileno())
        return temp

    def create(self) -> None:
        """Write the journal; refuse if another restore's journal is there."""
        temp = self._write_temp()
        try:
            os.link(temp, self.path)
        except FileExistsError as exc:
            raise UnavailableError(
                f"Another restore of this mailbox is under way (its journal is {self.path}).",
                hint="Wait for it to finish, or run `mcp-agent-mail doctor check` to finish an interrupted one.",
            ) from exc
        finally:
            temp.unlink(missing_ok=True)
        fsync_dir(self.path.parent)

    def save(self) -> None:
        """Replace the journal on disk with this one (atomic)."""
        os.replace(self._write_temp(), self.path)
        fsync_dir(self.path.parent)

    def remove(self) -> None:
        """Delete the journal: the restore is complete (or completely undone)."""
        self.path.unlink(missing_ok=True)
        fsync_dir(self.path.parent)


def _unreadable(path: Path, reason: str) -> ArchiveError:
    return ArchiveError(
        f"The restore journal {path} cannot be used: {reason}.",
        hint="Check the *.backup-* entries next to the database and the storage root, put the ones you want back "
        "by hand, then delete the journal.",
    )


def _steps(path: Path, raw: Any) -> list[Step]:
    if not isinstance(raw, list):
        raise _unreadable(path, "a list of steps is missing")
    steps = []
    for item in raw:
        if not (isinstance(item, dict) and all(isinstance(item.get(k), str) for k in ("label", "from", "to"))):
            raise _unreadable(path, "a step is malformed")
        source, target = Path(item["from"]), Path(item["to"])
        if not (source.is_absolute() and target.is_absolute()):
            raise _unreadable(path, "a step names a relative path")
        steps.append(Step(item["label"], source, target))
    return steps


def load_journal(db_path: Path) -> Journal | None:
    """Read the restore journal of ``db_path`` (None when there is none)."""
    path = journal_path(db_path)
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise _unreadable(path, str(exc)) from exc
    if not isinstance(data, dict) or data.get("format") != _FORMAT or data.get("direction") not in (FORWARD, BACK):
        raise _unreadable(path, "it is not a journal this version wrote")
    aside, place = _steps(path, data.get("aside")), _steps(path, data.get("place"))
    if any(s.source.parent != s.target.parent for s in aside):
        raise _unreadable(path, "a backup step leaves its folder")
    stages = data.get("stages")
    if not isinstance(stages, list) or not stages or not all(isinstance(s, str) for s in stages):
        raise _unreadable(path, "the staging folders are missing")
    stage_paths = [Path(s) for s in stages]
    if any(not any(s.source.is_relative_to(stage) for stage in stage_paths) for s in place):
        raise _unreadable(path, "a restored item lies outside the staging folders")
    return Journal(
        db_path,
        str(data.get("archive", "")),
        aside,
        place,
        stage_paths,
        data["direction"],
        str(data.get("started_at", "")),
        int(data.get("pid") or 0),
    )


# ---------------------------------------------------------------------------- replayable steps


def _set_aside(step: Step) -> None:
    if os.path.lexists(step.target) or not os.path.lexists(step.source):
        return  # already moved, or nothing was there (a -wal that went away)
    os.rename(step.source, step.target)
    crash_for_tests(f"aside:{step.label}")


def _is_bare_skeleton(path: Path) -> bool:
    """Tell whether ``path`` is a folder holding no data: only folders and empty files.

    The archive writer takes its lock (an empty file under ``.git``) before it opens the
    database, so a process that starts after a crash can leave exactly this where the
    storage root was set aside.
    """
    if path.is_symlink() or not path.is_dir():
        return False
    for entry in path.rglob("*"):
        if entry.is_symlink() or not (entry.is_dir() or (entry.is_file() and entry.stat().st_size == 0)):
            return False
    return True


def _clear_skeleton(path: Path, replacement: Path) -> None:
    if replacement.is_dir() and _is_bare_skeleton(path):
        shutil.rmtree(path)


def _place(step: Step) -> None:
    staged, live = step.source, step.target
    if not os.path.lexists(staged):
        if os.path.lexists(live):
            return  # already placed
        raise ArchiveError(f"The restored {step.label} is missing from {staged}.")
    _clear_skeleton(live, staged)
    if os.path.lexists(live):
        if staged.is_file() and live.is_file() and os.path.samefile(staged, live):
            staged.unlink()  # linked before a crash; only the staged name is left to drop
            crash_for_tests(f"placed:{step.label}")
            return
        raise ArchiveError(f"Something appeared at {live} during the restore; the restore was not placed there.")
    if staged.is_dir():
        os.rename(staged, live)
    else:
        os.link(staged, live)  # never replaces a file that appeared meanwhile
        crash_for_tests(f"linked:{step.label}")
        staged.unlink()
    crash_for_tests(f"placed:{step.label}")


def _unplace(step: Step) -> None:
    staged, live = step.source, step.target
    if os.path.lexists(staged):
        if os.path.lexists(live) and staged.is_file() and os.path.samefile(staged, live):
            live.unlink()
            crash_for_tests(f"unplaced:{step.label}")
        return
    if os.path.lexists(live):
        os.rename(live, staged)
        crash_for_tests(f"unplaced:{step.label}")


def _put_back(step: Step) -> None:
    original, backup = step.source, step.target
    if not os.path.lexists(backup):
        return
    _clear_skeleton(original, backup)
    if os.path.lexists(original):
        raise ArchiveError(f"Both {original} and its backup {backup} exist; the backup was not moved back.")
    os.rename(backup, original)
    crash_for_tests(f"back:{step.label}")


def run_forward(journal: Journal) -> None:
    """Set the current data aside and put the restore point in place (each step replayable)."""
    for step in journal.aside:
        _set_aside(step)
    for step in journal.place:
        _place(step)
    for directory in {s.target.parent for s in journal.aside + journal.place}:
        fsync_dir(directory)


def run_back(journal: Journal) -> None:
    """Take the restore point out and move the previous data back (each step replayable)."""
    for step in reversed(journal.place):
        _unplace(step)
    for step in reversed(journal.aside):
        _put_back(step)
    for directory in {s.target.parent for s in journal.aside + journal.place}:
        fsync_dir(directory)


def _remove_stages(journal: Journal) -> None:
    for stage in journal.stages:
        shutil.rmtree(stage, ignore_errors=True)


def replay(journal: Journal) -> str:
    """Finish ``journal`` in its direction (undo it when going forward fails); delete it; say what was done."""
    what = f"the restore of {Path(journal.restore_point).name or 'a restore point'} started at {journal.started_at}"
    if journal.direction == FORWARD:
        try:
            run_forward(journal)
        except (OSError, ArchiveError) as exc:
            logger.warning("restore: could not finish %s (%s); undoing it", what, exc)
            journal.direction = BACK
            journal.save()
        else:
            journal.remove()
            _remove_stages(journal)
            backups = ", ".join(str(s.target) for s in journal.aside) or "none"
            return f"Finished {what}, which had been interrupted (previous data kept as: {backups})."
    try:
        run_back(journal)
    except (OSError, ArchiveError) as exc:
        raise ArchiveError(
            f"An interrupted restore could be neither finished nor undone: {exc}",
            hint=f"The journal {journal.path} lists every rename; fix the cause it names and run the command "
            "again, or put the *.backup-* entries back by hand and delete the journal.",
        ) from exc
    journal.remove()
    _remove_stages(journal)
    return f"Undid {what}, which had been interrupted; the mailbox is as it was before."


@contextlib.contextmanager
def _stage_lock(stage: Path, db_path: Path, wait_seconds: float) -> Iterator[bool]:
    """Hold the staging folder's lock (True), or yield False once the journal is gone; raise while it stays held."""
    try:
        fd = os.open(stage, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except FileNotFoundError:
        yield True  # the folder is gone, so no process is using it
        return
    try:
        busy = UnavailableError(
            "A restore of this mailbox is in progress.",
            hint="Wait for `mcp-agent-mail archive restore` to finish, then try again.",
        )
        deadline = time.monotonic() + max(0.0, wait_seconds)

        def journal_gone() -> bool:
            return not os.path.lexists(journal_path(db_path))

        yield flock_until(
            fd, LockMode.EXCLUSIVE, deadline, pause=_POLL_S, max_pause=_POLL_S, give_up=journal_gone, busy=busy
        )
    finally:
        os.close(fd)


def finish_interrupted_restore(db_path: Path, *, wait_seconds: float = 30.0) -> str | None:
    """Finish or undo a restore whose process died; return what was done (None when nothing was pending)."""
    journal = load_journal(db_path)
    if journal is None:
        return None
    with _stage_lock(journal.stages[0], db_path, wait_seconds) as held:
        if not held:
            return None
        journal = load_journal(db_path)  # the restorer may have finished while we waited
        if journal is None:
            return None
        outcome = replay(journal)
    logger.warning("restore: %s", outcome)
    return outcome


def pending_stages(db_path: Path) -> list[Path] | None:
    """Return the staging folders an unfinished restore journal still needs (None if its journal is unreadable)."""
    try:
        journal = load_journal(db_path)
    except ArchiveError:
        return None
    return list(journal.stages) if journal else []


__all__ = [
    "BACK",
    "CRASH_ENV",
    "FORWARD",
    "JOURNAL_SUFFIX",
    "Journal",
    "Step",
    "crash_for_tests",
    "finish_interrupted_restore",
    "journal_path",
    "load_journal",
    "pending_stages",
    "replay",
    "run_back",
    "run_forward",
]
