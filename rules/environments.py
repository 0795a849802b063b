"""What each environment decides, written once: components, renderers and config checks ask the
environment's policy, never its name.

dev runs on this machine's engine over plain HTTP, with stand-ins for what is not set; staging has
prod's shape (HTTPS, versioned builds, alarms when asked) but is disposable; prod pins its images,
keeps and protects its data and alarms by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# The environments a stack file may name (`environment:`), each with its policy below.
Environment = Literal["dev", "staging", "prod"]


@dataclass(frozen=True)
class EnvironmentPolicy:
    name: str
    on_this_machine: bool  # the local Docker engine (dev); the others run on an EC2 host or ECS berth creates
    serves_https: bool  # Caddy's automatic HTTPS and https:// URLs; dev serves plain HTTP on *.localhost
    hsts: bool  # Strict-Transport-Security: staging's certificates come from the staging CA, so it would lock browsers out
    keeps_data: bool  # data protected and kept on destroy, deletion protection, final snapshots, backups kept
    resilient: bool  # a fixed address and instance recovery, replicated caches, changes in maintenance windows
    alarms_by_default: bool  # host or cluster alarms when `monitoring.alarms` is not set
    pins_images: bool  # every image names a release or a digest (rules/images.py)
    versions_builds: bool  # a built image is tagged with the service's `version`, not `dev`
    makes_up_secrets: bool  # a secret the stack does not set gets a generated stand-in
    secrets_only_as_secrets: bool  # credentials refused in plain `env` and build args


POLICIES: dict[str, EnvironmentPolicy] = {  # by Environment (tests hold the two together)
    "dev": EnvironmentPolicy("dev", on_this_machine=True, serves_https=False, hsts=False, keeps_data=False,
                             resilient=False, alarms_by_default=False, pins_images=False, versions_builds=False,
                             makes_up_secrets=True, secrets_only_as_secrets=False),
    "staging": EnvironmentPolicy("staging", on_this_machine=False, serves_https=True, hsts=False, keeps_data=False,
                                 resilient=False, alarms_by_default=False, pins_images=False, versions_builds=True,
                                 makes_up_secrets=True, secrets_only_as_secrets=False),
    "prod": EnvironmentPolicy("prod", on_this_machine=False, serves_https=True, hsts=True, keeps_data=True,
                              resilient=True, alarms_by_default=True, pins_images=True, versions_builds=True,
                              makes_up_secrets=False, secrets_only_as_secrets=True),
}


def policy(environment: str) -> EnvironmentPolicy:
    return POLICIES[environment]


def environment_named_by(stack: str) -> str:
    """The environment a stack's name implies, for a tool that runs before its stack file says (the importer
    writing a new one): dev, staging and prod by name; any other (a per-PR stack) is staging-like."""
    return stack if stack in POLICIES else "staging"
