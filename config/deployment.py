"""The validated result of loading a stack: its settings and its apps, overlays applied.

Components take a Deployment and nothing else from the config, so everything they build has passed
every check in config/checks.py first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from config import conventions
from config.app import App, Service
from config.conventions import EC2_DATA_ROOT
from config.instance_types import InstanceType
from config.stack import Ec2HostSettings, EcsHostSettings, LocalHostSettings, StackSettings
from rules import environments
from rules.environments import EnvironmentPolicy

NAMESPACE = "berth"


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

    @property
    def host_platform(self) -> str | None:
        """The Docker platform images run on: the EC2 type's architecture, linux/amd64 on ECS (Fargate's
        default), and in dev the local engine's own (None)."""
        if self.host_type is not None:
            return self.host_type.platform
        return "linux/amd64" if self.on_ecs else None

    def build_platform(self, svc: Service) -> str | None:
        """What a service's image is built for: its own `build.platform`, else the host's."""
        return (svc.build.platform if svc.build is not None else None) or self.host_platform

    @property
    def domain(self) -> str:
        """`${stack}` in berth:domain lets a PR stack copied from staging get host names of its own."""
        return self.settings.domain.replace("${stack}", self.stack)

    def hostname(self, app: App) -> str:
        return app.hostname if "." in app.hostname else f"{app.hostname}.{self.domain}"

    def substitute(self, value: str, app: App) -> str:
        """`${url}` and `${hostname}` in env values and build args become this stack's address of the app."""
        return value.replace("${url}", self.url(app)).replace("${hostname}", self.hostname(app))

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

    def host_dir_source(self, app: App, svc: Service, name: str) -> str:
        """The host path of one service's host dir: its own `source` (two services may mount different
        checkouts under one key), else the app's directory of that name on the host's data root."""
        hd = svc.host_dirs[name]
        if hd.source is None:
            return f"{conventions.app_host_dirs(self.data_root, app.name)}/{name}"
        return str((self.project_dir / hd.source).resolve())  # an absolute source stays as it is
