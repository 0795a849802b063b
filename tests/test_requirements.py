"""What `pulumi up` and the scripts run imports is installed by requirements.txt.

The program and scripts/import, plan, status, logs and dev-up run in a virtualenv of requirements.txt
alone (scripts/lib/bootstrap.sh, `berth_venv runtime`); the test and lint groups of pyproject.toml are
not there. A module that imports a package only those groups install works in the tests and fails for
the user on a fresh machine.
"""

from __future__ import annotations

import ast
import re
import sys
from functools import cache
from importlib.metadata import PackageNotFoundError, packages_distributions, requires
from pathlib import Path

from tests.support.stacks import REPO

RUNTIME = ["__main__.py", "backup", "components", "config", "importer", "offline", "operate", "policy", "render", "rules"]


def normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports(path: Path) -> set[str]:
    """The top-level modules a file imports that are neither the standard library's nor berth's own."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and not (REPO / n).exists()
            and not (REPO / f"{n}.py").exists()}


@cache
def installed_by_requirements() -> frozenset[str]:
    """The distributions requirements.txt pins and, recursively, what they require (extras aside)."""
    lines = (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()
    todo = [re.split(r"[=\[<>~ ;]", line.strip(), maxsplit=1)[0] for line in lines if line.strip() and not line.startswith("#")]
    seen: set[str] = set()
    while todo:
        name = normalized(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            needs = requires(name) or []
        except PackageNotFoundError:
            continue
        todo += [re.split(r"[=\[<>~ ;!(]", r, maxsplit=1)[0] for r in needs if "extra ==" not in r]
    return frozenset(seen)


def not_installed_by_requirements(files: list[Path]) -> dict[str, list[str]]:
    """Module -> the files importing it, for modules no distribution requirements.txt installs provides."""
    distributions = packages_distributions()
    missing: dict[str, list[str]] = {}
    for path in files:
        for module in sorted(third_party_imports(path)):
            if not {normalized(d) for d in distributions.get(module, [module])} & installed_by_requirements():
                missing.setdefault(module, []).append(path.name)
    return missing


def test_every_package_the_runtime_imports_is_installed_by_requirements_txt():
    files = [p for entry in RUNTIME for p in ([REPO / entry] if entry.endswith(".py") else (REPO / entry).rglob("*.py"))
             if "venv" not in p.parts]
    assert len(files) > 50
    assert not_installed_by_requirements(files) == {}, "imported at run time, installed only by the test or lint groups"


def test_a_runtime_file_importing_a_test_only_package_is_reported(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("import pytest\nimport pulumi\nfrom hypothesis import given\nimport json\n")
    assert not_installed_by_requirements([probe]) == {"hypothesis": ["probe.py"], "pytest": ["probe.py"]}
