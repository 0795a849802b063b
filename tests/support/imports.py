"""What a Python file imports, read from its syntax tree (nothing is imported): for the tests that check
which package may import which (tests/test_layers.py, tests/test_backends.py)."""

from __future__ import annotations

import ast
from pathlib import Path


def imported(path: Path) -> set[str]:
    """Every module `path` imports by its absolute name, and `package.name` for each `from package import
    name`. A relative import (`from .config import x`, a library's own module) names none of berth's."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names
