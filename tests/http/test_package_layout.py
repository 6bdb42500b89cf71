"""The http package's own imports point one way, at module level, and it reaches the database only through services."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import mcp_agent_mail.http as http_package

PACKAGE = Path(http_package.__file__).parent
PREFIX = "mcp_agent_mail.http."


def _imports(tree: ast.AST) -> list[tuple[str, ast.AST]]:
    """Every module an import statement in ``tree`` names, with the statement."""
    found: list[tuple[str, ast.AST]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.append((node.module, node))
            found.extend((f"{node.module}.{alias.name}", node) for alias in node.names)
    return found


def _modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(), str(path)) for path in sorted(PACKAGE.glob("*.py"))}


def _sibling(name: str) -> str | None:
    return name.removeprefix(PREFIX).split(".")[0] if name.startswith(PREFIX) else None


def test_modules_import_each_other_without_a_cycle():
    graph: dict[str, set[str]] = {}
    for stem, tree in _modules().items():
        graph[stem] = {sibling for name, _ in _imports(tree) if (sibling := _sibling(name)) and sibling != stem}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as exc:
        raise AssertionError(f"import cycle inside mcp_agent_mail.http: {exc.args[1]}") from exc
    assert order.index("catalog") < order.index("tool_route") < order.index("app")


def test_sibling_imports_sit_at_module_level():
    for stem, tree in _modules().items():
        top_level = {id(node) for node in tree.body}
        for name, node in _imports(tree):
            if _sibling(name) is not None:
                assert id(node) in top_level, f"{stem}.py imports {name} inside a function or an if block"


def test_no_module_reaches_the_database_directly():
    for stem, tree in _modules().items():
        for name, _node in _imports(tree):
            assert not name.startswith(("sqlalchemy", "mcp_agent_mail.db", "mcp_agent_mail.archive")), (stem, name)


def test_the_package_exports_the_app_builders():
    assert http_package.__all__ == ["app_from_environment", "build_http_app"]
    assert callable(http_package.build_http_app) and callable(http_package.app_from_environment)
