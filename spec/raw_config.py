"""A stack's `berth:*` config as the Pulumi runtime hands it to the program.

Plain keys are parsed (the CLI passes objects as JSON text); of secret keys only the names are kept,
so nothing here ever holds a secret value: components read those with `require_secret`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from pulumi.runtime import config as runtime_config

from spec.deployment import NAMESPACE


@dataclass(frozen=True)
class RawConfig:
    """The stack's `berth:*` keys: parsed values of plain keys, and just the names of secret ones."""

    values: dict[str, Any]
    secret_keys: frozenset[str] = frozenset()

    @classmethod
    def from_pulumi(cls) -> RawConfig:
        prefix = f"{NAMESPACE}:"
        keys = set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())
        values: dict[str, Any] = {}
        secrets = set()
        for key in sorted(k for k in keys if k.startswith(prefix)):
            name = key[len(prefix):]
            if runtime_config.is_config_secret(key):
                secrets.add(name)
                values[name] = None  # present; the value is read only as a pulumi secret
            else:
                values[name] = _parse(runtime_config.get_config(key))
        return cls(values, frozenset(secrets))


def _parse(raw: Any) -> Any:
    """The CLI hands objects over as JSON text and plain values as text."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw
