"""App secrets by name: read from the stack's config as Pulumi secrets, never as plain values.

Prod refused to load if one is missing (config/checks.py). A throwaway stack (dev, staging, a PR stack)
gets a generated stand-in instead, with a warning naming the key: a password works as is, an API
key fails loudly at the API rather than the deploy failing for the whole team.
"""

from __future__ import annotations

import pulumi
import pulumi_random as random

from config.deployment import NAMESPACE
from rules.environments import EnvironmentPolicy


class Secrets(pulumi.ComponentResource):
    """Each secret read once, whichever app asks first; stand-ins are this component's children.

    It serves every app: `set_secrets` are the app secrets the stack's config sets (the rest get stand-ins,
    which `policy` allows only where it makes up secrets: config/checks.py refused the others)."""

    def __init__(self, name: str, set_secrets: frozenset[str], policy: EnvironmentPolicy,
                 opts: pulumi.ResourceOptions | None = None):
        super().__init__("berth:secrets:Secrets", name, None, opts)
        self._set_secrets, self._policy = set_secrets, policy
        self._config = pulumi.Config(NAMESPACE)
        self._cache: dict[str, pulumi.Output[str]] = {}
        self.not_set: list[str] = []  # names given a stand-in; exported, so plans and operators see them
        self.register_outputs({})

    def get(self, name: str) -> pulumi.Output[str]:
        if name not in self._cache:
            self._cache[name] = self._read(name)
        return self._cache[name]

    def _read(self, name: str) -> pulumi.Output[str]:
        if name in self._set_secrets:
            return self._config.require_secret(name)
        self.not_set.append(name)
        pulumi.log.warn(
            f"{NAMESPACE}:{name} is not set; this {self._policy.name} stack uses a generated stand-in. "
            f"Set the real value with: pulumi config set --secret {name} <value>", resource=self,
        )
        # Stacks deployed before Secrets was a component have their stand-ins at the top of the stack:
        # the alias keeps them (a new stand-in would change the value the app's data was written with).
        stand_in = random.RandomPassword(f"secret-{name}", length=32, special=False, opts=pulumi.ResourceOptions(
            parent=self, aliases=[pulumi.Alias(parent=None)]))
        return pulumi.Output.secret(stand_in.result)
