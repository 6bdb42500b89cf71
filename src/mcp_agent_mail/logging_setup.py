"""Process logging: plain lines on stderr, so stdout stays free for the MCP protocol."""

from __future__ import annotations

import logging
import sys
from typing import TextIO

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# Loggers that install their own handlers; they are routed through the root handler instead.
_LIBRARY_LOGGERS = ("fastmcp", "mcp", "uvicorn", "uvicorn.error", "uvicorn.access")


def configure_logging(level: str | int = "INFO", stream: TextIO | None = None) -> logging.Handler:
    """Send every log record of the process to ``stream`` (stderr by default) at ``level``; return the handler."""
    target = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(target)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    root = logging.getLogger()
    for existing in root.handlers[:]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(_level(level))
    for name in _LIBRARY_LOGGERS:
        library_logger = logging.getLogger(name)
        for existing in library_logger.handlers[:]:
            library_logger.removeHandler(existing)
        library_logger.propagate = True
    # One line per stateless request ("Terminating session: None") is noise, not news.
    logging.getLogger("mcp.server.streamable_http").setLevel(max(root.level, logging.WARNING))
    logging.captureWarnings(True)
    return handler


def _level(level: str | int) -> int:
    if isinstance(level, int):
        return level
    value = logging.getLevelName(level.strip().upper())
    return value if isinstance(value, int) else logging.INFO


__all__ = ["LOG_FORMAT", "configure_logging"]
