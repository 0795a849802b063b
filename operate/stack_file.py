"""A deployed stack's file, read for operating it (scripts/status, scripts/logs): the validated Deployment
without AWS or the apps' source checkouts, as `scripts/plan` reads it.

Apart from operate/intent.py, which the program itself imports (the alarms and the reporter watch what it
says should run): reading a stack file goes through the offline runner's sandbox, which no deploy needs.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from config.deployment import Deployment
from config.instance_types import InstanceType
from config.load import load
from config.raw_config import RawConfig
from offline import mockrun
from offline.plan import read_stack_file, stack_file


def _any_type(name: str) -> InstanceType:
    """Status and logs read what runs; whether the instance type fits was decided by the deploy."""
    return InstanceType(name, memory_mb=1 << 30, vcpus=1024, gpus=8)


@dataclass(frozen=True)
class Stack:
    deployment: Deployment
    region: str | None  # `aws:region` of the stack file (None: the AWS SDK's own default)


def load_stack(stack: str, config_file: Path | None = None) -> Stack:
    """The stack's validated Deployment from its stack file, without AWS or the apps' source checkouts
    (build contexts stand in empty, as in `scripts/plan`); a bad file raises ConfigError."""
    config = read_stack_file(stack_file(stack, config_file))
    with tempfile.TemporaryDirectory(prefix="berth-status-") as tmp:
        project = mockrun.sandbox_project(Path(tmp), config)
        raw = RawConfig.from_values(config.values, config.secret_keys)
        deployment = load(raw, stack, project, offline_plan=True, instance_types=_any_type)
    return Stack(deployment, config.values.get("aws:region"))
