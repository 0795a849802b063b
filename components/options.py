"""What prod keeps, written once for both backends.

Resources that hold data or name the host (volumes, buckets, databases, the Elastic IP, ECR
repositories) are protected in prod (Pulumi refuses to delete them) and retained (removing them from
the program or the stack leaves them in the cloud). Staging and PR stacks keep nothing, so
`pulumi destroy` leaves nothing behind.
"""

from __future__ import annotations

from typing import TypedDict

from rules.environments import EnvironmentPolicy


class Kept(TypedDict):
    protect: bool
    retain_on_delete: bool


def kept_in_prod(policy: EnvironmentPolicy) -> Kept:
    """`protect` and `retain_on_delete`, both on where the environment keeps its data (prod): spread into a
    resource's options (`ResourceOptions(parent=..., **kept_in_prod(p))`, `on_host(host, parent, **kept_in_prod(p))`)."""
    keep = policy.keeps_data
    return Kept(protect=keep, retain_on_delete=keep)
