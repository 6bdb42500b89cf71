"""The layers hold at run time too: what a module really loads, including through third-party code.

``lint-imports`` (scripts/check) checks the import statements; these tests import the modules in a
fresh interpreter and look at ``sys.modules``, which also catches frameworks pulled in indirectly.
"""

from __future__ import annotations

import json
import subprocess
import sys

RUN_TIMEOUT_S = 120

# Everything below the transports: services, persistence, the Git guard and the utilities.
BELOW_TRANSPORTS = ("services", "db", "archive", "guard")
UTILITIES = ("config", "errors", "timeutil", "text_guard", "logging_setup", "fsutil")
FRAMEWORKS = ("fastmcp", "mcp", "mcp_types", "starlette", "uvicorn", "typer")

_IMPORT_ALL = """
import importlib, pkgutil
for pkg in {packages!r}:
    package = importlib.import_module("mcp_agent_mail." + pkg)
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.endswith(".__main__"):
            importlib.import_module(info.name)
for name in {utilities!r}:
    importlib.import_module("mcp_agent_mail." + name)
"""


def _top_level_modules_after(code: str) -> set[str]:
    """Run ``code`` in a fresh interpreter and return the top-level names of every module it loaded."""
    script = f"import json, sys\n{code}\nprint(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=True
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_nothing_below_the_transports_loads_an_mcp_http_or_cli_framework():
    loaded = _top_level_modules_after(_IMPORT_ALL.format(packages=BELOW_TRANSPORTS, utilities=UTILITIES))
    assert sorted(loaded & set(FRAMEWORKS)) == []


def test_the_git_hook_loads_no_orm_settings_or_git_library():
    loaded = _top_level_modules_after("import mcp_agent_mail.guard.hook")
    heavy = {"sqlalchemy", "pydantic", "pydantic_settings", "dulwich", "httpx", *FRAMEWORKS}
    assert sorted(loaded & heavy) == []
