"""The bearer token HTTP clients present: generated once, kept in the data directory readable by the user only."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from mcp_agent_mail.errors import ConfigurationError
from mcp_agent_mail.fsutil import fsync_dir

TOKEN_FILE = "http_bearer_token"


def token_path(data_dir: Path) -> Path:
    """Return where the token is kept."""
    return data_dir / TOKEN_FILE


def read_token(data_dir: Path) -> str | None:
    """Return the stored token, or None when there is none yet."""
    path = token_path(data_dir)
    try:
        token = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not token:
        raise ConfigurationError(
            f"The token file {path} is empty.", hint="Delete it and run `mcp-agent-mail integrate --http URL` again."
        )
    return token


def ensure_token(data_dir: Path) -> tuple[str, bool]:
    """Return the stored token, creating it (mode 0600) on first use; the flag says whether it was created now."""
    path = token_path(data_dir)
    existing = read_token(data_dir)
    if existing is not None:
        if stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o600)
        return existing, False
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    token = secrets.token_urlsafe(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another run created it in the meantime: use that one
        return ensure_token(data_dir)
    try:
        os.write(fd, f"{token}\n".encode())
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    os.close(fd)
    fsync_dir(data_dir)
    return token, True
