"""What both backends (components/single_host/, components/ecs/) share, so neither imports the other.

- `Deployed`: what a backend's `deploy()` returns, exported by `__main__.py` the same way for both.
- A service's health probe as a command: the Docker HEALTHCHECK on one host, the task's `healthCheck` on ECS.
- The copy of a static site out of its image, the generated credentials, an app's database as the
  provisioning SQL renders it: the same on one host and on ECS.
- What validation guarantees, narrowed for the type checker: a setting config/ requires, a server's health
  check (the host settings of the backend's kind: config/deployment.py, Deployment.host_settings).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import pulumi
import pulumi_random as random

from config.app import HealthCheck, Service
from config.deployment import StackApp
from render import datastores

T = TypeVar("T")


@dataclass(frozen=True)
class Deployed:
    """What one backend deployed: each app's URL, and the stack outputs only that backend has (by name)."""

    urls: Mapping[str, pulumi.Input[str]]
    outputs: Mapping[str, pulumi.Input[Any]]


def required(value: T | None, what: str) -> T:
    """`value`, which config/ refuses a stack without before any resource is registered (`what` names the
    setting and its check): None here is a bug in berth, said as one."""
    if value is None:
        raise ValueError(f"{what} is not set, and config/ should have refused the stack without it")
    return value


def health_check(svc: Service) -> HealthCheck:
    """A server's health check: Service validation refuses a server without one (config/app.py)."""
    return required(svc.healthcheck, "a server's healthcheck (Service validation)")


# The HTTP probes' code is fixed; the URL is its argument (`sys.argv[1]`, `process.argv[1]`), never
# part of the code, so no path can become Python or JavaScript.
PYTHON_PROBE = "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=4)"
NODE_PROBE = "fetch(process.argv[1]).then(r => process.exit(r.status < 500 ? 0 : 1)).catch(() => process.exit(1))"


def probe_command(check: HealthCheck, port: int | None) -> list[str]:
    """A health check's test (`CMD ...`): the app's HTTP path via a tool its image has, or its own command."""
    if check.command is not None:
        return ["CMD", *check.command]
    url = f"http://127.0.0.1:{port}{check.path}"
    if check.probe == "curl":
        return ["CMD", "curl", "-fsS", "-o", "/dev/null", url]
    if check.probe == "wget":
        return ["CMD", "wget", "-q", "-O", "/dev/null", url]
    if check.probe == "python":
        return ["CMD", "python", "-c", PYTHON_PROBE, url]
    return ["CMD", "node", "-e", NODE_PROBE, url]


def copy_site(site_path: str) -> str:
    """Shell, run in a static service's image, that copies its built site into the volume at /out."""
    return f"rm -rf /out/* /out/.[!.]* 2>/dev/null; cp -R {shlex.quote(site_path)}/. /out/"


def generated_password(name: str, parent: pulumi.Resource) -> pulumi.Output[str]:
    """A generated credential, secret in state. No special characters: it goes into URLs unescaped."""
    generated = random.RandomPassword(name, length=32, special=False, opts=pulumi.ResourceOptions(parent=parent))
    return pulumi.Output.secret(generated.result)


def app_database(target: StackApp, password: str) -> datastores.AppDatabase:
    """The app's database as the provisioning SQL renders it: its extensions and its init SQL file's text
    (read from the project's apps/)."""
    db = target.app.database
    # as written: read_text would turn a `\r` inside a string literal into `\n`
    init_sql = (target.project_dir / "apps" / db.init_sql).read_bytes().decode() if db and db.init_sql else None
    return datastores.AppDatabase(target.name, password, tuple(db.extensions) if db else (), init_sql)
