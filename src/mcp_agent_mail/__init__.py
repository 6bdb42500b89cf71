"""mcp-agent-mail: a mail server for AI coding agents."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mcp-agent-mail")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
