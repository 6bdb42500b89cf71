"""mcp-agent-mail: a mail server for AI coding agents.

The names in ``__all__`` are the public surface: ``__version__``, the server
(``build_mcp_server``), the HTTP app (``build_http_app``), the settings
(``Settings``, ``get_settings``, ``clear_settings_cache``) and the error tree of
:mod:`mcp_agent_mail.errors`. The error classes load with the package (they are
tiny); everything else loads on first use, so ``import mcp_agent_mail`` stays
cheap for the Git guard hook and the CLI.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from mcp_agent_mail import errors as _errors
from mcp_agent_mail.errors import *  # noqa: F403 - the whole error tree is public

# Public name -> module that defines it, imported on first access. The module paths are
# strings on purpose: the package root depends on no layer above the utilities.
_LAZY: dict[str, str] = {
    "build_mcp_server": "mcp_agent_mail.app",
    "build_http_app": "mcp_agent_mail.http.app",
    "Settings": "mcp_agent_mail.config",
    "get_settings": "mcp_agent_mail.config",
    "clear_settings_cache": "mcp_agent_mail.config",
}


def _installed_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mcp-agent-mail")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0.0.0+local"


def __getattr__(name: str) -> Any:
    """Load a public name (and ``__version__``) on first access."""
    if name == "__version__":
        value: Any = _installed_version()
    elif name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    """List the module's names, including the ones loaded on first access."""
    return sorted(set(globals()) | set(__all__))


# The public surface: the version, the names loaded on first use and every class of the error tree.
_LOADED_ON_FIRST_USE = ("__version__", *_LAZY)
__all__ = [*_LOADED_ON_FIRST_USE, *_errors.__all__]
