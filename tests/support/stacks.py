"""Running a stack file's program under mocks, for tests: config with test secrets, a sandboxed project.

Shared by the fixtures in conftest.py and by tests that need a run outside a fixture (benchmarks).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from config.instance_types import InstanceType, UnknownInstanceType, described
from offline import mockrun

REPO = mockrun.REPO
PROD_SECRETS = {"berth:chatbotOpenaiApiKey": "sk-prod-test-openai-key"}


def stack_config(stack: str, *, plain=None, secrets=None, remove=(), stack_file: Path | None = None):
    path = stack_file or REPO / f"Pulumi.{stack}.yaml"
    config = mockrun.StackConfig.from_file(path)
    base_secrets = PROD_SECRETS if stack == "prod" and stack_file is None else {}
    return config.with_values(plain=plain, secrets={**base_secrets, **(secrets or {})}, remove=tuple(remove))


def run_stack(tmp: Path, stack: str, config: mockrun.StackConfig, mocks=None, leave_missing=()) -> mockrun.Run:
    project = mockrun.sandbox_project(tmp, config, leave_missing)
    return mockrun.run(stack, config, root_directory=project, mocks=mocks)


def mocked_instance_type(name: str) -> InstanceType:
    """What the mocks answer for `aws.ec2.get_instance_type`, for loading a stack outside a program run."""
    if name not in mockrun.INSTANCE_TYPES:
        raise UnknownInstanceType(f"{name!r} is not an EC2 instance type in this region (aws:region)")
    memory, vcpus, gpu, arch = mockrun.INSTANCE_TYPES[name]
    return described(name, memory, vcpus, 1 if gpu else 0, [arch])


def require_tool(name: str) -> str:
    """A validator binary: in CI it must exist (a validator test never silently skips there)."""
    path = shutil.which(name) or (shutil.which(name, path=str(Path(os.sys.executable).parent)))
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed; .ci/run installs it, so CI must have it")
    pytest.skip(f"{name} is not installed here (CI installs it)")
