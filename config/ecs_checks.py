"""What an ECS stack cannot do that one host can, refused with its path before anything exists.

The apps stay the same files; these rules say where ECS differs: no host to mount directories from,
Fargate's fixed task sizes and capability list, GPUs only on EC2 capacity, the load balancer's idle
timeout ceiling, certificates that need a Route 53 zone.
"""

from __future__ import annotations

import re

from config.app import App, Service
from config.deployment import NAMESPACE
from config.errors import Problems
from config.fargate import MAX_CPUS, MAX_MEMORY_MB, task_size
from config.stack import EcsHostSettings, StackSettings

# Fargate lets a task add only this capability (ECS API reference, KernelCapabilities).
FARGATE_CAPABILITIES = frozenset({"SYS_PTRACE"})
# An Application Load Balancer's idle timeout: 1-4000 s (ELBv2 API reference, LoadBalancerAttribute
# idle_timeout.timeout_seconds); config refuses a route that needs longer, the load balancer uses it.
ALB_MAX_IDLE_TIMEOUT_S = 4000
# ECS container health checks (ECS API reference, HealthCheck): interval 5-300 s, timeout 2-120 s,
# retries 1-10, start period 0-300 s.
HEALTHCHECK_BOUNDS = {"intervalS": (5, 300), "timeoutS": (2, 120), "retries": (1, 10), "startPeriodS": (0, 300)}


def postgres_major(image: str) -> str | None:
    """`postgres:17.6-alpine` -> `17`: the RDS engine version that matches the pinned image."""
    match = re.search(r":(\d+)(?:\.\d+)?(?:[-@]|$)", image)
    return match.group(1) if match else None


def check_ecs(settings: StackSettings, apps: dict[str, App], problems: Problems) -> None:
    host = settings.host
    if not isinstance(host, EcsHostSettings):
        return
    if settings.dns is None:
        problems.add(f"{NAMESPACE}:dns.zoneName",
                     "an ECS stack serves its apps through a load balancer whose certificate is validated in Route 53; "
                     "name the public hosted zone that holds the apps' host names (berth:dns.zoneName)")
    postgres = settings.shared.postgres
    if postgres is not None and postgres_major(postgres.image) is None:
        problems.add(f"{NAMESPACE}:shared.postgres.image",
                     f"{postgres.image!r} names no Postgres version; on ECS its major version (e.g. postgres:17.6-alpine) "
                     "picks the RDS engine version")
    for app in apps.values():
        for path, route in app.routes.items():
            if route.timeout_s and route.timeout_s > ALB_MAX_IDLE_TIMEOUT_S:
                problems.add(f"apps/{app.name}.yaml: routes.{path}.timeoutS",
                             f"{route.timeout_s} s is longer than an Application Load Balancer can hold an idle "
                             f"connection ({ALB_MAX_IDLE_TIMEOUT_S} s); lower it, and have clients reconnect or ping")
        for svc_name, svc in app.services.items():
            _check_service(host, app, svc_name, svc, problems)


def _check_service(host: EcsHostSettings, app: App, svc_name: str, svc: Service, problems: Problems) -> None:
    """A server as an ECS service: where its tasks can run, what they mount, how ECS probes them."""
    if svc.kind != "server":
        return
    where = f"{NAMESPACE}:apps.{app.name}.services.{svc_name}"
    _check_capacity(host, app, svc_name, svc, where, problems)
    for dir_name, hd in svc.host_dirs.items():
        if hd.source is not None:
            problems.add(f"{where}.hostDirs.{dir_name}.source",
                         "an ECS task has no host to mount a directory from; leave source unset (the directory then "
                         "lives on the stack's EFS file system) or build the files into the image")
    _check_healthcheck(app, svc_name, svc, problems)


def _check_capacity(host: EcsHostSettings, app: App, svc_name: str, svc: Service, where: str,
                    problems: Problems) -> None:
    """A GPU service needs the cluster's GPU instances; any other runs on Fargate, within its limits."""
    if svc.gpu:
        if host.gpu_instance_type is None:
            problems.add(f"{NAMESPACE}:host.gpuInstanceType",
                         f"{app.name}.{svc_name} needs a GPU, which Fargate does not offer; name a GPU instance type "
                         "(e.g. g4dn.xlarge) for the cluster's EC2 capacity, or set `gpu: false` for this stack")
        return
    extra = sorted(set(svc.cap_add) - FARGATE_CAPABILITIES)
    if extra:
        problems.add(f"apps/{app.name}.yaml: services.{svc_name}.capAdd",
                     f"Fargate cannot add {', '.join(extra)} (only {', '.join(sorted(FARGATE_CAPABILITIES))}); "
                     "drop them or run this app on one host")
    if task_size(svc.cpus, svc.memory_mb) is None:
        problems.add(where, f"asks for {svc.cpus} vCPU and {svc.memory_mb} MiB; the largest Fargate task has "
                            f"{MAX_CPUS:g} vCPU and {MAX_MEMORY_MB} MiB")


def _check_healthcheck(app: App, svc_name: str, svc: Service, problems: Problems) -> None:
    check = svc.healthcheck
    if check is None:
        return
    values = {"intervalS": check.interval_s, "timeoutS": check.timeout_s, "retries": check.retries,
              "startPeriodS": check.start_period_s}
    for key, (low, high) in HEALTHCHECK_BOUNDS.items():
        if not low <= values[key] <= high:
            problems.add(f"apps/{app.name}.yaml: services.{svc_name}.healthcheck.{key}",
                         f"{values[key]} is outside what ECS health checks allow ({low} to {high})")
