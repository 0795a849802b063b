"""`ecs(example, environment)`: an ECS example run under mocks, once per session (tests/support/ecs.py)."""

from __future__ import annotations

import pytest

from tests.support.ecs import ecs_run


@pytest.fixture
def ecs(shared_runs):
    def _run(example: str, environment: str = "prod"):
        return ecs_run(example, shared_runs, environment)

    return _run
