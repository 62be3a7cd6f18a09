"""Layers point down: the services and the shared code never import the operations code."""

from __future__ import annotations

import ast
from pathlib import Path

import alexandrite

PACKAGE = Path(alexandrite.__file__).parent
LOWER_LAYERS = ("common", "shop", "crm", "mes", "files", "notifier", "gateway")


def _imported_modules(source: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


def test_no_service_and_nothing_shared_imports_the_operations_code() -> None:
    offenders = [
        f"{source.relative_to(PACKAGE.parent)} imports {module}"
        for layer in LOWER_LAYERS
        for source in sorted((PACKAGE / layer).rglob("*.py"))
        for module in sorted(_imported_modules(source))
        if module == "alexandrite.ops" or module.startswith("alexandrite.ops.")
    ]
    assert offenders == []


def test_the_check_sees_an_import_of_the_operations_code(tmp_path: Path) -> None:
    source = tmp_path / "bad.py"
    source.write_text("def f():\n    from alexandrite.ops.paths import Paths\n")
    assert "alexandrite.ops.paths" in _imported_modules(source)
