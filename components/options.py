"""The resource options berth gives again and again, each rule written once.

- What prod keeps: resources that hold data or name the host (volumes, buckets, databases, the
  Elastic IP, ECR repositories) are protected (Pulumi refuses to delete them) and retained (removing
  them from the program or the stack leaves them in the cloud). Staging and PR stacks keep nothing,
  so `pulumi destroy` leaves nothing behind.
- What lives on the Docker host: the host's own explicit provider (never the ambient default
  engine), created only after the host's readiness gate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from collections.abc import Sequence

import pulumi

from config.deployment import Deployment

if TYPE_CHECKING:
    from components.host import DockerHost


def retained_in_prod(deployment: Deployment) -> dict[str, bool]:
    """`protect` and `retain_on_delete`, both on in prod only: spread into ResourceOptions or on_host()."""
    prod = deployment.is_prod
    return {"protect": prod, "retain_on_delete": prod}


def kept_in_prod(deployment: Deployment, parent: pulumi.Resource, **extra) -> pulumi.ResourceOptions:
    """Options of a child of `parent` that prod keeps (see the module docstring)."""
    return pulumi.ResourceOptions(parent=parent, **retained_in_prod(deployment), **extra)


def on_host(host: DockerHost, parent: pulumi.Resource | None, *, depends_on: Sequence[pulumi.Resource] = (),
            **extra) -> pulumi.ResourceOptions:
    """Options of a Docker resource on `host`: its provider, after the host is ready (and `depends_on`)."""
    return pulumi.ResourceOptions(parent=parent, provider=host.provider, depends_on=[*host.ready, *depends_on],
                                  **extra)
