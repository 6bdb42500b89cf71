"""Safe writes of client configuration files: atomic replace, one backup, and a ledger of what was written.

The ledger (``integrations.json`` in the data directory) remembers, per file, the
hash of the bytes before the first change and of the bytes last written. When a
file still holds exactly what was written, undoing restores the backup byte for
byte (or deletes a file that was created); otherwise only the entry is removed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import stat
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from mcp_agent_mail.errors import ConfigurationError, UnavailableError
from mcp_agent_mail.fsutil import fsync_dir

BACKUP_SUFFIX = ".mcp-agent-mail.bak"
LEDGER_FILE = "integrations.json"


def sha256(data: bytes | None) -> str | None:
    """Return the hex SHA-256 of ``data`` (None for None)."""
    return None if data is None else hashlib.sha256(data).hexdigest()


def target_of(path: Path) -> Path:
    """Return the file a write to ``path`` must replace: a symlinked config is edited where it points."""
    return Path(os.path.realpath(path)) if path.is_symlink() else path


def backup_path(path: Path) -> Path:
    """Return the backup kept next to ``path``."""
    return path.with_name(path.name + BACKUP_SUFFIX)


def read_bytes(path: Path) -> bytes | None:
    """Return the file's bytes, or None when it does not exist."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except IsADirectoryError as exc:
        raise ConfigurationError(
            f"{path} is a directory, not a configuration file.", hint="Move it aside, then run the command again."
        ) from exc


def decode(data: bytes, path: Path) -> str:
    """Return ``data`` as text; a file that is not UTF-8 is refused."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigurationError(
            f"{path} is not UTF-8 text.", hint="Save it as UTF-8 (or move it aside), then run the command again."
        ) from exc


def write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Replace ``path`` with ``data`` all at once (temporary file, fsync, rename), with permission bits ``mode``."""
    temporary = path.with_name(f".{path.name}.mcp-agent-mail-{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        try:
            os.fchmod(fd, mode)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    fsync_dir(path.parent)


def mode_of(path: Path, default: int) -> int:
    """Return the permission bits of ``path``, or ``default`` when it does not exist."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        return default


def new_file_mode(secret: bool) -> int:
    """Return the mode of a newly created config file: 0600 when it holds a token, else 0666 less the umask."""
    if secret:
        return 0o600
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def missing_parents(path: Path) -> list[Path]:
    """Return the folders above ``path`` that do not exist yet, outermost first."""
    missing: list[Path] = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        if parent.parent == parent:
            break
        parent = parent.parent
    return list(reversed(missing))


def ensure_unchanged(path: Path, expected: bytes | None) -> None:
    """Raise UnavailableError when ``path`` no longer holds ``expected`` (another program wrote it meanwhile)."""
    if read_bytes(path) != expected:
        raise UnavailableError(
            f"{path} changed while it was being edited.", hint="Run the command again; nothing was written."
        )


@dataclass(slots=True)
class Record:
    """What the ledger knows about one edited file."""

    client: str
    created_file: bool
    created_dirs: list[str] = field(default_factory=list)
    created_keys: list[str] = field(default_factory=list)
    hook_keys: list[str] = field(default_factory=list)
    """Keys the reminder hooks' edit created (``hooks``), removed with the last hook when nothing else is left."""
    original_sha256: str | None = None
    written_sha256: str | None = None


class Ledger:
    """The ``integrations.json`` file of the data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LEDGER_FILE
        self.records: dict[str, Record] = {}
        data = read_bytes(self.path)
        if data:
            try:
                raw: dict[str, Any] = json.loads(data).get("files", {})
                self.records = {key: Record(**value) for key, value in raw.items()}
            except (ValueError, TypeError, AttributeError):
                self.records = {}  # an unreadable ledger only costs byte-exact undo; entries are still removed

    def get(self, path: Path) -> Record | None:
        """Return the record of ``path``, if any."""
        return self.records.get(str(path))

    def put(self, path: Path, record: Record) -> None:
        """Store the record of ``path`` and save the ledger."""
        self.records[str(path)] = record
        self.save()

    def drop(self, path: Path) -> None:
        """Forget ``path`` and save the ledger."""
        if self.records.pop(str(path), None) is not None:
            self.save()

    def save(self) -> None:
        """Write the ledger atomically (mode 0600)."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        payload = {"files": {key: asdict(record) for key, record in sorted(self.records.items())}}
        write_atomic(self.path, (json.dumps(payload, indent=2) + "\n").encode(), mode=0o600)
