"""A stack's `berth:*` config as the Pulumi runtime hands it to the program.

Plain keys are parsed (the CLI passes objects as JSON text); of secret keys only the names are kept,
so nothing here ever holds a secret value: components read those with `require_secret`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from collections.abc import Iterable, Mapping

from pulumi.runtime import config as runtime_config

from config.deployment import NAMESPACE


@dataclass(frozen=True)
class RawConfig:
    """The stack's `berth:*` keys: parsed values of plain keys, and just the names of secret ones."""

    values: dict[str, Any]
    secret_keys: frozenset[str] = frozenset()

    @classmethod
    def from_values(cls, config: Mapping[str, Any], secret_keys: Iterable[str]) -> RawConfig:
        """From config as the CLI hands it over (`berth:key` -> text); other namespaces are ignored."""
        prefix = f"{NAMESPACE}:"
        secret = {k for k in secret_keys if k.startswith(prefix)}
        values = {key[len(prefix):]: None if key in secret else _parse(raw)  # secrets: present, never read
                  for key, raw in sorted(config.items()) if key.startswith(prefix)}
        return cls(values, frozenset(k[len(prefix):] for k in secret))

    @classmethod
    def from_pulumi(cls) -> RawConfig:
        keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
        secret = [k for k in keys if runtime_config.is_config_secret(k)]
        plain = {k: runtime_config.get_config(k) for k in keys if k not in secret}
        return cls.from_values({**plain, **dict.fromkeys(secret)}, secret)


def _parse(raw: Any) -> Any:
    """The CLI hands objects over as JSON text and plain values as text."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw
