"""The package's public surface: the names users import from ``mcp_agent_mail``, and a cheap import."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version

import pytest

import mcp_agent_mail
from mcp_agent_mail import errors

RUN_TIMEOUT_S = 60

# What the package tells users to import: the server, the HTTP app, the settings and the error tree.
DOCUMENTED_ENTRY_POINTS = {
    "__version__",
    "build_mcp_server",
    "build_http_app",
    "Settings",
    "get_settings",
    "clear_settings_cache",
    "AgentMailError",
}

# Modules `import mcp_agent_mail` must not load: the Git guard hook and quick CLI commands pay
# for every one of them (importlib.metadata alone costs tens of milliseconds).
HEAVY_MODULES = ("fastmcp", "mcp", "starlette", "sqlalchemy", "pydantic", "typer", "dulwich", "importlib.metadata")


def _loaded_after(code: str) -> dict[str, bool]:
    """Run ``code`` in a fresh interpreter; report which of HEAVY_MODULES it left in ``sys.modules``."""
    script = f"import json, sys\n{code}\nprint(json.dumps({{m: m in sys.modules for m in {HEAVY_MODULES!r}}}))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_all_names_the_documented_entry_points():
    assert set(mcp_agent_mail.__all__) >= DOCUMENTED_ENTRY_POINTS


def test_every_public_error_class_is_exported():
    assert set(errors.__all__) <= set(mcp_agent_mail.__all__)
    for name in errors.__all__:
        assert getattr(mcp_agent_mail, name) is getattr(errors, name)


@pytest.mark.parametrize("name", sorted(set(mcp_agent_mail.__all__) - {"__version__"}))
def test_every_public_name_resolves_and_is_documented(name: str):
    obj = getattr(mcp_agent_mail, name)
    doc = obj.__doc__
    assert isinstance(doc, str)
    assert doc.strip(), f"{name} has an empty docstring"
    assert name in dir(mcp_agent_mail)


def test_public_names_are_the_defining_objects():
    from mcp_agent_mail.app import build_mcp_server
    from mcp_agent_mail.config import Settings, clear_settings_cache, get_settings
    from mcp_agent_mail.http import build_http_app

    assert mcp_agent_mail.build_mcp_server is build_mcp_server
    assert mcp_agent_mail.build_http_app is build_http_app
    assert mcp_agent_mail.Settings is Settings
    assert mcp_agent_mail.get_settings is get_settings
    assert mcp_agent_mail.clear_settings_cache is clear_settings_cache


def test_version_is_the_installed_distribution_version():
    assert mcp_agent_mail.__version__ == version("mcp-agent-mail")


def test_an_unknown_name_is_an_attribute_error():
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = mcp_agent_mail.no_such_name
    assert not hasattr(mcp_agent_mail, "no_such_name")


def test_importing_the_package_loads_no_framework():
    loaded = _loaded_after("import mcp_agent_mail\nmcp_agent_mail.AgentMailError")
    assert [name for name, present in loaded.items() if present] == []


def test_a_public_name_loads_its_module_on_first_use():
    loaded = _loaded_after("from mcp_agent_mail import build_mcp_server, __version__")
    assert loaded["fastmcp"]
    assert loaded["importlib.metadata"]
