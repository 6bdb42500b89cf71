"""The layers hold at run time too: what a module really loads, including through third-party code.

``lint-imports`` (scripts/check) checks the import statements; these tests import the modules in a
fresh interpreter and look at ``sys.modules``, which also catches frameworks pulled in indirectly.
They also check what import-linter cannot name: services never touch an SQLAlchemy AsyncSession.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

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


SERVICES_ROOT = Path(__file__).resolve().parents[1] / "src" / "mcp_agent_mail" / "services"
# The AsyncSession helpers exist for scripts and tests; services read with run_read and write with run_write.
SESSION_NAMES = {"get_session", "write_session", "AsyncSession", "async_sessionmaker"}
SESSION_MODULE = "sqlalchemy.ext.asyncio"


def _session_imports(path: Path) -> list[str]:
    """Return each import in ``path`` of an AsyncSession helper or of sqlalchemy.ext.asyncio, as ``line: name``."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: {a.name}" for a in node.names if a.name.startswith(SESSION_MODULE)]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if module.startswith(SESSION_MODULE):
                found.append(f"{node.lineno}: {module}")
            found += [f"{node.lineno}: {a.name}" for a in node.names if a.name in SESSION_NAMES]
        elif isinstance(node, ast.Attribute) and node.attr in SESSION_NAMES:
            found.append(f"{node.lineno}: .{node.attr}")
    return found


def test_services_reach_the_database_only_through_run_read_and_run_write():
    offenders = {
        str(path.relative_to(SERVICES_ROOT)): hits
        for path in sorted(SERVICES_ROOT.rglob("*.py"))
        if (hits := _session_imports(path))
    }
    assert offenders == {}


def test_the_session_check_sees_each_forbidden_import(tmp_path):
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import sqlalchemy.ext.asyncio\n"
        "from sqlalchemy.ext.asyncio import AsyncSession\n"
        "from mcp_agent_mail.db import get_session, run_read\n"
        "from mcp_agent_mail import db\n"
        "db.write_session()\n",
        encoding="utf-8",
    )
    assert _session_imports(sample) == [
        "1: sqlalchemy.ext.asyncio",
        "2: sqlalchemy.ext.asyncio",
        "2: AsyncSession",
        "3: get_session",
        "5: .write_session",
    ]
