"""What prod keeps, written once for both backends.

Resources that hold data or name the host (volumes, buckets, databases, the Elastic IP, ECR
repositories) are protected in prod (Pulumi refuses to delete them) and retained (removing them from
the program or the stack leaves them in the cloud). Staging and PR stacks keep nothing, so
`pulumi destroy` leaves nothing behind.
"""

from __future__ import annotations

import pulumi

from config.deployment import Deployment


def retained_in_prod(deployment: Deployment) -> dict[str, bool]:
    """`protect` and `retain_on_delete`, both on in prod only: spread into ResourceOptions or on_host()."""
    prod = deployment.is_prod
    return {"protect": prod, "retain_on_delete": prod}


def kept_in_prod(deployment: Deployment, parent: pulumi.Resource, **extra) -> pulumi.ResourceOptions:
    """Options of a child of `parent` that prod keeps (see the module docstring)."""
    return pulumi.ResourceOptions(parent=parent, **retained_in_prod(deployment), **extra)
