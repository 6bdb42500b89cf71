"""Every setting as people read it: its environment name, the value in effect (secrets masked) and its source.

Sources follow the settings' precedence (:mod:`mcp_agent_mail.config`): the process environment, then
``./.env``, then ``<data dir>/.env``, then the default. A value is secret when its name says so (token,
secret, password, key) or its field is declared hidden; a URL keeps its scheme, host and path and loses
its password and any secret-looking query parameter. Reading changes nothing.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from mcp_agent_mail import config

MASK = "********"
_SECRET_NAME = re.compile(r"token|secret|password|passwd|key|credential", re.IGNORECASE)
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
# Values the server derives when the variable is unset: shown as the default in effect.
_DERIVED = {"DATABASE_URL", "STORAGE_ROOT", "AGENT_CAPABILITIES_FILE"}


def is_secret_name(name: str) -> bool:
    """Tell whether a setting's name marks its value as secret."""
    return bool(_SECRET_NAME.search(name))


def mask_url(value: str) -> str:
    """Return a URL with its password and secret-looking query parameters replaced by the mask."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return MASK
    netloc, query = parts.netloc, parts.query
    if "@" in netloc:
        credentials, host = netloc.rsplit("@", 1)
        if ":" in credentials:
            netloc = f"{credentials.split(':', 1)[0]}:{MASK}@{host}"
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        if any(is_secret_name(key) for key, _ in pairs):
            query = urlencode([(k, MASK if is_secret_name(k) else v) for k, v in pairs], safe="*")
    if (netloc, query) == (parts.netloc, parts.query):
        return value
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def mask(name: str, value: Any, *, hidden: bool = False) -> Any:
    """Return ``value`` as it may be shown: the mask for a secret that is set, URLs without their secrets."""
    if isinstance(value, str) and value and (hidden or is_secret_name(name)):
        return MASK
    if isinstance(value, str) and _URL.match(value):
        return mask_url(value)
    return value


def _env_file_values(path: Path) -> dict[str, str]:
    from dotenv import dotenv_values

    if not path.is_file():
        return {}
    try:
        values = dotenv_values(path, encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return {}
    return {key.upper(): value for key, value in values.items() if value is not None}


def _effective(settings: config.Settings, name: str) -> str:
    if name == "DATABASE_URL":
        return settings.database.url
    if name == "STORAGE_ROOT":
        return settings.storage.root
    return settings.agent_capabilities_file


def settings_report() -> list[dict[str, Any]]:
    """Return one entry per setting: ``name``, ``value`` (masked), ``source``, ``secret`` and ``default``."""
    env = {key.upper(): value for key, value in os.environ.items()}
    files = [(f".env ({path})", _env_file_values(path)) for path in reversed(config.env_files())]
    loaded = config.read_environment()
    settings = config.get_settings()
    entries = [
        {
            "name": "MCP_AGENT_MAIL_HOME",
            "value": str(config.data_dir()),
            "source": "env" if env.get("MCP_AGENT_MAIL_HOME", "").strip() else "default",
            "secret": False,
            "default": str(Path.home() / ".mcp_agent_mail"),
        }
    ]
    for field_name, info in type(loaded).model_fields.items():
        name = str(info.alias or field_name).upper()
        hidden = info.repr is False
        secret = hidden or is_secret_name(name)
        in_file = next((label for label, values in files if name in values), "default")
        source = "env" if name in env else in_file
        value = getattr(loaded, field_name)
        if name in _DERIVED and (not isinstance(value, str) or not value.strip()):
            value = _effective(settings, name)
        entries.append(
            {
                "name": name,
                "value": mask(name, value, hidden=hidden),
                "source": source,
                "secret": secret,
                "default": mask(name, info.default, hidden=hidden),
            }
        )
    return entries


__all__ = ["MASK", "is_secret_name", "mask", "mask_url", "settings_report"]
