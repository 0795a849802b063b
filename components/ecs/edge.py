"""The app's edge proxy on ECS: Caddy for the routes the load balancer cannot serve itself.

A stripped prefix, a single-page app's fallback to /index.html, static sites: the same route rendering
as one host (render/caddyfile.py), plain HTTP on 8080 behind the load balancer, upstreams by Service
Connect alias. Each static site's image runs first, as a container that copies its files into a volume
of the task and exits; Caddy serves them. A new site version is a new task definition, published by a
rolling deploy of the edge, never emptied in place.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_aws as aws

from components.common import copy_site, health_check
from config import conventions
from config.app import Service
from config.deployment import StackApp
from render import caddyfile

PORT = 8080
# The edge as a service: its health check path and start period, its memory (Caddy is small).
SERVICE = Service.model_validate({"port": PORT, "memoryMb": 512, "healthcheck": {"path": "/health", "startPeriodS": 5}})
CADDY_DIR = "/run/caddy"


def plan(target: StackApp) -> caddyfile.ProxyPlan:
    """The app's routes as the edge proxy serves them: plain HTTP behind the ALB, upstreams by alias."""
    app = target.app
    rules = []
    for path, route in app.routes.items():
        svc = app.services[route.service]
        body = route.max_body_mb or app.max_body_mb
        if svc.kind == "static":
            rules.append(caddyfile.Rule(path=path, max_body_mb=body, strip_prefix=True, spa=route.spa,
                                        static_root=conventions.site_root(app.name, route.service)))
        else:
            rules.append(caddyfile.Rule(path=path, max_body_mb=body, upstreams=(f"{route.service}:{svc.port}",),
                                        strip_prefix=route.strip_prefix, stream=route.stream,
                                        timeout_s=route.timeout_s, sticky=route.sticky))
    return caddyfile.ProxyPlan(sites=(caddyfile.Site(target.hostname, tuple(rules), caddyfile.site_headers(app)),),
                               tls=False, http_port=PORT, real_ip=False)


def task(target: StackApp, proxy_image: str, sites: dict[str, pulumi.Input[str]], log_configuration: dict[str, Any]
         ) -> tuple[list[dict[str, Any]], list[aws.ecs.TaskDefinitionVolumeArgsDict]]:
    """The edge task's containers (a copier per static site, then Caddy: `proxy_image`, berth:proxy.image) and
    volumes; `sites`: name -> image."""
    app = target.app
    containers: list[dict[str, Any]] = [{
        "name": f"site-{name}", "image": image, "essential": False,
        "command": ["sh", "-c", copy_site(app.services[name].site_path)], "readonlyRootFilesystem": True,
        "mountPoints": [{"sourceVolume": f"site-{name}", "containerPath": "/out"}],
        "linuxParameters": {"capabilities": {"drop": ["ALL"], "add": []}},
        "logConfiguration": log_configuration,
    } for name, image in sites.items()]
    containers.append({
        "name": "edge", "image": proxy_image, "essential": True,
        "command": caddyfile.launch_command(f"{CADDY_DIR}/Caddyfile"),
        "environment": [{"name": "CADDYFILE", "value": caddyfile.render(plan(target))},
                        {"name": "XDG_DATA_HOME", "value": f"{CADDY_DIR}/data"},
                        {"name": "XDG_CONFIG_HOME", "value": f"{CADDY_DIR}/config"}],
        "readonlyRootFilesystem": True, "privileged": False,
        "linuxParameters": {"initProcessEnabled": True, "capabilities": {"drop": ["ALL"], "add": []}},
        "portMappings": [{"name": "edge", "containerPort": PORT, "protocol": "tcp", "appProtocol": "http"}],
        "mountPoints": [{"sourceVolume": "caddy", "containerPath": CADDY_DIR},
                        *[{"sourceVolume": f"site-{n}", "containerPath": conventions.site_root(app.name, n),
                           "readOnly": True} for n in sites]],
        "dependsOn": [{"containerName": f"site-{n}", "condition": "SUCCESS"} for n in sites],
        "healthCheck": {"command": ["CMD", "wget", "-q", "-O", "/dev/null", f"http://127.0.0.1:{PORT}/health"],
                        "interval": 15, "timeout": 5, "retries": 3, "startPeriod": health_check(SERVICE).start_period_s},
        "logConfiguration": log_configuration,
    })
    volumes: list[aws.ecs.TaskDefinitionVolumeArgsDict] = [{"name": "caddy"}]
    volumes.extend({"name": f"site-{n}"} for n in sites)
    return containers, volumes
