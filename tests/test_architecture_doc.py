"""docs/architecture.md names only modules, functions and files that exist, so it cannot rot."""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "mcp_agent_mail"
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")

# Inline code spans only; the layer diagram in the fenced block is checked as file names below.
SPANS = re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", DOC, flags=re.DOTALL))
DOTTED = sorted({s for s in SPANS if re.fullmatch(r"mcp_agent_mail(\.\w+)+", s)})
FILES = sorted({s for s in SPANS if re.fullmatch(r"[\w./-]+\.(py|toml|md)|(\./)?(scripts|\.ci)/\w+", s)})
DIAGRAM = re.search(r"```\n(.*?)```", DOC, flags=re.DOTALL)
DIAGRAM_NAMES = sorted(set(re.findall(r"(?<![\w/])[\w/]+(?:\.py|/)", DIAGRAM.group(1) if DIAGRAM else "")))


def _module_file(parts: list[str]) -> Path | None:
    """Return the source file of the module ``mcp_agent_mail.<parts>`` (a package's __init__), if any."""
    base = PACKAGE.joinpath(*parts)
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    if base.with_suffix(".py").is_file():
        return base.with_suffix(".py")
    return None


@cache
def _names(path: Path) -> dict[str, ast.AST]:
    """Return what a module defines or imports at top level, by name."""
    found: dict[str, ast.AST] = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            found[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found.update({t.id: node for t in targets if isinstance(t, ast.Name)})
        elif isinstance(node, ast.ImportFrom | ast.Import):
            found.update({(alias.asname or alias.name).split(".")[0]: node for alias in node.names})
    return found


def _resolves(dotted: str) -> bool:
    """Tell whether ``dotted`` is a module, or a module plus a top-level name (and one class member)."""
    parts = dotted.split(".")[1:]
    for split in range(len(parts), -1, -1):
        source = _module_file(parts[:split]) if split else PACKAGE / "__init__.py"
        if source is None:
            continue
        rest = parts[split:]
        if not rest:
            return True
        node = _names(source).get(rest[0])
        if node is None or len(rest) > 2:
            return False
        if len(rest) == 1:
            return True
        members = {n.name for n in getattr(node, "body", []) if hasattr(n, "name")}
        return isinstance(node, ast.ClassDef) and rest[1] in members
    return False


def test_the_doc_names_modules_and_files():
    prose = re.sub(r"```.*?```", "", DOC, flags=re.DOTALL)
    assert [line for line in prose.splitlines() if line.count("`") % 2] == [], "a code span is split across lines"
    assert len(DOTTED) > 30
    assert len(FILES) > 10
    assert DIAGRAM_NAMES


@pytest.mark.parametrize("dotted", DOTTED)
def test_every_named_module_and_function_exists(dotted: str):
    assert _resolves(dotted), f"docs/architecture.md names {dotted}, which does not exist"


@pytest.mark.parametrize("name", FILES + DIAGRAM_NAMES)
def test_every_named_file_exists(name: str):
    candidates = [ROOT / name, PACKAGE / name]
    assert any(path.exists() for path in candidates), f"docs/architecture.md names {name}, which does not exist"
