"""The policy pack's own validators (policy/policies.py) run over what a mock run registered.

Each recorded resource becomes the `ResourceValidationArgs` the Pulumi engine would hand the pack, so
the suite and `pulumi preview --policy-pack policy` judge with one set of rules.
"""

from __future__ import annotations

from pulumi_policy import PolicyCustomTimeouts, PolicyResourceOptions, ResourceValidationArgs

from offline.mockrun import Resource, Run
from policy.policies import POLICIES


def validation_args(resource: Resource) -> ResourceValidationArgs:
    opts = PolicyResourceOptions(protect=resource.protect, ignore_changes=list(resource.ignore_changes),
                                 delete_before_replace=resource.delete_before_replace, aliases=list(resource.aliases),
                                 custom_timeouts=PolicyCustomTimeouts(0, 0, 0), additional_secret_outputs=[],
                                 parent=resource.parent or None)
    return ResourceValidationArgs(resource.type, resource.values, resource.urn, resource.name, opts, None)


def violations(resource: Resource) -> list[str]:
    """Every violation of every policy of the pack by one resource, as "<policy>: <message>"."""
    found: list[str] = []
    args = validation_args(resource)
    for policy in POLICIES:
        def report(message: str, urn: str | None = None, name: str = policy.name) -> None:
            found.append(f"{name}: {message}")
        for validate in policy.validate if isinstance(policy.validate, list) else [policy.validate]:
            validate(args, report)
    return found


def policy_violations(run: Run) -> list[str]:
    """Every violation of the pack by every resource of `run`."""
    return [found for resource in run.resources for found in violations(resource)]
