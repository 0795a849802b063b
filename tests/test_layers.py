"""The layers docs/architecture.md draws, as imports: each package imports only the packages below it, and
what `pulumi up` runs (`__main__.py` and all it imports) holds neither the offline runner's Pulumi mocks
nor the tests, the importer or the host's backup tool."""

from __future__ import annotations

from pathlib import Path

from tests.support.imports import imported
from tests.support.stacks import REPO

# package -> the packages of berth's it may import (docs/architecture.md, "The flow")
MAY_IMPORT = {
    "rules": set(),
    "config": {"rules"},
    "render": {"config", "rules"},
    "policy": {"rules"},  # the pack runs in its own virtualenv: berth's rules, never config/
    "backup": set(),  # runs on the host, where berth's package is not
    "offline": {"config", "rules"},
    "operate": {"config", "offline", "rules"},  # reads a stack file as `scripts/plan` does
    "importer": {"config", "rules"},
    # what should run (operate/intent.py) and the reporter's metric names, which the alarms watch
    "components": {"config", "operate.intent", "operate.reporter", "render", "rules"},
}
NOT_IN_THE_PROGRAM = ("offline", "tests", "importer", "backup")


def imports_of(path: Path) -> set[str]:
    """The modules of berth's that `path` imports (absolute imports: berth has no relative ones)."""
    return {m for m in imported(path) if m.split(".")[0] in {*MAY_IMPORT, "tests"} and module_file(m) is not None}


def module_file(module: str) -> Path | None:
    base = REPO.joinpath(*module.split("."))
    return next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)


def program_modules() -> set[str]:
    """Every module of berth's that `__main__.py` imports, directly or through another."""
    seen: set[str] = set()
    todo = list(imports_of(REPO / "__main__.py"))
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            path = module_file(module)
            todo += imports_of(path) if path else []
            todo += [".".join(module.split(".")[:n]) for n in range(1, module.count(".") + 1)]  # its packages run too
    return seen


def may_import(package: str, module: str) -> bool:
    """`module` is `package`'s own, or one it may import (or a package on the way to one: `operate` of
    `from operate import intent`)."""
    return module.split(".")[0] == package or any(
        module == allowed or module.startswith(f"{allowed}.") or allowed.startswith(f"{module}.")
        for allowed in MAY_IMPORT[package])


def source_files(package: str) -> list[Path]:
    """The package's own modules: not a virtualenv inside it (scripts/dev-up makes policy/venv)."""
    return [p for p in (REPO / package).rglob("*.py") if "venv" not in p.relative_to(REPO).parts]


def crossings(package: str) -> list[str]:
    """`file -> module` for each import of a package `package` may not import."""
    return sorted(f"{path.relative_to(REPO)} -> {module}" for path in source_files(package)
                  for module in imports_of(path) if not may_import(package, module))


def test_the_check_sees_a_crossing_and_reads_no_virtualenv():
    assert not may_import("components", "operate.status") and may_import("components", "operate.intent")
    assert may_import("components", "operate") and not may_import("operate", "components.ecs")
    assert not any("venv" in p.parts for p in source_files("policy"))


def test_every_package_is_drawn():
    packages = {p.parent.name for p in REPO.glob("*/__init__.py")} - {"tests"}
    assert packages == set(MAY_IMPORT)


def test_each_package_imports_only_the_packages_below_it():
    assert {package: crossings(package) for package in MAY_IMPORT} == {package: [] for package in MAY_IMPORT}


def test_the_program_holds_no_mocks_tests_importer_or_backup_tool():
    program = program_modules()
    assert {"components.single_host", "components.ecs", "operate.intent", "config.deployment"} <= program
    assert sorted(m for m in program if m.split(".")[0] in NOT_IN_THE_PROGRAM) == []
