"""The validated result of loading a stack: its settings and its apps, overlays applied.

Everything components build comes from a Deployment, so it has passed every check in config/checks.py
first. Below each backend's `deploy()` no component takes the whole Deployment: each gets what it reads,
narrowed here where it is derived. An app's own components get its `StackApp` (the app as this stack
deploys it, and nothing of another app's); host-level components get the host settings of their kind
(`Deployment.host_settings`) and the environment's policy (rules/environments.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from config import conventions
from config.app import App, Service
from config.conventions import EC2_DATA_ROOT
from config.instance_types import InstanceType
from config.stack import EcrSettings, Ec2HostSettings, EcsHostSettings, LocalHostSettings, StackSettings
from rules import environments
from rules.environments import EnvironmentPolicy

NAMESPACE = "berth"

HostKind = TypeVar("HostKind", LocalHostSettings, Ec2HostSettings, EcsHostSettings)


@dataclass(frozen=True)
class StackApp:
    """One app as this stack deploys it: what the app's own components (its stack of containers, its images,
    its ECS services) read, and nothing of another app's. Built by `Deployment.stack_app`."""

    app: App
    stack: str
    policy: EnvironmentPolicy
    hostname: str  # its host name in this stack (Deployment.hostname)
    url: str  # this stack's address of it: http:// in dev (with the proxy's port), else https://
    project_dir: Path  # build contexts, host dir sources and init SQL are relative to it
    data_root: str | None  # where host dirs live on one host; None on ECS (its directories live on EFS)
    host_platform: str | None  # what images run on (Deployment.host_platform)
    builds_locally: bool  # dev's engine builds the images it runs; elsewhere builds go through ECR
    ecr: EcrSettings  # how many built images ECR and the host keep

    @property
    def name(self) -> str:
        return self.app.name

    def substitute(self, value: str) -> str:
        """`${url}` and `${hostname}` in env values and build args become this stack's address of the app."""
        return value.replace("${url}", self.url).replace("${hostname}", self.hostname)

    def build_platform(self, svc: Service) -> str | None:
        """What a service's image is built for: its own `build.platform`, else the host's."""
        return (svc.build.platform if svc.build is not None else None) or self.host_platform

    def host_dir_source(self, svc: Service, name: str) -> str:
        """The host path of one service's host dir: its own `source` (two services may mount different
        checkouts under one key), else the app's directory of that name on the host's data root."""
        hd = svc.host_dirs[name]
        if hd.source is None:
            if self.data_root is None:
                raise TypeError("an ECS stack has no host: its directories live on the stack's EFS file system")
            return f"{conventions.app_host_dirs(self.data_root, self.app.name)}/{name}"
        return str((self.project_dir / hd.source).resolve())  # an absolute source stays as it is


@dataclass(frozen=True)
class Deployment:
    """Everything the components need, validated: the stack's settings and its apps, overlays applied."""

    stack: str
    project_dir: Path
    settings: StackSettings
    apps: dict[str, App]
    set_secrets: frozenset[str] = field(default_factory=frozenset)  # app secrets the stack's config sets
    host_type: InstanceType | None = None  # EC2: what AWS says the instance type is

    @property
    def environment(self) -> str:
        return self.settings.environment

    @property
    def policy(self) -> EnvironmentPolicy:
        """What this stack's environment decides (rules/environments.py)."""
        return environments.policy(self.environment)

    @property
    def on_ec2(self) -> bool:
        return isinstance(self.settings.host, Ec2HostSettings)

    @property
    def on_ecs(self) -> bool:
        return isinstance(self.settings.host, EcsHostSettings)

    def host_settings(self, kind: type[HostKind]) -> HostKind:
        """`berth:host` as the backend of its kind reads it: `__main__.py` picks the backend by the host's kind
        (on_ecs, on_ec2), so another kind here is a bug in berth, never in the stack file."""
        host = self.settings.host
        if not isinstance(host, kind):
            raise TypeError(f"berth:host.kind is {host.kind}, and this part of berth deploys onto {kind.__name__} only")
        return host

    @property
    def host_platform(self) -> str | None:
        """The Docker platform images run on: the EC2 type's architecture, linux/amd64 on ECS (Fargate's
        default), and in dev the local engine's own (None)."""
        if self.host_type is not None:
            return self.host_type.platform
        return "linux/amd64" if self.on_ecs else None

    @property
    def alarms_on(self) -> bool:
        """Alarms (`berth:monitoring.alarms`, else the environment's default); never on this machine's engine."""
        return self.settings.monitoring.alarms_on(self.environment) and not self.policy.on_this_machine

    @property
    def domain(self) -> str:
        """`${stack}` in berth:domain lets a PR stack copied from staging get host names of its own."""
        return self.settings.domain.replace("${stack}", self.stack)

    def hostname(self, app: App) -> str:
        return app.hostname if "." in app.hostname else f"{app.hostname}.{self.domain}"

    def url(self, app: App) -> str:
        if not self.policy.serves_https:
            port = self.settings.proxy.http_port
            return f"http://{self.hostname(app)}" + ("" if port == 80 else f":{port}")
        return f"https://{self.hostname(app)}"

    @property
    def data_root(self) -> str:
        """Where host directories live: the EBS data volume on EC2, a project dir locally."""
        host = self.settings.host
        if isinstance(host, Ec2HostSettings):
            return EC2_DATA_ROOT
        if isinstance(host, LocalHostSettings):
            return str((self.project_dir / host.data_dir).resolve())
        raise TypeError("an ECS stack has no host: its directories live on the stack's EFS file system")

    def stack_app(self, name: str) -> StackApp:
        """App `name` as this stack deploys it: what its own components are given."""
        app = self.apps[name]
        return StackApp(
            app=app, stack=self.stack, policy=self.policy, hostname=self.hostname(app), url=self.url(app),
            project_dir=self.project_dir, data_root=None if self.on_ecs else self.data_root,
            host_platform=self.host_platform, builds_locally=isinstance(self.settings.host, LocalHostSettings),
            ecr=self.settings.ecr)

    @property
    def stack_apps(self) -> list[StackApp]:
        """Every app as this stack deploys it, in the order of `apps`."""
        return [self.stack_app(name) for name in self.apps]

    @property
    def hostnames(self) -> dict[str, str]:
        """Each app's host name, by app, in the order of `apps`: what DNS and the load balancer name."""
        return {name: self.hostname(app) for name, app in self.apps.items()}
