"""components/: two backends behind one seam. components/single_host/ (the local engine, EC2) and
components/ecs/ each have one `deploy()` returning `Deployed` (components/common.py), which __main__.py
exports the same way for both; neither imports the other, and what both use imports neither. Below the
two `deploy()`s no component takes the whole Deployment: each is given what it reads."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import components
from components import aws_common, common, ecs, single_host
from config.deployment import Deployment, StackApp
from tests.support.ecs import CHM, ecs_run
from tests.support.imports import imported
from tests.support.stacks import REPO

COMPONENTS = REPO / "components"
BACKENDS = ("single_host", "ecs")
EXPORTED_BY_BOTH = {"environment", "urls", "secretsNotSet"}
# What may take the whole Deployment: each backend's assembly, and the stack transformation that tags
# every AWS resource with the stack's name and environment (registered by __main__.py before any resource).
TAKE_THE_DEPLOYMENT = {single_host.deploy, ecs.deploy, aws_common.tag_every_aws_resource}


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


def callables_of_components() -> Iterator[tuple[str, Callable[..., Any]]]:
    """Every function, method and class constructor defined under components/, by qualified name."""
    for module_info in pkgutil.walk_packages(components.__path__, "components."):
        module = importlib.import_module(module_info.name)
        for name, obj in vars(module).items():
            if getattr(obj, "__module__", None) != module.__name__:
                continue  # imported from elsewhere
            if inspect.isfunction(obj):
                yield f"{module.__name__}.{name}", obj
            elif inspect.isclass(obj):
                for attr, member in vars(obj).items():
                    if inspect.isfunction(member) or isinstance(member, (staticmethod, classmethod)):
                        yield f"{module.__name__}.{name}.{attr}", inspect.unwrap(getattr(obj, attr))


def mentions_deployment(annotation: Any) -> bool:
    """`Deployment`, or a type made of it (`Deployment | None`, `list[Deployment]`)."""
    return annotation is Deployment or any(mentions_deployment(a) for a in typing.get_args(annotation))


def takes_the_deployment(function: Callable[..., Any]) -> bool:
    """A parameter annotated with the Deployment (annotations evaluated in the function's module: they are
    strings there, `from __future__ import annotations`)."""
    hints = inspect.get_annotations(function, eval_str=True)
    return any(mentions_deployment(hints.get(p)) for p in inspect.signature(function).parameters)


def test_the_deployment_check_sees_a_parameter_annotated_deployment():
    """Not vacuous: it finds constructors (a dataclass's too) and the functions that may take the Deployment,
    sees that they do, and sees the Deployment inside a wider annotation."""
    found = dict(callables_of_components())
    assert {"components.single_host.app_stack.AppStack.__init__", "components.ecs.app_service.Platform.__init__",
            "components.ecs.files.EcsFileSystem._subnets"} <= set(found)
    assert set(TAKE_THE_DEPLOYMENT) <= set(found.values())
    assert all(takes_the_deployment(f) for f in TAKE_THE_DEPLOYMENT)

    def wide(name: str, deployment: Deployment | None = None) -> None: ...
    def narrow(name: str, app: StackApp) -> None: ...
    assert takes_the_deployment(wide) and not takes_the_deployment(narrow)


def test_below_the_backends_deploy_no_component_takes_the_whole_deployment():
    """Each component is given only what it reads (config/deployment.py: an app's StackApp, the host's
    settings of its kind, the environment's policy), so an app's component cannot read another app's."""
    takers = {name for name, f in callables_of_components() if f not in TAKE_THE_DEPLOYMENT and takes_the_deployment(f)}
    assert sorted(takers) == []
