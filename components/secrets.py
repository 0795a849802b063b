"""App secrets by name: read from the stack's config as Pulumi secrets, never as plain values.

Prod refused to load if one is missing (config/checks.py). A throwaway stack (dev, staging, a PR stack)
gets a generated stand-in instead, with a warning naming the key: a password works as is, an API
key fails loudly at the API rather than the deploy failing for the whole team.
"""

from __future__ import annotations

import pulumi
import pulumi_random as random

from config.deployment import NAMESPACE, Deployment


class Secrets:
    def __init__(self, deployment: Deployment, parent: pulumi.Resource | None = None):
        self._deployment = deployment
        self._config = pulumi.Config(NAMESPACE)
        self._parent = parent
        self._cache: dict[str, pulumi.Output[str]] = {}
        self.not_set: list[str] = []  # names given a stand-in; exported, so plans and operators see them

    def get(self, name: str) -> pulumi.Output[str]:
        if name not in self._cache:
            self._cache[name] = self._read(name)
        return self._cache[name]

    def _read(self, name: str) -> pulumi.Output[str]:
        if name in self._deployment.set_secrets:
            return self._config.require_secret(name)
        self.not_set.append(name)
        pulumi.log.warn(
            f"{NAMESPACE}:{name} is not set; this {self._deployment.environment} stack uses a generated stand-in. "
            f"Set the real value with: pulumi config set --secret {name} <value>"
        )
        stand_in = random.RandomPassword(f"secret-{name}", length=32, special=False,
                                         opts=pulumi.ResourceOptions(parent=self._parent))
        return pulumi.Output.secret(stand_in.result)
