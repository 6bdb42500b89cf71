"""Which directories the server may read files from on an agent's behalf (attachments, images in bodies).

A *source root* is a directory whose files an agent may ask the server to read. A project's directory
is one when it is the top of a Git work tree (a ``.git`` directory, or the ``.git`` file of a linked
work tree or submodule), or when it lies at or under a directory listed in ``ATTACHMENT_ROOTS``.
Whatever those say, a directory is never a source root when it is, or contains, the file system root,
a system directory, the user's home directory or one of the mailbox's own directories (its data
directory, the archive under ``STORAGE_ROOT``, the directory of its SQLite database), nor when it lies
inside a system directory such as ``/etc`` or inside the mailbox's data directory or archive.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from mcp_agent_mail.config import Settings
from mcp_agent_mail.db import sqlite_path_from_url

# Never a source root themselves, nor any directory containing them.
SYSTEM_DIRS = (
    "/",
    "/Applications",
    "/Library",
    "/System",
    "/Users",
    "/bin",
    "/boot",
    "/dev",
    "/etc",
    "/home",
    "/lib",
    "/lib64",
    "/media",
    "/mnt",
    "/opt",
    "/private",
    "/proc",
    "/root",
    "/run",
    "/sbin",
    "/snap",
    "/srv",
    "/sys",
    "/tmp",
    "/usr",
    "/var",
)
# Nothing inside these is a source root either.
SYSTEM_TREES = ("/boot", "/dev", "/etc", "/proc", "/run", "/sys")
_GITFILE_MAX = 4096


def _forms(path: Path) -> set[Path]:
    """The absolute form of ``path`` and, where it differs, the form with symlinks resolved."""
    absolute = Path(os.path.abspath(path))
    try:
        return {absolute, absolute.resolve()}
    except (OSError, RuntimeError):
        return {absolute}


def _home_dirs() -> list[Path]:
    """The user's home directory as ``HOME`` names it and as the password database does."""
    found: list[Path] = []
    with contextlib.suppress(RuntimeError, KeyError):
        found.append(Path.home())
    try:
        import pwd

        found.append(Path(pwd.getpwuid(os.getuid()).pw_dir))
    except (ImportError, KeyError, AttributeError):
        pass
    return found


def protected_dirs(settings: Settings) -> list[tuple[Path, str, bool]]:
    """Return (directory, label, whole tree) for every directory a source root must not be or contain;
    with ``whole tree`` nothing inside the directory is a source root either."""
    found: list[tuple[Path, str, bool]] = []

    def add(path: Path, label: str, whole_tree: bool) -> None:
        found.extend((form, label, whole_tree) for form in _forms(path))

    for name in SYSTEM_DIRS:
        add(Path(name), "the file system root" if name == "/" else f"the system directory {name}", name in SYSTEM_TREES)
    for home in _home_dirs():
        add(home, "the home directory", False)
    add(settings.data_dir, "the mailbox's data directory (MCP_AGENT_MAIL_HOME)", True)
    add(Path(settings.storage.root), "the mailbox's archive (STORAGE_ROOT)", True)
    database = sqlite_path_from_url(settings.database.url)
    if database is not None:
        add(database.parent, "the directory of the mailbox database", False)
    return found


def is_work_tree_top(directory: Path) -> bool:
    """Tell whether ``directory`` is the top level of a Git work tree (read from disk, no ``git`` process)."""
    marker = directory / ".git"
    try:
        if marker.is_dir():
            return (marker / "HEAD").is_file()
        if not marker.is_file():
            return False
        with marker.open("rb") as handle:
            text = handle.read(_GITFILE_MAX).decode("utf-8", errors="replace").strip()
        if not text.startswith("gitdir:"):
            return False
        return (directory / text.split(":", 1)[1].strip() / "HEAD").is_file()
    except OSError:
        return False


def _under_attachment_roots(directory: Path, settings: Settings) -> bool:
    return any(
        directory.is_relative_to(form) for root in settings.storage.attachment_roots for form in _forms(Path(root))
    )


def refusal(
    directory: str | Path, settings: Settings, protected: list[tuple[Path, str, bool]] | None = None
) -> str | None:
    """Return why ``directory`` may not be a source of files for agents, or None when it may be."""
    real = Path(os.path.realpath(directory))
    guards = protected_dirs(settings) if protected is None else protected
    for guarded, label, whole_tree in sorted(guards, key=lambda guard: guard[0] != real):  # its own name first
        if guarded.is_relative_to(real):
            return f"{str(real)!r} is or contains {label}"
        if whole_tree and real.is_relative_to(guarded):
            return f"{str(real)!r} lies inside {label}"
    if is_work_tree_top(real) or _under_attachment_roots(real, settings):
        return None
    return f"{str(real)!r} is neither the top of a Git work tree nor under ATTACHMENT_ROOTS"


def enclosing_source(path: Path, settings: Settings) -> Path | None:
    """Return the nearest directory holding ``path`` that is a source root, or None."""
    protected = protected_dirs(settings)
    for folder in path.parents:
        if refusal(folder, settings, protected) is None:
            return folder
    return None


HINT = (
    "Files are read only from a project whose directory is the top of a Git work tree or lies under "
    "ATTACHMENT_ROOTS; the file system root, system directories, the home directory and the mailbox's own "
    "directories never are."
)
