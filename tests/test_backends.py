"""components/: two backends behind one seam. components/single_host/ (the local engine, EC2) and
components/ecs/ each have one `deploy()` returning `Deployed` (components/common.py), which __main__.py
exports the same way for both; neither imports the other, and what both use imports neither."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from components import common, ecs, single_host
from tests.support.ecs import CHM, ecs_run
from tests.support.stacks import REPO

COMPONENTS = REPO / "components"
BACKENDS = ("single_host", "ecs")
EXPORTED_BY_BOTH = {"environment", "urls", "secretsNotSet"}


def imported(path: Path) -> set[str]:
    """Every module `path` imports, and `package.name` for each `from package import name`."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module} | {f"{node.module}.{a.name}" for a in node.names}
    return names


def imports_backend(path: Path, backend: str) -> bool:
    return any(m == f"components.{backend}" or m.startswith(f"components.{backend}.") for m in imported(path))


def test_the_import_check_sees_an_import_of_a_backend():
    assert imports_backend(REPO / "__main__.py", "ecs") and imports_backend(REPO / "__main__.py", "single_host")
    assert imports_backend(COMPONENTS / "ecs" / "app_service.py", "ecs")


def test_neither_backend_imports_the_other():
    for backend, other in (BACKENDS, BACKENDS[::-1]):
        modules = sorted((COMPONENTS / backend).rglob("*.py"))
        assert modules and [str(p) for p in modules if imports_backend(p, other)] == []


def test_what_both_backends_use_imports_neither():
    shared = sorted(COMPONENTS.glob("*.py"))
    assert COMPONENTS / "common.py" in shared
    assert [str(p) for p in shared if any(imports_backend(p, b) for b in BACKENDS)] == []


def test_both_backends_deploy_from_the_same_arguments_to_the_same_record():
    assert inspect.signature(single_host.deploy) == inspect.signature(ecs.deploy)
    assert inspect.signature(ecs.deploy).return_annotation in (common.Deployed, "Deployed")


def test_each_host_kind_exports_what_both_do_and_its_own(deploy, shared_runs):
    dev, prod, on_ecs = deploy("dev"), deploy("prod"), ecs_run(CHM, shared_runs)
    assert set(dev.outputs) == EXPORTED_BY_BOTH | {"proxy", "routes", "backups"}
    assert set(prod.outputs) == EXPORTED_BY_BOTH | {"proxy", "routes", "backups", "hostPublicIp", "sshCommand",
                                                    "ssmCommand"}
    assert set(on_ecs.outputs) == EXPORTED_BY_BOTH | {"loadBalancerDnsName", "clusterName"}
    assert on_ecs.outputs["urls"] == {"chatbot": "https://chatbot.chmedia.com", "mediahub": "https://mediahub.chmedia.com"}
    assert on_ecs.outputs["clusterName"] == on_ecs.get("aws:ecs/cluster:Cluster", "cluster").state["name"]
    assert on_ecs.outputs["loadBalancerDnsName"] == on_ecs.get("aws:lb/loadBalancer:LoadBalancer", "edge").state["dnsName"]
    assert prod.outputs["sshCommand"] == f"ssh ubuntu@{prod.outputs['hostPublicIp']}"
