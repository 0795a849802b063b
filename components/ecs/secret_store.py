"""Secrets Manager entries an ECS task reads at start: app secrets and generated connection URLs.

Tasks get them through the task definition's `secrets` (the ARN, never the value), so no secret is in
a task definition, `environment` or a plan. Entries are named `berth/<stack>/<app>/<ENV>`, so an app's
execution role can be allowed exactly its own prefix. Staging's are deleted at once on destroy (no
recovery window, so a new PR stack can reuse the names); prod's keep a week's recovery window.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from config import conventions
from rules.environments import EnvironmentPolicy

PROD_RECOVERY_DAYS = 7


def secret_prefix(stack: str, app: str) -> str:
    return f"berth/{stack}/{app}/"


class SecretStore:
    """Creates Secrets Manager secrets under one parent; knows the stack's naming and retention."""

    def __init__(self, stack: str, policy: EnvironmentPolicy):
        self._stack, self._policy = stack, policy

    def put(self, app: str, key: str, value: pulumi.Input[str], parent: pulumi.Resource) -> pulumi.Output[str]:
        """Store `value` (kept secret in state) as `berth/<stack>/<app>/<key>`; returns the secret's ARN."""
        name = conventions.ecs_secret(app, key)
        secret = aws.secretsmanager.Secret(
            name, name=secret_prefix(self._stack, app) + key,
            recovery_window_in_days=PROD_RECOVERY_DAYS if self._policy.keeps_data else 0,
            tags={"berth:app": app},
            opts=pulumi.ResourceOptions(parent=parent))
        version = aws.secretsmanager.SecretVersion(name, secret_id=secret.id,
                                                   secret_string=pulumi.Output.secret(value),
                                                   opts=pulumi.ResourceOptions(parent=parent))
        # The secret's ARN, once its value is stored: a task must never start before its secret has a value.
        return pulumi.Output.all(secret.arn, version.id).apply(lambda a: a[0])
